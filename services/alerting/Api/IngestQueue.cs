using System.Threading.Channels;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Data;

namespace ModelOps.Alerting.Api;

/// <summary>
/// Commits the alerts of concurrent <c>POST /api/v2/alerts</c> requests together: each request waits until its alerts
/// are committed (so an answer of 200 means stored), but requests that arrive while a commit is under way share the
/// next one. Prometheus servers send many small requests at once; one transaction per request would spend most of its
/// time on round trips and commits.
/// </summary>
public sealed partial class IngestQueue(AlertStore store, ConfigState configs, AlertingMetrics metrics, TimeProvider clock, ILogger<IngestQueue> logger)
    : BackgroundService
{
    // The most alerts one transaction takes; a larger request still commits alone.
    private const int MaxAlertsPerCommit = 5_000;

    private readonly Channel<(IReadOnlyList<Alert> Alerts, TaskCompletionSource Done)> _pending =
        Channel.CreateUnbounded<(IReadOnlyList<Alert>, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Stores <paramref name="alerts"/>; completes once they are committed, or throws what the commit threw.</summary>
    public async Task IngestAsync(IReadOnlyList<Alert> alerts, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _pending.Writer.WriteAsync((alerts, done), cancellationToken);
        await done.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync(stoppingToken))
        {
            List<(IReadOnlyList<Alert> Alerts, TaskCompletionSource Done)> batch = [];
            var count = 0;
            while (count < MaxAlertsPerCommit && reader.TryRead(out var request))
            {
                batch.Add(request);
                count += request.Alerts.Count;
            }

            try
            {
                await using var work = await UnitOfWork.BeginAsync(store.DataSource, stoppingToken);
                await store.IngestAsync(work.Transaction, [.. batch.SelectMany(r => r.Alerts)], "api", configs.Current, clock.GetUtcNow(), stoppingToken);
                await work.CommitAsync(stoppingToken);
                metrics.Received("api", count);
                batch.ForEach(r => r.Done.TrySetResult());
            }
            catch (Exception exception)
            {
                // Each request's caller answers for itself (the error model turns a transient fault into a retryable answer).
                LogCommitFailed(logger, exception, batch.Count);
                batch.ForEach(r => r.Done.TrySetException(exception));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Committing the alerts of {Requests} request(s) failed")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, int requests);
}

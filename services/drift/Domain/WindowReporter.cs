using Microsoft.Extensions.Options;
using ModelOps.Drift.Data;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>
/// Reports every window whose partials are all in: time windows once their end plus the allowed lateness has passed,
/// count windows once the version's record counter has passed their end. Every replica runs it; a window's partials
/// are locked while it is reported, so each is reported once. After each round it refreshes the Prometheus gauges.
/// </summary>
public sealed partial class WindowReporter(
    DriftStore store, DriftMetrics metrics, IOptions<DriftOptions> options, TimeProvider clock, ILogger<WindowReporter> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReportEvery, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ReportDueAsync(stoppingToken);
                metrics.Update(await store.StatusAsync(includeUnwatched: true, stoppingToken));
                await store.ExpirePredictionsAsync(clock.GetUtcNow() - options.Value.PredictionRetention, stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, exception);
            }
        }
    }

    /// <summary>Reports the windows due now; returns how many were reported.</summary>
    public async Task<int> ReportDueAsync(CancellationToken cancellationToken)
    {
        var reported = 0;
        // A model's policy is read once a round.
        var policies = new Dictionary<string, MonitoringPolicy?>(StringComparer.Ordinal);
        foreach (var window in await store.DueWindowsAsync(clock.GetUtcNow(), 100, cancellationToken))
        {
            if (!policies.TryGetValue(window.Model, out var policy))
            {
                policies[window.Model] = policy = await store.GetPolicyAsync(window.Model, cancellationToken);
            }

            var report = await store.ReportAsync(window,
                (reference, current) => Verdicts.Judge(reference, current, policy, options.Value.DatasetThreshold),
                cancellationToken);
            if (report is not null)
            {
                reported++;
                LogReported(logger, window.Model, window.Version, report.WindowStart.ToDateTimeOffset(), report.Columns.Count(c => c.Drifted), report.Columns.Count);
            }
        }

        return reported;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reported {Model} {Version} window {Start}: {Drifted} of {Columns} columns drifted")]
    private static partial void LogReported(ILogger logger, string model, string version, DateTimeOffset start, int drifted, int columns);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reporting closed windows failed; the next tick tries again")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

using Microsoft.Extensions.Options;
using ModelOps.Registry.Data;

namespace ModelOps.Registry.Domain;

/// <summary>
/// Evaluates again, every <see cref="RegistryOptions.ReevaluateEvery"/>, the open requests that wait on a remote gate:
/// its service may be back, or its evidence may exist now. Only a changed outcome is recorded, so a request waiting
/// for days does not fill the ledger. Every replica sweeps; the model's row lock serializes their evaluations.
/// </summary>
public sealed partial class ReevaluationSweep(
    RegistryStore store, PromotionWorkflow workflow, IOptions<RegistryOptions> options, TimeProvider clock, ILogger<ReevaluationSweep> logger)
    : BackgroundService
{
    private const int BatchSize = 100;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = options.Value.ReevaluateEvery;
        if (every <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(every, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                foreach (var requestId in await store.WaitingRequestIdsAsync(BatchSize, stoppingToken))
                {
                    await SweepAsync(requestId, stoppingToken);
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, exception);
            }
        }
    }

    private async Task SweepAsync(Guid requestId, CancellationToken stoppingToken)
    {
        try
        {
            if (await workflow.EvaluateAsync(requestId, "registry", stoppingToken, recordUnchanged: false) == EvaluationOutcome.Recorded)
            {
                LogChanged(logger, requestId);
            }
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            // One request's trouble (its model deleted, a database hiccup) does not hold up the others.
            LogRequestFailed(logger, requestId, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Re-evaluating request {RequestId} failed; the sweep tries again at its next tick")]
    private static partial void LogRequestFailed(ILogger logger, Guid requestId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Request {RequestId}: a waiting gate's outcome changed")]
    private static partial void LogChanged(ILogger logger, Guid requestId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The sweep of requests waiting on remote gates failed; it runs again at its next tick")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

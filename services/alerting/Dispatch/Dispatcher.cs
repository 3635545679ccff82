using Microsoft.Extensions.Options;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Delivery;
using ModelOps.Alerting.Domain;

namespace ModelOps.Alerting.Dispatch;

/// <summary>
/// Flushes the groups that are due, on every replica: the store locks a group while one replica flushes it and the
/// others skip it, so N replicas decide one notification per group. Each round reads the active silences and the
/// firing alerts that inhibition rules look at once, and wakes the deliverer when something was decided. Now and then
/// it refreshes the gauges and forgets what has expired.
/// </summary>
public sealed partial class Dispatcher(
    AlertStore store, ConfigState configs, DeliveryWake wake, AlertingMetrics metrics, IOptions<AlertingOptions> options, TimeProvider clock,
    ILogger<Dispatcher> logger) : BackgroundService
{
    private static readonly TimeSpan HousekeepingEvery = TimeSpan.FromSeconds(15);

    // Groups flushed in one transaction.
    private const int FlushBatch = 200;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.PollEvery, clock);
        var housekeeping = DateTimeOffset.MinValue;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!configs.Loaded)
            {
                continue;
            }

            try
            {
                await FlushDueAsync(stoppingToken);
                var now = clock.GetUtcNow();
                if (now - housekeeping >= HousekeepingEvery)
                {
                    housekeeping = now;
                    var (firing, pending) = await store.CountsAsync(now, stoppingToken);
                    metrics.Update(firing, pending);
                    await store.CollectGarbageAsync(now - settings.ResolvedRetention, now, stoppingToken);
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogRoundFailed(logger, exception);
            }
        }
    }

    /// <summary>Flushes every group due now; returns how many notifications were decided.</summary>
    public async Task<int> FlushDueAsync(CancellationToken cancellationToken)
    {
        var config = configs.Current;
        var now = clock.GetUtcNow();
        var muting = await store.MutingAsync(config.Config.InhibitRules, now, cancellationToken);
        var externalUrl = config.Config.ExternalUrl ?? options.Value.ExternalUrl;

        var decided = 0;
        // In batches of groups, each one transaction; bounded, so that a storm of groups does not starve the round's
        // other work (the rest is flushed next round).
        for (var batch = 0; batch < 50; batch++)
        {
            var outcome = await store.FlushDueAsync(config, muting.Mutes, externalUrl, options.Value.NotificationLogRetention, now, FlushBatch, cancellationToken);
            if (outcome.Deliveries > 0)
            {
                decided += outcome.Deliveries;
                wake.Signal();
            }

            if (outcome.Groups < FlushBatch)
            {
                break;
            }
        }

        return decided;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A dispatch round failed; the next one tries again")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);
}

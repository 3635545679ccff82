using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;

namespace ModelOps.Alerting.Delivery;

/// <summary>
/// Sends the notifications flushes decided. Every replica runs one; a delivery is leased by one replica at a time and
/// taken over by another only if its lease runs out (the replica died). A failed attempt is retried with exponential
/// backoff and jitter, or after the receiver's <c>Retry-After</c>, until <c>Alerting:GiveUpAfter</c>; then, or at once
/// for an answer that retrying cannot change, it is dead-lettered with its reason. Deliveries run side by side, each
/// receiver limited to <c>Alerting:ReceiverRatePerSecond</c>, so a receiver that fails or throttles never holds up the others.
/// </summary>
public sealed partial class Deliverer(
    AlertStore store, ConfigState configs, ReceiverClient client, DeliveryWake wake, AlertingMetrics metrics, IOptions<AlertingOptions> options,
    TimeProvider clock, ILogger<Deliverer> logger) : BackgroundService
{
    private readonly PartitionedRateLimiter<string> _rates = PartitionedRateLimiter.Create<string, string>(receiver =>
        RateLimitPartition.GetTokenBucketLimiter(receiver, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, (int)Math.Ceiling(options.Value.ReceiverRatePerSecond)),
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1 / options.Value.ReceiverRatePerSecond),
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        }));

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var slots = new SemaphoreSlim(settings.DeliveryConcurrency);
        // Long enough for the rate limit's queue and one attempt; a replica that dies holds its deliveries this long.
        var lease = (settings.DeliveryTimeout * 3) + TimeSpan.FromSeconds(5);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (configs.Loaded && slots.CurrentCount > 0)
                {
                    foreach (var delivery in await store.LeaseDeliveriesAsync(slots.CurrentCount, lease, clock.GetUtcNow(), stoppingToken))
                    {
                        await slots.WaitAsync(stoppingToken);
                        _ = Task.Run(async () =>
                        {
                            try
                            {
                                await DeliverAsync(delivery, stoppingToken);
                            }
                            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                            {
                                // Its lease runs out and it is tried again.
                                LogAttemptFailed(logger, exception, delivery.Id);
                            }
                            finally
                            {
                                slots.Release();
                                wake.Signal();
                            }
                        }, CancellationToken.None);
                    }
                }

                await wake.WaitAsync(settings.PollEvery, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                LogLeaseFailed(logger, exception);
                await Task.Delay(settings.PollEvery, clock, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task DeliverAsync(LeasedDelivery delivery, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var target = configs.Current.Config.Receivers.FirstOrDefault(r => r.Name == delivery.Receiver)?.Integrations
            .FirstOrDefault(i => i.Integration == delivery.Integration).Config;
        if (target is null)
        {
            metrics.Attempted(delivery.Receiver, delivery.Integration, "dead", null);
            await store.MarkFailedAsync(delivery, null, $"receiver {delivery.Receiver} has no integration {delivery.Integration} in the current configuration",
                null, clock.GetUtcNow(), cancellationToken);
            return;
        }

        using (await _rates.AcquireAsync(delivery.Receiver, 1, cancellationToken))
        {
            var result = await client.SendAsync(target, delivery.Payload, settings.DeliveryTimeout, cancellationToken);
            var now = clock.GetUtcNow();
            if (result.Sent)
            {
                metrics.Attempted(delivery.Receiver, delivery.Integration, "sent", now - delivery.CreatedAt);
                await store.MarkSentAsync(delivery, result.Status, now, cancellationToken);
                return;
            }

            DateTimeOffset? retryAt = null;
            var reason = result.Error;
            if (result.Retryable)
            {
                retryAt = now + (result.RetryAfter is { } asked ? TimeSpan.FromTicks(Math.Min(asked.Ticks, settings.MaxBackoff.Ticks)) : Backoff(delivery.Attempts));
                if (retryAt - delivery.CreatedAt > settings.GiveUpAfter)
                {
                    retryAt = null;
                    reason = $"given up after {delivery.Attempts} attempt(s) over {settings.GiveUpAfter}: {result.Error}";
                }
            }

            metrics.Attempted(delivery.Receiver, delivery.Integration, retryAt is null ? "dead" : "failed", null);
            LogFailedAttempt(logger, delivery.Id, delivery.Receiver, delivery.Integration, delivery.Attempts, result.Error, retryAt);
            await store.MarkFailedAsync(delivery, result.Status, reason, retryAt, now, cancellationToken);
        }
    }

    // Exponential, doubling from InitialBackoff up to MaxBackoff, with "equal jitter": half fixed, half random, so that
    // replicas retrying a receiver that came back do not all hit it at once.
    private TimeSpan Backoff(int attempts)
    {
        var settings = options.Value;
        var ceiling = Math.Min(settings.MaxBackoff.TotalMilliseconds, settings.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempts - 1, 30)));
        return TimeSpan.FromMilliseconds((ceiling / 2) + (Random.Shared.NextDouble() * ceiling / 2));
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _rates.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery {Id} to {Receiver}/{Integration} failed (attempt {Attempts}): {Error}; next attempt at {RetryAt} (none: given up)")]
    private static partial void LogFailedAttempt(ILogger logger, long id, string receiver, string integration, int attempts, string error, DateTimeOffset? retryAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery {Id} could not be recorded; it is tried again when its lease runs out")]
    private static partial void LogAttemptFailed(ILogger logger, Exception exception, long id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not lease deliveries; trying again")]
    private static partial void LogLeaseFailed(ILogger logger, Exception exception);
}

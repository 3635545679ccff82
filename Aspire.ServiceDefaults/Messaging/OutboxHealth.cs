using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// What the outbox relay reports of itself: since when committed events have waited for the broker (readiness turns
/// Degraded), and whether its loop still turns at all (liveness turns Unhealthy after <see cref="OutboxOptions.StallAfter"/>
/// without a turn, so that an orchestrator restarts a process whose relay is wedged rather than let its events wait).
/// </summary>
public sealed class OutboxHealth : IHealthCheck
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _clock = TimeProvider.System;
    private readonly TimeSpan _stallAfter;
    private DateTimeOffset _lastTurn;
    private DateTimeOffset? _failingSince;
    private string _lastError = "";
    private readonly Counter<long> _published;
    private readonly Counter<long> _failed;

    /// <summary>A monitor whose metrics are in <paramref name="service"/>'s meter.</summary>
    public OutboxHealth(ServiceInfo service, IOptions<OutboxOptions> options)
    {
        _stallAfter = options.Value.StallAfter;
        _lastTurn = _clock.GetUtcNow();
        var meter = new Meter(service.ActivitySource.Name);
        _published = meter.CreateCounter<long>("modelops.outbox.published", description: "Outbox events published to the broker");
        _failed = meter.CreateCounter<long>("modelops.outbox.publish_failures", description: "Outbox events whose publish failed or timed out (retried)");
        meter.CreateObservableGauge("modelops.outbox.failing_seconds", () => FailingFor?.TotalSeconds ?? 0,
            unit: "s", description: "How long committed events have waited for the broker (0 when they do not)");
    }

    /// <summary>How long publishes have failed without one success in between, or null.</summary>
    public TimeSpan? FailingFor
    {
        get
        {
            lock (_lock)
            {
                return _failingSince is { } since ? _clock.GetUtcNow() - since : null;
            }
        }
    }

    /// <summary>The relay's loop turned (whatever its outcome).</summary>
    public void Turned()
    {
        lock (_lock)
        {
            _lastTurn = _clock.GetUtcNow();
        }
    }

    /// <summary>A batch was relayed: <paramref name="published"/> events went out, <paramref name="failed"/> did not.</summary>
    public void Relayed(int published, int failed, string? error)
    {
        _published.Add(published);
        _failed.Add(failed);
        lock (_lock)
        {
            if (failed == 0)
            {
                _failingSince = null;
            }
            else
            {
                _failingSince ??= _clock.GetUtcNow();
                _lastError = error ?? "";
            }
        }
    }

    /// <summary>The relay could not reach its database or the broker at all.</summary>
    public void Failed(string error)
    {
        lock (_lock)
        {
            _failingSince ??= _clock.GetUtcNow();
            _lastError = error;
        }
    }

    /// <summary>Liveness: Unhealthy when the relay's loop has not turned for <see cref="OutboxOptions.StallAfter"/>.</summary>
    public HealthCheckResult Liveness()
    {
        lock (_lock)
        {
            var idle = _clock.GetUtcNow() - _lastTurn;
            return idle > _stallAfter
                ? HealthCheckResult.Unhealthy($"The outbox relay has not turned for {idle.TotalSeconds:F0} s: its events wait.")
                : HealthCheckResult.Healthy("The outbox relay turns.");
        }
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_failingSince is { } since
                ? HealthCheckResult.Degraded(
                    $"Committed events have waited for the broker since {since:O} ({_lastError}); they are retried.",
                    data: new Dictionary<string, object> { ["failingSince"] = since.ToString("O") })
                : HealthCheckResult.Healthy("Committed events are being published."));
        }
    }
}

/// <summary>The liveness half of <see cref="OutboxHealth"/>, as a check of its own (tagged live).</summary>
internal sealed class OutboxRelayLiveness(OutboxHealth health) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(health.Liveness());
}

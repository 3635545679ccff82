using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// Readiness follows the broker: while the bus is not connected (MassTransit calls that Degraded, which alone would keep
/// <c>/health</c> at 200), the service is not ready. Writes still commit meanwhile — their events wait in the outbox.
/// </summary>
internal sealed class BrokerReadiness(IBusControl bus) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var health = bus.CheckHealth();
        return Task.FromResult(health.Status == BusHealthStatus.Healthy
            ? HealthCheckResult.Healthy("Connected to the broker.")
            : HealthCheckResult.Unhealthy($"Not connected to the broker: {health.Description}"));
    }
}

using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelOps.Alerting.Consumers;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Delivery;
using ModelOps.Alerting.Dispatch;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;

namespace ModelOps.Alerting.Extensions;

/// <summary>The alerting service's wiring.</summary>
public static class ApplicationServiceExtensions
{
    /// <summary>Its database, configuration, bus, dispatcher and deliverer.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDatabase("alertingdb", typeof(ApplicationServiceExtensions).Assembly);
        builder.Services.AddOptions<AlertingOptions>().BindConfiguration(AlertingOptions.Section)
            .Validate(o => o.PollEvery > TimeSpan.Zero && o.ConfigRefreshEvery > TimeSpan.Zero, "Alerting:PollEvery and ConfigRefreshEvery must be positive")
            .Validate(o => o.DeliveryTimeout > TimeSpan.Zero && o.InitialBackoff > TimeSpan.Zero && o.MaxBackoff >= o.InitialBackoff,
                "Alerting:DeliveryTimeout and InitialBackoff must be positive, MaxBackoff at least InitialBackoff")
            .Validate(o => o.DeliveryConcurrency is > 0 and <= 1024, "Alerting:DeliveryConcurrency must lie in [1, 1024]")
            .Validate(o => o.ReceiverRatePerSecond is > 0 and <= 10_000, "Alerting:ReceiverRatePerSecond must lie in (0, 10000]")
            .Validate(o => o.MaxAlertsPerRequest is > 0 and <= 100_000, "Alerting:MaxAlertsPerRequest must lie in [1, 100000]")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<AlertStore>();
        builder.Services.AddSingleton<ConfigState>();
        builder.Services.AddSingleton<AlertingMetrics>();
        builder.Services.AddSingleton<DeliveryWake>();
        builder.Services.AddSingleton<ReceiverClient>();
        // Before the bus, so that no finding is consumed before a configuration is in force.
        builder.Services.AddHostedService<ConfigBootstrap>();
        builder.AddEventBus(configure: bus =>
        {
            bus.AddConsumer<FindingConsumer>();
            bus.AddConsumer<RetrainRunStartedConsumer>();
            bus.AddConsumer<RetrainRunFinishedConsumer>();
        });
        builder.Services.AddSingleton<Api.IngestQueue>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<Api.IngestQueue>());
        builder.Services.AddHostedService<Dispatcher>();
        builder.Services.AddHostedService<Deliverer>();
        builder.Services.AddHealthChecks().AddCheck<ConfigHealth>("alerting-config", tags: [ServiceDefaults.Extensions.ReadyTag]);
        return builder;
    }
}

/// <summary>Ready once a configuration is in force.</summary>
internal sealed class ConfigHealth(ConfigState configs) : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
{
    public Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(configs.Loaded
            ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy($"configuration version {configs.Current.Version}")
            : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy("no configuration loaded yet"));
}

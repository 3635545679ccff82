using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelOps.Drift.Consumers;
using ModelOps.Drift.Data;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Datasets;

namespace ModelOps.Drift.Extensions;

/// <summary>The drift service's wiring.</summary>
public static class ApplicationServiceExtensions
{
    /// <summary>Its database, bus, object store, options and the window reporter.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDatabase("driftdb", typeof(ApplicationServiceExtensions).Assembly);
        builder.AddEventBus(configure: bus => bus.AddConsumer<StageChangedConsumer>());
        builder.AddRunArtifacts();
        builder.Services.AddOptions<DriftOptions>().BindConfiguration(DriftOptions.Section)
            .Validate(o => o.ReportEvery > TimeSpan.Zero, "Drift:ReportEvery must be positive")
            .Validate(o => o.DatasetThreshold is > 0 and <= 1, "Drift:DatasetThreshold must lie in (0, 1]")
            .Validate(o => o.PredictionRetention > TimeSpan.Zero, "Drift:PredictionRetention must be positive")
            .Validate(o => o.ExactValues is >= 0 and <= ColumnProfile.ExactCap, "Drift:ExactValues must lie in [0, 100000]")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DriftStore>();
        builder.Services.AddSingleton<DriftMetrics>();
        builder.Services.AddHostedService<WindowReporter>();
        return builder;
    }
}

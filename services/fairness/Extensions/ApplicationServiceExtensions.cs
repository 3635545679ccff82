using ModelOps.Datasets;
using ModelOps.Fairness.Consumers;
using ModelOps.Fairness.Data;
using ModelOps.Fairness.Domain;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;

namespace ModelOps.Fairness.Extensions;

/// <summary>The fairness service's wiring.</summary>
public static class ApplicationServiceExtensions
{
    /// <summary>Its database, bus, the run artifacts it reads datasets from, its store and gauges.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDatabase("fairnessdb", typeof(ApplicationServiceExtensions).Assembly);
        builder.AddEventBus(configure: bus => bus.AddConsumer<WindowGroupsReportedConsumer>());
        builder.AddRunArtifacts();
        builder.Services.AddSingleton<FairnessStore>();
        builder.Services.AddSingleton<FairnessMetrics>();
        builder.Services.AddHostedService<FairnessMetrics.Refresher>();
        return builder;
    }
}

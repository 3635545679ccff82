using ModelOps.Datasets;
using ModelOps.Explainability.Consumers;
using ModelOps.Explainability.Data;
using ModelOps.Explainability.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Messaging;

namespace ModelOps.Explainability.Extensions;

/// <summary>The explainability service's wiring.</summary>
public static class ApplicationServiceExtensions
{
    /// <summary>Its database, bus, the registry it reads model versions from, drift's window samples, the run artifacts, its store and gauges.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDatabase("explainabilitydb", typeof(ApplicationServiceExtensions).Assembly);
        builder.AddEventBus(configure: bus => bus.AddConsumer<WindowSampledConsumer>());
        builder.AddRunArtifacts();
        builder.Services.AddServiceGrpcClient<RegistryService.RegistryServiceClient>("registry");
        builder.Services.AddServiceGrpcClient<ModelOps.Drift.V1.DriftService.DriftServiceClient>("drift");
        builder.Services.AddSingleton<ModelSource>();
        builder.Services.AddSingleton<ExplainabilityStore>();
        builder.Services.AddSingleton<ExplainabilityMetrics>();
        builder.Services.AddHostedService<ExplainabilityMetrics.Refresher>();
        return builder;
    }
}

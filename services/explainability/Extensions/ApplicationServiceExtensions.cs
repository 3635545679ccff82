using ModelOps.Datasets;
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
    /// <summary>Its database, bus, the registry it reads model versions from, the run artifacts, its store and gauges.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDatabase("explainabilitydb", typeof(ApplicationServiceExtensions).Assembly);
        builder.AddEventBus();
        builder.AddRunArtifacts();
        builder.Services.AddServiceGrpcClient<RegistryService.RegistryServiceClient>("registry");
        builder.Services.AddSingleton<ModelSource>();
        builder.Services.AddSingleton<ExplainabilityStore>();
        builder.Services.AddSingleton<ExplainabilityMetrics>();
        builder.Services.AddHostedService<ExplainabilityMetrics.Refresher>();
        return builder;
    }
}

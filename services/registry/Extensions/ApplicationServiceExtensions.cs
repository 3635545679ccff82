using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelOps.Ledger.V1;
using ModelOps.Registry.Data;
using ModelOps.Registry.Domain;
using ModelOps.Registry.Registration;
using ModelOps.Registry.Gates;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.V1;

namespace ModelOps.Registry.Extensions;

/// <summary>The registry's wiring.</summary>
public static class ApplicationServiceExtensions
{
    /// <summary>Its database, bus, object store, the services it asks, and its domain.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddServiceDatabase("registrydb", typeof(ApplicationServiceExtensions).Assembly);
        builder.AddEventBus();
        builder.AddObjectStore("artifacts");
        builder.Services.AddServiceGrpcClient<TrackingService.TrackingServiceClient>("tracking");
        builder.Services.AddServiceGrpcClient<LedgerService.LedgerServiceClient>("ledger");
        builder.Services.AddOptions<RegistryOptions>().BindConfiguration(RegistryOptions.Section)
            .Validate(o => o.IntegritySweepEvery >= TimeSpan.Zero, "Registry:IntegritySweepEvery must not be negative")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RegistryStore>();
        builder.Services.AddSingleton<ArtifactReader>();
        builder.Services.AddSingleton<RemoteGates>();
        builder.Services.AddSingleton<GateEvaluator>();
        builder.Services.AddSingleton<PromotionWorkflow>();
        builder.Services.AddSingleton<VersionRegistration>();
        builder.Services.AddHostedService<ReevaluationSweep>();
        builder.Services.AddSingleton<IntegritySweep>().AddHostedService(provider => provider.GetRequiredService<IntegritySweep>());
        return builder;
    }
}

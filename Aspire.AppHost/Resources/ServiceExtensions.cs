using Aspire.Hosting.ApplicationModel;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost.Resources;

/// <summary>The ledger's checkpoint verifier key (<c>name+hash+key</c>), shown in the dashboard.</summary>
public sealed class LedgerVerifierKeyResource(string name) : Resource(name);

/// <summary>A ModelOps service: its build output run as a process, found by the services that reference it.</summary>
public sealed class ModelOpsServiceResource(string name, string dotnetHost, string workingDirectory, string projectPath)
    : ExecutableResource(name, dotnetHost, workingDirectory), IResourceWithServiceDiscovery
{
    /// <summary>The project it is built from.</summary>
    public string ProjectPath { get; } = projectPath;
}

/// <summary>How the AppHost adds a ModelOps service.</summary>
public static class ServiceExtensions
{
    /// <summary>
    /// The service <paramref name="name"/> built from <typeparamref name="TProject"/>, with a gRPC endpoint (HTTP/2
    /// cleartext) on <paramref name="grpcPort"/> and an HTTP/1.1 endpoint on <paramref name="httpPort"/> serving
    /// <c>/health</c>, <c>/alive</c> and <c>/metrics</c>; Aspire waits for its <c>/health</c>, other services find it by
    /// service discovery, and it sends its traces, logs and metrics to the dashboard.
    /// </summary>
    /// <remarks>
    /// It runs its build output with <c>dotnet exec</c> (built with the AppHost, which references every service
    /// project), not with <c>dotnet run</c> as <c>AddProject</c> does: <c>dotnet run</c> evaluates the project again at each
    /// start, 1.4 s of CPU per service, which for seven services on two cores doubled the time to a ready stack.
    /// </remarks>
    public static IResourceBuilder<ModelOpsServiceResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name, int grpcPort, int httpPort)
        where TProject : IProjectMetadata, new()
    {
        var project = ((IProjectMetadata)new TProject()).ProjectPath;
        var output = Path.Combine(Path.GetDirectoryName(project)!, "bin", BuildConfiguration, "net10.0");
        var assembly = Path.Combine(output, $"{Path.GetFileNameWithoutExtension(project)}.dll");
        if (!File.Exists(assembly))
        {
            throw new InvalidOperationException($"{name} is not built ({assembly} is missing): run dotnet build ModelOps.sln");
        }

        var service = builder.AddResource(new ModelOpsServiceResource(name, ServiceProcess.DotnetHost(), output, project))
            .WithArgs("exec", assembly)
            .WithOtlpExporter()
            // Not proxied: the port is the service's own (taken free before), so clients reach it without a hop.
            .WithHttpEndpoint(port: grpcPort, name: "grpc", env: "MODELOPS_GRPC_PORT", isProxied: false)
            .WithHttpEndpoint(port: httpPort, name: "http", env: "MODELOPS_HTTP_PORT", isProxied: false)
            .WithEndpoint("grpc", endpoint =>
            {
                endpoint.Transport = "http2";
                endpoint.TargetHost = "127.0.0.1";
            })
            .WithEndpoint("http", endpoint => endpoint.TargetHost = "127.0.0.1")
            .WithHttpHealthCheck("/health", endpointName: "http")
            .WithUrlForEndpoint("http", url => url.DisplayText = "health")
            .WithUrlForEndpoint("grpc", url => url.DisplayText = "gRPC")
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
            .WithEnvironment("DOTNET_ENVIRONMENT", "Development");
        var grpc = service.GetEndpoint("grpc");
        var http = service.GetEndpoint("http");
        return service
            .WithEnvironment("Kestrel__Endpoints__grpc__Url", ReferenceExpression.Create($"http://127.0.0.1:{grpc.Property(EndpointProperty.TargetPort)}"))
            .WithEnvironment("Kestrel__Endpoints__grpc__Protocols", "Http2")
            .WithEnvironment("Kestrel__Endpoints__http__Url", ReferenceExpression.Create($"http://127.0.0.1:{http.Property(EndpointProperty.TargetPort)}"))
            .WithEnvironment("Kestrel__Endpoints__http__Protocols", "Http1")
            .WithEnvironment("Logging__Console__FormatterName", "simple")
            .WithEnvironment("Logging__Console__FormatterOptions__SingleLine", "true");
    }

#if DEBUG
    private const string BuildConfiguration = "Debug";
#else
    private const string BuildConfiguration = "Release";
#endif

    /// <summary>
    /// The ledger's origin and signing key: kept in <paramref name="keyPath"/> (created on first run, readable by its owner
    /// only); returns the verifier key that auditors pin.
    /// </summary>
    public static IResourceBuilder<ModelOpsServiceResource> WithLedgerSigningKey(
        this IResourceBuilder<ModelOpsServiceResource> ledger, string keyPath, string origin, out string verifierKey)
    {
        verifierKey = LedgerSigningKey.LoadOrCreate(keyPath, origin);
        // Shown in the dashboard as a child of the ledger, for auditors to pin.
        ledger.ApplicationBuilder.AddResource(new LedgerVerifierKeyResource($"{ledger.Resource.Name}-verifier-key"))
            .WithParentRelationship(ledger)
            .ExcludeFromManifest()
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "Verifier key",
                State = new ResourceStateSnapshot("Published", KnownResourceStateStyles.Success),
                Properties = [new("verifier key", verifierKey), new("origin", origin), new("signer key file", keyPath)],
            });
        return ledger
            .WithEnvironment("Ledger__Origin", origin)
            .WithEnvironment("Ledger__SigningKeyPath", keyPath);
    }

    /// <summary>Gives the service <paramref name="database"/>'s connection string and waits until it exists.</summary>
    public static IResourceBuilder<ModelOpsServiceResource> WithDatabase(this IResourceBuilder<ModelOpsServiceResource> service, IResourceBuilder<LocalDatabaseResource> database) =>
        service.WithReference(database).WaitFor(database);

    /// <summary>
    /// Gives the service the broker's connection string. The service starts beside the broker rather than after it: it
    /// connects (and is healthy) once the broker is up, and its events wait in its outbox until then.
    /// </summary>
    public static IResourceBuilder<ModelOpsServiceResource> WithEventBus(this IResourceBuilder<ModelOpsServiceResource> service, IResourceBuilder<LocalRabbitMqResource> broker) =>
        service.WithReference(broker);

    /// <summary>Gives the service the bucket's connection string and waits until it exists.</summary>
    public static IResourceBuilder<ModelOpsServiceResource> WithArtifacts(this IResourceBuilder<ModelOpsServiceResource> service, IResourceBuilder<LocalBucketResource> bucket) =>
        service.WithReference(bucket).WaitFor(bucket);
}

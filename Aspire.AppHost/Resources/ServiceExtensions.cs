using Aspire.Hosting.ApplicationModel;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost.Resources;

/// <summary>How the AppHost adds a ModelOps service.</summary>
public static class ServiceExtensions
{
    /// <summary>
    /// The service <paramref name="name"/> with a gRPC endpoint (HTTP/2 cleartext) on <paramref name="grpcPort"/> and an
    /// HTTP/1.1 endpoint on <paramref name="httpPort"/> serving <c>/health</c>, <c>/alive</c> and <c>/metrics</c>; Aspire
    /// waits for its <c>/health</c> and sends its traces, logs and metrics to the dashboard. Its console logs stay at
    /// warnings for the chatty libraries (Npgsql commands, the polling of the outbox), so that an idle stack is quiet.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name, int grpcPort, int httpPort)
        where TProject : IProjectMetadata, new()
    {
        var service = builder.AddProject<TProject>(name, options => options.ExcludeLaunchProfile = true)
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
            .WithEnvironment("Logging__LogLevel__Microsoft.Hosting.Lifetime", "Warning")
            .WithEnvironment("Logging__Console__FormatterName", "simple")
            .WithEnvironment("Logging__Console__FormatterOptions__SingleLine", "true");
    }

    /// <summary>
    /// The ledger's origin and signing key: kept in <paramref name="keyPath"/> (created on first run, readable by its owner
    /// only); returns the verifier key that auditors pin.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithLedgerSigningKey(
        this IResourceBuilder<ProjectResource> ledger, string keyPath, string origin, out string verifierKey)
    {
        verifierKey = LedgerSigningKey.LoadOrCreate(keyPath, origin);
        return ledger
            .WithEnvironment("Ledger__Origin", origin)
            .WithEnvironment("Ledger__SigningKeyPath", keyPath);
    }

    /// <summary>Gives the service <paramref name="database"/>'s connection string and waits until it exists.</summary>
    public static IResourceBuilder<ProjectResource> WithDatabase(this IResourceBuilder<ProjectResource> service, IResourceBuilder<LocalDatabaseResource> database) =>
        service.WithReference(database).WaitFor(database);

    /// <summary>Gives the service the broker's connection string and waits until it runs.</summary>
    public static IResourceBuilder<ProjectResource> WithEventBus(this IResourceBuilder<ProjectResource> service, IResourceBuilder<LocalRabbitMqResource> broker) =>
        service.WithReference(broker).WaitFor(broker);

    /// <summary>Gives the service the bucket's connection string and waits until it exists.</summary>
    public static IResourceBuilder<ProjectResource> WithArtifacts(this IResourceBuilder<ProjectResource> service, IResourceBuilder<LocalBucketResource> bucket) =>
        service.WithReference(bucket).WaitFor(bucket);
}

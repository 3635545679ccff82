using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Hosting.Local;
using ModelOps.Registry.Client;
using ModelOps.Registry.V1;
using ModelOps.Testing;
using ModelOps.Tracking.Client;

namespace ModelOps.Registry.Tests;

/// <summary>
/// Tracking and the registry as real processes, each on its own database and virtual host, sharing tracking's bucket
/// (the registry re-reads the bytes tracking stored). The registry finds tracking by service discovery and calls it
/// with its own service token, as in the AppHost.
/// </summary>
public sealed class RegistryStack : IAsyncDisposable
{
    private readonly List<ServiceProcess> _resources = [];
    private readonly List<GrpcChannel> _channels = [];

    private RegistryStack(LocalTenant tracking, LocalTenant registry)
    {
        TrackingEnvironment = tracking;
        RegistryEnvironment = registry;
    }

    /// <summary>Tracking's database, virtual host and bucket (the registry reads the same bucket).</summary>
    public LocalTenant TrackingEnvironment { get; }

    /// <summary>The registry's database and virtual host.</summary>
    public LocalTenant RegistryEnvironment { get; }

    /// <summary>The registry's address.</summary>
    public string RegistryAddress { get; private set; } = "";

    /// <summary>The tracking service's address.</summary>
    public string TrackingAddress { get; private set; } = "";

    /// <summary>Starts both services for <paramref name="name"/>; <paramref name="registrySettings"/> adds to the registry's configuration.</summary>
    public static async Task<RegistryStack> StartAsync(
        InfrastructureFixture infrastructure, string name, IReadOnlyDictionary<string, string>? registrySettings = null)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var stack = new RegistryStack(
            await infrastructure.CreateEnvironmentAsync(name + "_t", cancellationToken),
            await infrastructure.CreateEnvironmentAsync(name, cancellationToken));
        var tracking = await infrastructure.Servers.StartServiceAsync(
            "tracking", new ServiceProjects.ModelOps_Tracking(), stack.TrackingEnvironment.ServiceConfiguration("tracking"), cancellationToken);
        stack._resources.Add(tracking);
        stack.TrackingAddress = tracking.GrpcAddress;

        var settings = stack.RegistryEnvironment.ServiceConfiguration("registry");
        settings["ConnectionStrings:artifacts"] = stack.TrackingEnvironment.ObjectStoreConnectionString;
        settings["services:tracking:grpc:0"] = tracking.GrpcAddress;
        settings["Identity:ServiceToken"] = infrastructure.Tokens.CreateToken("service:registry", ["service"]);
        foreach (var (key, value) in registrySettings ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        var registry = await infrastructure.Servers.StartServiceAsync("registry", new ServiceProjects.ModelOps_Registry(), settings, cancellationToken);
        stack._resources.Add(registry);
        stack.RegistryAddress = registry.GrpcAddress;
        return stack;
    }

    /// <summary>Headers with a token for <paramref name="subject"/> in <paramref name="roles"/>.</summary>
    public Metadata As(string subject, params string[] roles) =>
        new() { { "Authorization", $"Bearer {RegistryEnvironment.Tokens.CreateToken(subject, roles)}" } };

    /// <summary>A generated registry client whose every call carries <paramref name="headers"/>.</summary>
    public RegistryService.RegistryServiceClient Registry(Metadata headers) => new(Invoker(RegistryAddress, headers));

    /// <summary>The registry SDK acting as <paramref name="headers"/>' caller.</summary>
    public RegistryClient RegistrySdk(Metadata headers) => new(Invoker(RegistryAddress, headers));

    /// <summary>The tracking SDK (and its generated client) acting as <paramref name="headers"/>' caller.</summary>
    public TrackingClient Tracking(Metadata headers) => new(Invoker(TrackingAddress, headers));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        foreach (var resource in Enumerable.Reverse(_resources))
        {
            await resource.StopAsync();
        }
    }

    private CallInvoker Invoker(string address, Metadata headers) =>
        Channel(address).Intercept(metadata =>
        {
            foreach (var header in headers)
            {
                metadata.Add(header);
            }

            return metadata;
        });

    private GrpcChannel Channel(string address)
    {
        var channel = GrpcChannel.ForAddress(address);
        lock (_channels)
        {
            _channels.Add(channel);
        }

        return channel;
    }
}

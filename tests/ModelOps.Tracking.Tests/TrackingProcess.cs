using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Hosting.Local;
using ModelOps.Testing;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Tests;

/// <summary>The tracking service as a real process on a test class's own database, virtual host and bucket.</summary>
public sealed class TrackingProcess : IAsyncDisposable
{
    private readonly ServiceProcess _resource;
    private GrpcChannel? _channel;

    private TrackingProcess(LocalTenant environment, ServiceProcess resource)
    {
        Environment = environment;
        _resource = resource;
    }

    /// <summary>The test class's database, virtual host and bucket.</summary>
    public LocalTenant Environment { get; }

    /// <summary>The channel to the service.</summary>
    public GrpcChannel Channel => _channel!;

    /// <summary>A client of the service (pass <see cref="As"/> headers).</summary>
    public TrackingService.TrackingServiceClient Client { get; private set; } = null!;

    /// <summary>Starts the service for <paramref name="name"/>'s own slice of the infrastructure.</summary>
    public static async Task<TrackingProcess> StartAsync(
        InfrastructureFixture infrastructure, string name, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = await infrastructure.CreateEnvironmentAsync(name, TestContext.Current.CancellationToken);
        var configuration = environment.ServiceConfiguration("tracking");
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            configuration[key] = value;
        }

        var resource = await infrastructure.Servers.StartServiceAsync(
            "tracking", new ServiceProjects.ModelOps_Tracking(), configuration, TestContext.Current.CancellationToken);
        var process = new TrackingProcess(environment, resource);
        process._channel = GrpcChannel.ForAddress(resource.GrpcAddress, new GrpcChannelOptions { MaxReceiveMessageSize = 8 << 20 });
        process.Client = new TrackingService.TrackingServiceClient(process._channel);
        return process;
    }

    /// <summary>Headers carrying a token for <paramref name="subject"/> with <paramref name="roles"/>.</summary>
    public Metadata As(string subject, params string[] roles) =>
        new() { { "Authorization", $"Bearer {Environment.Tokens.CreateToken(subject, roles)}" } };

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await _resource.StopAsync();
    }
}

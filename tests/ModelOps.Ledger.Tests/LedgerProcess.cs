using Grpc.Core;
using Grpc.Net.Client;
using MassTransit;
using ModelOps.Hosting.Local;
using ModelOps.Ledger.V1;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Testing;

namespace ModelOps.Ledger.Tests;

/// <summary>The ledger service as a real process on a test class's own database and virtual host, and a bus to feed it.</summary>
public sealed class LedgerProcess : IAsyncDisposable
{
    private readonly ServiceProcess _resource;
    private GrpcChannel? _channel;
    private IBusControl? _bus;

    private LedgerProcess(InfrastructureFixture infrastructure, LocalTenant environment, ServiceProcess resource)
    {
        Infrastructure = infrastructure;
        Environment = environment;
        _resource = resource;
    }

    /// <summary>The shared servers.</summary>
    public InfrastructureFixture Infrastructure { get; }

    /// <summary>The test class's database, virtual host and bucket.</summary>
    public LocalTenant Environment { get; }

    /// <summary>A client of the ledger (pass <see cref="As"/> headers).</summary>
    public LedgerService.LedgerServiceClient Client { get; private set; } = null!;

    /// <summary>The ledger's gRPC address.</summary>
    public string Address => _resource.GrpcAddress;

    /// <summary>The ledger's HTTP address (health, metrics).</summary>
    public string HttpAddress => _resource.HttpAddress;

    /// <summary>The service process.</summary>
    public LocalProcess Process => _resource.Processes.Single();

    /// <summary>Starts a ledger for <paramref name="name"/>'s own slice of the infrastructure.</summary>
    public static async Task<LedgerProcess> StartAsync(InfrastructureFixture infrastructure, string name)
    {
        var environment = await infrastructure.CreateEnvironmentAsync(name, TestContext.Current.CancellationToken);
        var configuration = environment.ServiceConfiguration("ledger");
        configuration["Ledger:Origin"] = "test.modelops/ledger";
        configuration["Ledger:SigningKeyPath"] = Path.Combine(infrastructure.Context.DirectoryFor(environment.Name), "signing.key");
        configuration["Ledger:CheckpointInterval"] = "00:00:00.100";
        var resource = await infrastructure.Servers.StartServiceAsync(
            "ledger", new ServiceProjects.ModelOps_Ledger(), configuration, TestContext.Current.CancellationToken);
        var ledger = new LedgerProcess(infrastructure, environment, resource);
        // The ports are known once the process has started.
        ledger._channel = GrpcChannel.ForAddress(resource.GrpcAddress);
        ledger.Client = new LedgerService.LedgerServiceClient(ledger._channel);
        return ledger;
    }

    /// <summary>Headers carrying a token for <paramref name="subject"/> with <paramref name="roles"/>.</summary>
    public Metadata As(string subject, params string[] roles) =>
        new() { { "Authorization", $"Bearer {Environment.Tokens.CreateToken(subject, roles)}" } };

    /// <summary>A token for <paramref name="subject"/> with <paramref name="roles"/>.</summary>
    public string Token(string subject, params string[] roles) => Environment.Tokens.CreateToken(subject, roles);

    /// <summary>A bus on the test's virtual host, publishing as the services do.</summary>
    public async Task<IBus> BusAsync()
    {
        if (_bus is null)
        {
            var broker = BrokerAddress.Parse(Environment.BrokerConnectionString);
            _bus = Bus.Factory.CreateUsingRabbitMq(rabbit => rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
            {
                host.Username(broker.Username);
                host.Password(broker.Password);
            }));
            await _bus.StartAsync(TestContext.Current.CancellationToken);
        }

        return _bus;
    }

    /// <summary>Kills the process at once (SIGKILL), as a crash or an OOM kill would.</summary>
    public async Task KillAsync()
    {
        LocalProcess.Kill(Process.Id, LocalProcess.SigKill);
        await Process.Exited.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    /// <summary>Starts the service again on the same ports and state.</summary>
    public Task RestartAsync() => _resource.StartAsync(TestContext.Current.CancellationToken);

    /// <summary>The latest checkpoint, once one covers at least <paramref name="size"/> entries.</summary>
    public async Task<Checkpoint> CheckpointCoveringAsync(long size)
    {
        Checkpoint? checkpoint = null;
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            try
            {
                checkpoint = await Client.GetCheckpointAsync(new GetCheckpointRequest(), As("auditor", "auditor"));
                return checkpoint.TreeSize >= size;
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.FailedPrecondition)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60)), $"No checkpoint covered {size} entries in time.");
        return checkpoint!;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            await _bus.StopAsync(CancellationToken.None);
        }

        _channel?.Dispose();
        await _resource.StopAsync();
    }
}

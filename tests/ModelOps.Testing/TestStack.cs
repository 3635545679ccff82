using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Hosting.Local;
using Npgsql;
using Xunit;

namespace ModelOps.Testing;

/// <summary>
/// Services under test as real processes: each on a database of its own, all on one virtual host and one bucket, each
/// finding the others it references by service discovery (<c>services:&lt;name&gt;:grpc:0</c>) and calling them with a
/// service token, as in the AppHost. Started in the order added; stopped in reverse.
/// </summary>
public sealed class TestStack : IAsyncDisposable
{
    private readonly InfrastructureFixture _infrastructure;
    private readonly Dictionary<string, (ServiceProcess Resource, LocalTenant Environment)> _services = new(StringComparer.Ordinal);
    private readonly List<GrpcChannel> _channels = [];
    private readonly Dictionary<string, string> _totals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyDictionary<string, string?>> _configurations = new(StringComparer.Ordinal);
    private readonly List<ServiceProcess> _replicas = [];

    private TestStack(InfrastructureFixture infrastructure, LocalTenant shared)
    {
        _infrastructure = infrastructure;
        Shared = shared;
    }

    /// <summary>The virtual host and bucket every service shares (and the first database, unused by services).</summary>
    public LocalTenant Shared { get; }

    /// <summary>
    /// A stack for <paramref name="name"/>, with no service started yet; on <paramref name="broker"/> (its default
    /// virtual host) when given, so that a test may stop the broker without touching other classes'.
    /// </summary>
    public static async Task<TestStack> CreateAsync(InfrastructureFixture infrastructure, string name, LocalRabbitMq? broker = null)
    {
        var shared = await infrastructure.CreateEnvironmentAsync(name, TestContext.Current.CancellationToken);
        return new(infrastructure, broker is null ? shared : shared with { BrokerConnectionString = broker.ConnectionString });
    }

    /// <summary>
    /// Starts <paramref name="service"/> (named as the AppHost names it) on a database of its own, referencing the services
    /// in <paramref name="references"/> that were started before it; <paramref name="settings"/> adds to its configuration.
    /// </summary>
    public async Task<TestStack> StartAsync(
        string service, IServiceProject project, IReadOnlyList<string>? references = null, IReadOnlyDictionary<string, string>? settings = null)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var database = await _infrastructure.Postgres.CreateDatabaseAsync($"{Shared.Name}_{service}", cancellationToken);
        var environment = Shared with { DatabaseConnectionString = database };
        var configuration = environment.ServiceConfiguration(service);
        configuration["Identity:ServiceToken"] = environment.Tokens.CreateToken($"service:{service}", ["service"]);
        foreach (var reference in references ?? [])
        {
            configuration[$"services:{reference}:grpc:0"] = _services[reference].Resource.GrpcAddress;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            configuration[key] = value;
        }

        var resource = await _infrastructure.Servers.StartServiceAsync(service, project, configuration, cancellationToken);
        _services[service] = (resource, environment);
        _configurations[service] = new Dictionary<string, string?>(configuration);
        return this;
    }

    /// <summary>
    /// Starts another replica of <paramref name="service"/>: a process of its own with the same configuration (database,
    /// broker, settings), as a scaled-out deployment runs it. Stopped with the stack.
    /// </summary>
    public async Task<ServiceProcess> StartReplicaAsync(string service, IServiceProject project)
    {
        var replica = await _infrastructure.Servers.StartServiceAsync(service, project, _configurations[service], TestContext.Current.CancellationToken);
        _replicas.Add(replica);
        return replica;
    }

    /// <summary>The services started, by name.</summary>
    public IReadOnlyCollection<string> Services => _services.Keys;

    /// <summary>A service's process resource (to kill or restart it).</summary>
    public ServiceProcess Process(string service) => _services[service].Resource;

    /// <summary>Kills <paramref name="service"/> with SIGKILL, as a crash would, and waits until it is gone.</summary>
    public async Task KillAsync(string service)
    {
        var process = _services[service].Resource.Processes.Single();
        LocalProcess.Kill(process.Id, LocalProcess.SigKill);
        await process.Exited.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// Lets <paramref name="service"/> reach <paramref name="reference"/>, started after it (two services that call each
    /// other, as explainability and the registry do): restarts it with the address, on the same ports and database.
    /// </summary>
    public async Task ReferAsync(string service, string reference)
    {
        var resource = _services[service].Resource;
        var key = $"services:{reference}:grpc:0";
        _configurations[service] = new Dictionary<string, string?>(_configurations[service]) { [key] = GrpcAddress(reference) };
        await resource.StopAsync();
        resource.WithConfiguration([new(key, GrpcAddress(reference))]);
        await resource.StartAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>Starts <paramref name="service"/> again, on the same ports, database and configuration.</summary>
    public Task RestartAsync(string service) => _services[service].Resource.StartAsync(TestContext.Current.CancellationToken);

    /// <summary>A service's gRPC address.</summary>
    public string GrpcAddress(string service) => _services[service].Resource.GrpcAddress;

    /// <summary>A service's HTTP address (health, metrics).</summary>
    public string HttpAddress(string service) => _services[service].Resource.HttpAddress;

    /// <summary>A service's database.</summary>
    public string DatabaseOf(string service) => _services[service].Environment.DatabaseConnectionString;

    /// <summary>Headers with a token for <paramref name="subject"/> holding <paramref name="roles"/>, member of <paramref name="teams"/>.</summary>
    public Metadata As(string subject, IReadOnlyList<string> roles, IReadOnlyList<string>? teams = null) =>
        new() { { "Authorization", $"Bearer {Shared.Tokens.CreateToken(subject, roles, teams: teams)}" } };

    /// <summary>A call invoker to <paramref name="service"/> whose every call carries <paramref name="headers"/> (none when null).</summary>
    public CallInvoker Invoker(string service, Metadata? headers)
    {
        var channel = GrpcChannel.ForAddress(GrpcAddress(service), new GrpcChannelOptions { MaxReceiveMessageSize = 4 * 1024 * 1024 });
        lock (_channels)
        {
            _channels.Add(channel);
        }

        return headers is null ? channel.CreateCallInvoker() : channel.Intercept(metadata =>
        {
            foreach (var header in headers)
            {
                metadata.Add(header);
            }

            return metadata;
        });
    }

    /// <summary>
    /// The number of rows of each service's database (every table but DbUp's journal), one query per database: cheap
    /// enough to take around every call of a test.
    /// </summary>
    public async Task<Dictionary<string, long>> TotalRowsAsync()
    {
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var service in _services.Keys)
        {
            if (!_totals.TryGetValue(service, out var sql))
            {
                var tables = (await RowCountsAsync(service)).Keys.Select(t => $"(SELECT count(*) FROM \"{t[(service.Length + 1)..]}\")");
                _totals[service] = sql = $"SELECT {string.Join(" + ", tables)}";
            }

            await using var connection = new NpgsqlConnection(DatabaseOf(service));
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            await using var command = new NpgsqlCommand(sql, connection);
            totals[service] = (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
        }

        return totals;
    }

    /// <summary>The number of rows of every table of <paramref name="service"/>'s database, but DbUp's journal.</summary>
    public async Task<Dictionary<string, long>> RowCountsAsync(string service)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var connection = new NpgsqlConnection(DatabaseOf(service));
        await connection.OpenAsync(cancellationToken);
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand(
                         "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_versions' ORDER BY tablename", connection))
        await using (var reader = await list.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                tables.Add(reader.GetString(0));
            }
        }

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            await using var count = new NpgsqlCommand($"SELECT count(*) FROM \"{table}\"", connection);
            counts[$"{service}.{table}"] = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
        }

        return counts;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        foreach (var replica in _replicas)
        {
            await replica.StopAsync();
        }

        foreach (var (resource, _) in _services.Values.Reverse())
        {
            await resource.StopAsync();
        }
    }
}

using System.Security.Cryptography;
using ModelOps.AppHost.Hosting;
using Xunit;

namespace ModelOps.Testing;

/// <summary>
/// The real PostgreSQL, RabbitMQ and object store, started once per test assembly through the AppHost's own
/// resources on free ports, with fsync off; each test class takes its own database, virtual host and bucket
/// from <see cref="CreateEnvironmentAsync"/>, so classes run in parallel without meeting. Everything is stopped
/// when the assembly's tests end, and the state folder removed.
/// </summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    /// <summary>The issuer every test token claims.</summary>
    public const string TestIssuer = "https://issuer.modelops.test";

    private readonly string _state = Path.Combine(Path.GetTempPath(), "modelops-tests", Guid.NewGuid().ToString("N")[..12]);
    private readonly List<Resource> _extra = [];

    /// <summary>Shared state folder, ports and (silent) logs.</summary>
    public ResourceContext Context { get; private set; } = null!;

    /// <summary>The PostgreSQL server.</summary>
    public PostgresResource Postgres { get; private set; } = null!;

    /// <summary>The RabbitMQ node.</summary>
    public RabbitMqResource RabbitMq { get; private set; } = null!;

    /// <summary>The object store.</summary>
    public ObjectStoreResource ObjectStore { get; private set; } = null!;

    /// <summary>Signs test tokens; services under test trust its key through <c>Identity:SigningKeys</c>.</summary>
    public DevelopmentTokenIssuer Tokens { get; } = new(TestIssuer, RSA.Create(2048));

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        // MODELOPS_TEST_LOGS=1 shows what the servers and services print, to debug a failing test.
        var logs = Environment.GetEnvironmentVariable("MODELOPS_TEST_LOGS") == "1" ? new LogSink(Console.Error, colour: false) : LogSink.Silent;
        Context = new ResourceContext(_state, new Ports(dynamic: true), logs, Durable: false);
        Postgres = new PostgresResource("postgres", Context);
        RabbitMq = new RabbitMqResource("eventbus", Context);
        ObjectStore = new ObjectStoreResource("objectstore", Context);
        // If the test host is killed before DisposeAsync runs, still leave no server behind.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAllAsync().GetAwaiter().GetResult();
        await StartAsync([Postgres, RabbitMq, ObjectStore]);
    }

    /// <summary>A database, virtual host and bucket of one test class's own, and the configuration a service needs for them.</summary>
    public async Task<TestEnvironment> CreateEnvironmentAsync(string name, CancellationToken cancellationToken = default)
    {
        var unique = $"{name.ToLowerInvariant()}_{Guid.NewGuid().ToString("N")[..8]}";
        var database = await Postgres.CreateDatabaseAsync(unique, cancellationToken);
        var broker = await RabbitMq.CreateVirtualHostAsync(unique, cancellationToken);
        var bucket = await ObjectStore.CreateBucketAsync(unique.Replace('_', '-'), cancellationToken);
        return new TestEnvironment(unique, database, broker, bucket, Tokens);
    }

    /// <summary>A RabbitMQ node of a test's own, for tests that stop and restart the broker.</summary>
    public async Task<RabbitMqResource> StartDedicatedBrokerAsync(string name)
    {
        var broker = new RabbitMqResource(name, Context);
        lock (_extra)
        {
            _extra.Add(broker);
        }

        await StartAsync([broker]);
        return broker;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAllAsync();
        try
        {
            Directory.Delete(_state, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a process that is going away; the folder is in the temp directory.
        }
    }

    private static async Task StartAsync(IReadOnlyList<Resource> resources)
    {
        try
        {
            await Task.WhenAll(resources.Select(r => r.StartAsync(CancellationToken.None)));
        }
        catch (ResourceFailedException failed)
        {
            throw new InvalidOperationException(
                $"{failed.Message}{Environment.NewLine}{string.Join(Environment.NewLine, failed.Resource.RecentLines(30))}", failed);
        }
    }

    private async Task StopAllAsync()
    {
        Resource[] all;
        lock (_extra)
        {
            all = [.. _extra, .. new Resource?[] { Postgres, RabbitMq, ObjectStore }.OfType<Resource>()];
        }

        await Task.WhenAll(all.Select(r => r.StopAsync()));
    }
}

/// <summary>One test class's own slice of the infrastructure.</summary>
/// <param name="Name">Its unique name (database, virtual host and, with dashes, bucket).</param>
/// <param name="DatabaseConnectionString">Its database.</param>
/// <param name="BrokerConnectionString">Its virtual host.</param>
/// <param name="ObjectStoreConnectionString">Its bucket.</param>
/// <param name="Tokens">The token issuer services trust.</param>
public sealed record TestEnvironment(
    string Name, string DatabaseConnectionString, string BrokerConnectionString, string ObjectStoreConnectionString,
    DevelopmentTokenIssuer Tokens)
{
    /// <summary>The configuration of a service named <paramref name="service"/> using this slice.</summary>
    public Dictionary<string, string?> ServiceConfiguration(string service) => new()
    {
        ["OTEL_SERVICE_NAME"] = service,
        [$"ConnectionStrings:{service}db"] = DatabaseConnectionString,
        ["ConnectionStrings:eventbus"] = BrokerConnectionString,
        ["ConnectionStrings:artifacts"] = ObjectStoreConnectionString,
        ["Identity:Issuer"] = Tokens.Issuer,
        ["Identity:SigningKeys"] = Tokens.JsonWebKeySet(),
    };
}

using ModelOps.Hosting.Local;
using Xunit;

namespace ModelOps.Testing;

/// <summary>
/// The real PostgreSQL, RabbitMQ and object store (<see cref="LocalServers"/>), started once per test assembly on free
/// ports with fsync off; each test class takes its own database, virtual host and bucket from
/// <see cref="CreateEnvironmentAsync"/>, so classes run in parallel without meeting. Everything is stopped when the
/// assembly's tests end, and the state folder removed.
/// </summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    /// <summary>The issuer every test token claims.</summary>
    public const string TestIssuer = "https://issuer.modelops.test";

    private LocalServers? _servers;

    /// <summary>The servers.</summary>
    public LocalServers Servers => _servers ?? throw new InvalidOperationException("The servers have not started.");

    /// <summary>Shared state folder, ports and (silent) logs.</summary>
    public LocalContext Context => Servers.Context;

    /// <summary>The PostgreSQL server.</summary>
    public LocalPostgres Postgres => Servers.Postgres;

    /// <summary>The RabbitMQ node.</summary>
    public LocalRabbitMq RabbitMq => Servers.RabbitMq;

    /// <summary>The object store.</summary>
    public LocalObjectStore ObjectStore => Servers.ObjectStore;

    /// <summary>Signs test tokens; services under test trust its key through <c>Identity:SigningKeys</c>.</summary>
    public DevelopmentTokenIssuer Tokens => Servers.Tokens;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        // MODELOPS_TEST_LOGS=1 shows what the servers and services print, to debug a failing test.
        var logs = Environment.GetEnvironmentVariable("MODELOPS_TEST_LOGS") == "1" ? new ProcessLog(Console.Error, colour: false) : ProcessLog.Silent;
        _servers = await LocalServers.StartAsync(TestIssuer, durable: false, logs);
    }

    /// <summary>A database, virtual host and bucket of one test class's own, and the configuration a service needs for them.</summary>
    public Task<LocalTenant> CreateEnvironmentAsync(string name, CancellationToken cancellationToken = default) =>
        Servers.CreateTenantAsync(name, cancellationToken);

    /// <summary>A RabbitMQ node of a test's own, for tests that stop and restart the broker.</summary>
    public Task<LocalRabbitMq> StartDedicatedBrokerAsync(string name) => Servers.StartDedicatedBrokerAsync(name);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_servers is not null)
        {
            await _servers.DisposeAsync();
        }
    }
}

using System.Security.Cryptography;
using ModelOps.AppHost.Hosting;

namespace ModelOps.Bench;

/// <summary>
/// What the service benchmarks run on: PostgreSQL (fsync on), RabbitMQ and the object store as local processes in a
/// temporary folder, a token issuer the services trust, and the services themselves; disposing stops them all and
/// removes the folder. Compiled into each benchmark (linked), since benchmarks share no project.
/// </summary>
internal sealed class BenchServers : IAsyncDisposable
{
    private readonly List<ProjectResource> _services = [];

    private BenchServers(string state)
    {
        StateDirectory = state;
        Context = new ResourceContext(state, new Ports(dynamic: true), LogSink.Silent, Durable: true);
        Postgres = new PostgresResource("postgres", Context);
        RabbitMq = new RabbitMqResource("eventbus", Context);
        ObjectStore = new ObjectStoreResource("objectstore", Context);
    }

    /// <summary>The temporary folder of this run (removed on disposal): room for a benchmark's own files too.</summary>
    public string StateDirectory { get; }

    /// <summary>Where the processes keep their state.</summary>
    public ResourceContext Context { get; }

    /// <summary>The database server.</summary>
    public PostgresResource Postgres { get; }

    /// <summary>The broker.</summary>
    public RabbitMqResource RabbitMq { get; }

    /// <summary>The object store.</summary>
    public ObjectStoreResource ObjectStore { get; }

    /// <summary>The issuer whose tokens the services accept.</summary>
    public DevelopmentTokenIssuer Tokens { get; } = new("https://issuer.bench.modelops", RSA.Create(2048));

    /// <summary>Starts the servers.</summary>
    public static async Task<BenchServers> StartAsync()
    {
        // A plain folder under the temp directory (not CreateTempSubdirectory, which is private): PostgreSQL runs as its own user.
        var servers = new BenchServers(Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"modelops-bench-{Guid.NewGuid():N}"[..26])).FullName);
        await Task.WhenAll(servers.Postgres.StartAsync(CancellationToken.None), servers.RabbitMq.StartAsync(CancellationToken.None),
            servers.ObjectStore.StartAsync(CancellationToken.None));
        return servers;
    }

    /// <summary>
    /// A service as a process, in production mode, logging warnings only, trusting <see cref="Tokens"/>, with
    /// <paramref name="name"/>'s own database and virtual host and the bucket <paramref name="artifacts"/> (an object
    /// store connection string); stopped on disposal. Add its other settings, then start it. Returns it with its
    /// database's connection string.
    /// </summary>
    public async Task<(ProjectResource Service, string Database)> ServiceAsync(string name, IProjectMetadata project, string artifacts)
    {
        var database = await Postgres.CreateDatabaseAsync($"{name}_bench", CancellationToken.None);
        var service = new ProjectResource(name, project, Context)
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
            .WithEnvironment($"ConnectionStrings__{name}db", database)
            .WithEnvironment("ConnectionStrings__eventbus", await RabbitMq.CreateVirtualHostAsync($"{name}_bench", CancellationToken.None))
            .WithEnvironment("ConnectionStrings__artifacts", artifacts)
            .WithEnvironment("Identity__Issuer", Tokens.Issuer)
            .WithEnvironment("Identity__SigningKeys", Tokens.JsonWebKeySet())
            .WithEnvironment("Logging__LogLevel__Default", "Warning");
        _services.Add(service);
        return (service, database);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var service in Enumerable.Reverse(_services))
        {
            await service.StopAsync();
        }

        await Task.WhenAll(ObjectStore.StopAsync(), RabbitMq.StopAsync(), Postgres.StopAsync());
        Directory.Delete(StateDirectory, recursive: true);
    }
}

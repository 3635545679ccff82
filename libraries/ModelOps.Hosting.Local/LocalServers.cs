using System.Security.Cryptography;

namespace ModelOps.Hosting.Local;

/// <summary>
/// PostgreSQL, RabbitMQ and the object store as local processes in a state folder of their own, on free ports, with a
/// token issuer that the services started next to them trust. Tests and benchmarks start one set and give each user
/// its own database, virtual host and bucket (<see cref="CreateTenantAsync"/>); disposing stops every process and removes
/// the folder.
/// </summary>
public sealed class LocalServers : IAsyncDisposable
{
    private readonly List<LocalResource> _extra = [];
    private readonly List<ServiceProcess> _services = [];
    private int _stopped;

    private LocalServers(string stateDirectory, ProcessLog log, bool durable, string issuer)
    {
        StateDirectory = stateDirectory;
        Context = new LocalContext(stateDirectory, new PortPool(dynamic: true), log, durable);
        Postgres = new LocalPostgres("postgres", Context);
        RabbitMq = new LocalRabbitMq("eventbus", Context);
        ObjectStore = new LocalObjectStore("objectstore", Context);
        Tokens = new DevelopmentTokenIssuer(issuer, RSA.Create(2048));
    }

    /// <summary>The state folder (removed on disposal): room for a user's own files too.</summary>
    public string StateDirectory { get; }

    /// <summary>State folder, ports and logs shared by the processes.</summary>
    public LocalContext Context { get; }

    /// <summary>The PostgreSQL server.</summary>
    public LocalPostgres Postgres { get; }

    /// <summary>The RabbitMQ node.</summary>
    public LocalRabbitMq RabbitMq { get; }

    /// <summary>The object store.</summary>
    public LocalObjectStore ObjectStore { get; }

    /// <summary>Signs tokens; services started by <see cref="Service"/> trust its key through <c>Identity:SigningKeys</c>.</summary>
    public DevelopmentTokenIssuer Tokens { get; }

    /// <summary>
    /// Starts the three servers in a new folder under the temporary directory. <paramref name="durable"/> false turns
    /// PostgreSQL's fsync off (tests: thrown-away data); <paramref name="log"/> receives what the processes print.
    /// </summary>
    public static async Task<LocalServers> StartAsync(string issuer, bool durable, ProcessLog? log = null, CancellationToken cancellationToken = default)
    {
        // A plain folder under the temp directory (not CreateTempSubdirectory, which is private): PostgreSQL runs as its own
        // user when this runs as root, and must reach it.
        var state = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "modelops-local", Guid.NewGuid().ToString("N")[..12])).FullName;
        var servers = new LocalServers(state, log ?? ProcessLog.Silent, durable, issuer);
        // If the process ends before DisposeAsync runs, still leave no server behind.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => servers.StopAllAsync().GetAwaiter().GetResult();
        try
        {
            await StartAsync([servers.Postgres, servers.RabbitMq, servers.ObjectStore], cancellationToken);
        }
        catch
        {
            // One server failed (a missing prerequisite, say): the others started beside it are stopped now, since a
            // caller that dies of the exception never runs ProcessExit.
            await servers.DisposeAsync();
            throw;
        }

        return servers;
    }

    /// <summary>A database, virtual host and bucket of <paramref name="name"/>'s own (made unique), and the configuration a service needs for them.</summary>
    public async Task<LocalTenant> CreateTenantAsync(string name, CancellationToken cancellationToken = default)
    {
        var unique = $"{name.ToLowerInvariant()}_{Guid.NewGuid().ToString("N")[..8]}";
        var database = await Postgres.CreateDatabaseAsync(unique, cancellationToken);
        var broker = await RabbitMq.CreateVirtualHostAsync(unique, cancellationToken);
        var bucket = await ObjectStore.CreateBucketAsync(unique.Replace('_', '-'), cancellationToken);
        return new LocalTenant(unique, database, broker, bucket, Tokens);
    }

    /// <summary>
    /// A service as a process (not started yet), configured for <paramref name="tenant"/> under the name
    /// <paramref name="name"/> (its connection string names, queue prefix and telemetry name); stopped on disposal.
    /// </summary>
    public ServiceProcess Service(string name, IServiceProject project, LocalTenant tenant) =>
        Track(new ServiceProcess(name, project, Context).WithConfiguration(tenant.ServiceConfiguration(name)));

    /// <summary>
    /// Starts the service <paramref name="name"/> built from <paramref name="project"/> with exactly
    /// <paramref name="configuration"/> (a tenant's <see cref="LocalTenant.ServiceConfiguration"/> and what a user adds);
    /// returns once its <c>/health</c> answers. Stopped on disposal.
    /// </summary>
    public async Task<ServiceProcess> StartServiceAsync(
        string name, IServiceProject project, IEnumerable<KeyValuePair<string, string?>> configuration, CancellationToken cancellationToken = default)
    {
        var service = Track(new ServiceProcess(name, project, Context).WithConfiguration(configuration));
        await service.StartAsync(cancellationToken);
        return service;
    }

    private ServiceProcess Track(ServiceProcess service)
    {
        lock (_services)
        {
            _services.Add(service);
        }

        return service;
    }

    /// <summary>A RabbitMQ node of its own, for a user that stops and restarts the broker; stopped on disposal.</summary>
    public async Task<LocalRabbitMq> StartDedicatedBrokerAsync(string name, CancellationToken cancellationToken = default)
    {
        var broker = new LocalRabbitMq(name, Context);
        lock (_extra)
        {
            _extra.Add(broker);
        }

        await StartAsync([broker], cancellationToken);
        return broker;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAllAsync();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a process that is going away; the folder is in the temp directory.
        }
        catch (UnauthorizedAccessException)
        {
            // Files of the postgres user, under root: the temp directory's cleaner takes them.
        }
    }

    private static async Task StartAsync(IReadOnlyList<LocalResource> resources, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(resources.Select(r => r.StartAsync(cancellationToken)));
        }
        catch (LocalResourceFailedException failed)
        {
            throw new InvalidOperationException(
                $"{failed.Message}{Environment.NewLine}{string.Join(Environment.NewLine, failed.Resource.RecentLines(30))}", failed);
        }
    }

    private async Task StopAllAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        ServiceProcess[] services;
        lock (_services)
        {
            services = [.. _services];
        }

        await Task.WhenAll(services.Select(s => s.StopAsync()));
        LocalResource[] servers;
        lock (_extra)
        {
            servers = [.. _extra, Postgres, RabbitMq, ObjectStore];
        }

        await Task.WhenAll(servers.Select(r => r.StopAsync()));
    }
}

/// <summary>One user's own slice of the local servers.</summary>
/// <param name="Name">Its unique name (database, virtual host and, with dashes, bucket).</param>
/// <param name="DatabaseConnectionString">Its database.</param>
/// <param name="BrokerConnectionString">Its virtual host.</param>
/// <param name="ObjectStoreConnectionString">Its bucket.</param>
/// <param name="Tokens">The token issuer services trust.</param>
public sealed record LocalTenant(
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

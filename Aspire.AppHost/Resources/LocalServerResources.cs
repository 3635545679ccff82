using Aspire.Hosting.ApplicationModel;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost.Resources;

/// <summary>
/// A server that runs as a local process (<see cref="LocalResource"/>), as an Aspire resource: there is no container
/// engine here, so Aspire's container-based PostgreSQL and RabbitMQ integrations cannot run.
/// </summary>
public interface ILocalServerResource : IResource
{
    /// <summary>The process that serves it.</summary>
    LocalResource Server { get; }

    /// <summary>The resource type shown in the dashboard.</summary>
    string DisplayType { get; }

    /// <summary>What the dashboard shows about it once it runs (addresses, users, where its state is).</summary>
    IEnumerable<ResourcePropertySnapshot> Properties();

    /// <summary>Addresses a person opens from the dashboard.</summary>
    IEnumerable<UrlSnapshot> Urls();

    /// <summary>Prepares what references it (databases, virtual hosts, buckets) once it runs.</summary>
    Task ProvisionAsync(CancellationToken cancellationToken);

    /// <summary>Whether it still answers (its health check).</summary>
    Task<bool> AnswersAsync(CancellationToken cancellationToken);
}

/// <summary>A PostgreSQL server run from the local binaries (initdb on first start).</summary>
public sealed class LocalPostgresResource(string name, LocalPostgres server) : Resource(name), ILocalServerResource
{
    private readonly List<LocalDatabaseResource> _databases = [];

    /// <inheritdoc />
    public LocalResource Server => Postgres;

    /// <summary>The server.</summary>
    public LocalPostgres Postgres { get; } = server;

    /// <inheritdoc />
    public string DisplayType => "PostgreSQL (local)";

    /// <summary>The databases declared on it.</summary>
    public IReadOnlyList<LocalDatabaseResource> Databases => _databases;

    internal void Add(LocalDatabaseResource database) => _databases.Add(database);

    /// <inheritdoc />
    public IEnumerable<ResourcePropertySnapshot> Properties() =>
    [
        new("address", $"127.0.0.1:{Postgres.Port}"),
        new("superuser", "postgres (password in the state folder: postgres/password.secret)"),
        new("databases", string.Join(", ", _databases.Select(d => $"{d.DatabaseName} (owner {d.Owner})"))),
    ];

    /// <inheritdoc />
    public IEnumerable<UrlSnapshot> Urls() => [];

    /// <inheritdoc />
    public async Task ProvisionAsync(CancellationToken cancellationToken)
    {
        foreach (var database in _databases)
        {
            database.ConnectionString = await Postgres.CreateOwnedDatabaseAsync(database.DatabaseName, database.Owner, cancellationToken);
        }
    }

    /// <inheritdoc />
    public Task<bool> AnswersAsync(CancellationToken cancellationToken) => Postgres.AnswersAsync(cancellationToken);
}

/// <summary>A database of a <see cref="LocalPostgresResource"/>, owned by a role of its own that only its service logs in as.</summary>
public sealed class LocalDatabaseResource(string name, string databaseName, LocalPostgresResource parent)
    : Resource(name), IResourceWithParent<LocalPostgresResource>, IResourceWithConnectionString
{
    /// <summary>The database's name.</summary>
    public string DatabaseName { get; } = databaseName;

    /// <summary>The role that owns it.</summary>
    public string Owner => $"{DatabaseName}_owner";

    /// <inheritdoc />
    public LocalPostgresResource Parent { get; } = parent;

    /// <summary>The connection string, once provisioned.</summary>
    internal string? ConnectionString { get; set; }

    /// <inheritdoc />
    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{new ProvisionedValue(() => ConnectionString, $"database {DatabaseName}")}");
}

/// <summary>A RabbitMQ node run from the local installation, with its own epmd on loopback.</summary>
public sealed class LocalRabbitMqResource(string name, LocalRabbitMq server) : Resource(name), ILocalServerResource, IResourceWithConnectionString
{
    /// <inheritdoc />
    public LocalResource Server => RabbitMq;

    /// <summary>The node.</summary>
    public LocalRabbitMq RabbitMq { get; } = server;

    /// <inheritdoc />
    public string DisplayType => "RabbitMQ (local)";

    /// <inheritdoc />
    public IEnumerable<ResourcePropertySnapshot> Properties() =>
    [
        new("amqp", $"amqp://127.0.0.1:{RabbitMq.Port}"),
        new("user", $"{RabbitMq.Username} (password in the state folder: {Name}/password.secret)"),
    ];

    /// <inheritdoc />
    public IEnumerable<UrlSnapshot> Urls() => [new("management", $"http://127.0.0.1:{RabbitMq.ManagementPort}", IsInternal: false)];

    /// <inheritdoc />
    public Task ProvisionAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task<bool> AnswersAsync(CancellationToken cancellationToken) => RabbitMq.AnswersAsync(cancellationToken);

    /// <inheritdoc />
    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{new ProvisionedValue(() => RabbitMq.Port == 0 ? null : RabbitMq.ConnectionString, "the broker")}");
}

/// <summary>An S3-compatible object store run locally (MinIO when installed, else s3rver).</summary>
public sealed class LocalObjectStoreResource(string name, LocalObjectStore server) : Resource(name), ILocalServerResource
{
    private readonly List<LocalBucketResource> _buckets = [];

    /// <inheritdoc />
    public LocalResource Server => Store;

    /// <summary>The store.</summary>
    public LocalObjectStore Store { get; } = server;

    /// <inheritdoc />
    public string DisplayType => "Object store (local)";

    internal void Add(LocalBucketResource bucket) => _buckets.Add(bucket);

    /// <inheritdoc />
    public IEnumerable<ResourcePropertySnapshot> Properties() =>
    [
        new("s3", $"http://127.0.0.1:{Store.Port}"),
        new("server", Store.Kind),
        new("buckets", string.Join(", ", _buckets.Select(b => b.BucketName))),
    ];

    /// <inheritdoc />
    public IEnumerable<UrlSnapshot> Urls() => [];

    /// <inheritdoc />
    public async Task ProvisionAsync(CancellationToken cancellationToken)
    {
        foreach (var bucket in _buckets)
        {
            await Store.CreateBucketAsync(bucket.BucketName, cancellationToken);
        }
    }

    /// <inheritdoc />
    public Task<bool> AnswersAsync(CancellationToken cancellationToken) => Store.AnswersAsync(cancellationToken);
}

/// <summary>A bucket of a <see cref="LocalObjectStoreResource"/>.</summary>
public sealed class LocalBucketResource(string name, string bucketName, LocalObjectStoreResource parent)
    : Resource(name), IResourceWithParent<LocalObjectStoreResource>, IResourceWithConnectionString
{
    /// <summary>The bucket's name.</summary>
    public string BucketName { get; } = bucketName;

    /// <inheritdoc />
    public LocalObjectStoreResource Parent { get; } = parent;

    /// <inheritdoc />
    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{new ProvisionedValue(() => Parent.Store.Port == 0 ? null : Parent.Store.ConnectionStringFor(BucketName), $"bucket {BucketName}")}");
}

/// <summary>
/// A value known once a local server has started (its connection string): resources that reference it wait for it
/// (<c>WaitFor</c>), so it is there when they ask.
/// </summary>
internal sealed class ProvisionedValue(Func<string?> value, string what) : IValueProvider, IManifestExpressionProvider
{
    public string ValueExpression => $"{{{what}}}";

    public ValueTask<string?> GetValueAsync(CancellationToken cancellationToken = default) =>
        value() is { } known
            ? ValueTask.FromResult<string?>(known)
            : throw new DistributedApplicationException($"The connection string of {what} was asked for before it had started.");
}

/// <summary>A Prometheus server evaluating the services' objectives and sending their alerts to alerting.</summary>
public sealed class LocalPrometheusResource(string name, LocalPrometheus server) : Resource(name), ILocalServerResource
{
    /// <inheritdoc />
    public LocalResource Server => Prometheus;

    /// <summary>The server.</summary>
    public LocalPrometheus Prometheus { get; } = server;

    /// <inheritdoc />
    public string DisplayType => "Prometheus (local)";

    /// <inheritdoc />
    public IEnumerable<ResourcePropertySnapshot> Properties() =>
    [
        new("web", Prometheus.Address),
        new("rules", "deploy/prometheus/modelops.rules.yml"),
    ];

    /// <inheritdoc />
    public IEnumerable<UrlSnapshot> Urls() => [new(Name: "alerts", Url: $"{Prometheus.Address}/alerts", IsInternal: false)];

    /// <inheritdoc />
    public Task ProvisionAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task<bool> AnswersAsync(CancellationToken cancellationToken) => Prometheus.AnswersAsync(cancellationToken);
}

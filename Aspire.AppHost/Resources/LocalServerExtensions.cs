using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Eventing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost.Resources;

/// <summary>
/// Adds PostgreSQL, RabbitMQ and the object store, run from the local binaries, as Aspire resources: each starts when
/// Aspire initialises it, shows its state, properties and logs in the dashboard, answers a health check that
/// <c>WaitFor</c> waits on, hands its connection string to what references it, keeps its state in the state folder
/// between runs, and stops when the AppHost stops (after the services).
/// </summary>
public static class LocalServerExtensions
{
    /// <summary>A PostgreSQL server on <paramref name="port"/>, or a free port when that one is taken.</summary>
    public static IResourceBuilder<LocalPostgresResource> AddLocalPostgres(this IDistributedApplicationBuilder builder, string name, LocalContext context, int port) =>
        builder.AddLocalServer(new LocalPostgresResource(name, new LocalPostgres(name, context, port)));

    /// <summary>A database of <paramref name="server"/>, owned by a role of its own (<c>&lt;database&gt;_owner</c>).</summary>
    public static IResourceBuilder<LocalDatabaseResource> AddDatabase(this IResourceBuilder<LocalPostgresResource> server, string name)
    {
        var database = new LocalDatabaseResource(name, name, server.Resource);
        server.Resource.Add(database);
        return server.ApplicationBuilder.AddResource(database)
            .WithParentRelationship(server)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "PostgreSQL database",
                State = KnownResourceStates.Waiting,
                Properties = [new("owner", database.Owner)],
            })
            .ExcludeFromManifest();
    }

    /// <summary>A RabbitMQ node whose AMQP port is <paramref name="port"/> (management on the next one), or free ones when taken.</summary>
    public static IResourceBuilder<LocalRabbitMqResource> AddLocalRabbitMq(this IDistributedApplicationBuilder builder, string name, LocalContext context, int port)
    {
        var node = new LocalRabbitMq(name, context, port);
        // Its address is known at once, so services start beside it (the broker is the slowest to boot) and connect
        // when it is up, instead of waiting for it.
        node.ReservePorts();
        return builder.AddLocalServer(new LocalRabbitMqResource(name, node));
    }

    /// <summary>An S3-compatible object store on <paramref name="port"/>, or a free port when that one is taken.</summary>
    public static IResourceBuilder<LocalObjectStoreResource> AddLocalObjectStore(this IDistributedApplicationBuilder builder, string name, LocalContext context, int port) =>
        builder.AddLocalServer(new LocalObjectStoreResource(name, new LocalObjectStore(name, context, port)));

    /// <summary>
    /// A Prometheus server on <paramref name="port"/> (or a free port) scraping every service in <paramref name="services"/>
    /// (job <c>modelops-&lt;name&gt;</c>), evaluating deploy/prometheus/modelops.rules.yml and sending its alerts to
    /// <paramref name="alerting"/>'s Alertmanager-compatible API with <paramref name="tokenFile"/>.
    /// </summary>
    public static IResourceBuilder<LocalPrometheusResource> AddLocalPrometheus(
        this IDistributedApplicationBuilder builder, string name, LocalContext context, int port, IEnumerable<IResourceBuilder<ModelOpsServiceResource>> services,
        IResourceBuilder<ModelOpsServiceResource> alerting, string tokenFile)
    {
        static int HttpPort(IResourceBuilder<ModelOpsServiceResource> service) =>
            service.Resource.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http").Port
            ?? throw new InvalidOperationException($"{service.Resource.Name} has no fixed HTTP port");
        var targets = services.ToDictionary(s => $"modelops-{s.Resource.Name}", HttpPort, StringComparer.Ordinal);
        return builder.AddLocalServer(new LocalPrometheusResource(name, new LocalPrometheus(name, context, port, targets, HttpPort(alerting), tokenFile)));
    }

    /// <summary>A bucket of <paramref name="store"/>.</summary>
    public static IResourceBuilder<LocalBucketResource> AddBucket(this IResourceBuilder<LocalObjectStoreResource> store, string name)
    {
        var bucket = new LocalBucketResource(name, name, store.Resource);
        store.Resource.Add(bucket);
        return store.ApplicationBuilder.AddResource(bucket)
            .WithParentRelationship(store)
            .WithInitialState(new CustomResourceSnapshot { ResourceType = "Bucket", State = KnownResourceStates.Waiting, Properties = [] })
            .ExcludeFromManifest();
    }

    private static IResourceBuilder<T> AddLocalServer<T>(this IDistributedApplicationBuilder builder, T resource) where T : ILocalServerResource
    {
        var healthCheck = $"{resource.Name}-answers";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthCheck, async cancellationToken =>
            resource.Server.State == LocalState.Running && await resource.AnswersAsync(cancellationToken)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy($"{resource.Name} does not answer"));
        builder.Services.TryAddLocalServerShutdown();

        return builder.AddResource(resource)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = resource.DisplayType,
                State = KnownResourceStates.NotStarted,
                Properties = [],
            })
            .WithHealthCheck(healthCheck)
            .ExcludeFromManifest()
            .OnInitializeResource(StartAsync);
    }

    private static async Task StartAsync<T>(T resource, InitializeResourceEvent initialize, CancellationToken cancellationToken) where T : ILocalServerResource
    {
        var notifications = initialize.Notifications;
        initialize.Services.GetRequiredService<ResourceLogForwarder>().Attach(initialize.Services.GetRequiredService<ResourceLoggerService>());
        var children = initialize.Services.GetRequiredService<DistributedApplicationModel>().Resources
            .Where(r => r is IResourceWithParent { Parent: var parent } && ReferenceEquals(parent, resource))
            .ToList();
        await initialize.Eventing.PublishAsync(new BeforeResourceStartedEvent(resource, initialize.Services), cancellationToken);
        await notifications.PublishUpdateAsync(resource, s => s with { State = KnownResourceStates.Starting, StartTimeStamp = DateTime.UtcNow });
        try
        {
            await resource.Server.StartAsync(cancellationToken);
            await resource.ProvisionAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is LocalResourceFailedException or MissingPrerequisiteException or IOException
                                              or InvalidOperationException or UnauthorizedAccessException or HttpRequestException
                                              or Npgsql.NpgsqlException)
        {
            // Failed, with the reason and (for a missing program) the command that installs it; nothing waits forever on it.
            initialize.Logger.LogError("{Resource} could not start: {Reason}", resource.Name, exception.Message);
            foreach (var line in resource.Server.RecentLines(25))
            {
                initialize.Logger.LogError("  {Line}", line);
            }

            await notifications.PublishUpdateAsync(resource, s => s with
            {
                State = new ResourceStateSnapshot(KnownResourceStates.FailedToStart, KnownResourceStateStyles.Error),
                Properties = [.. s.Properties, new("failure", exception.Message)],
            });
            foreach (var child in children)
            {
                await notifications.PublishUpdateAsync(child, s => s with { State = new ResourceStateSnapshot(KnownResourceStates.FailedToStart, KnownResourceStateStyles.Error) });
            }

            return;
        }

        await notifications.PublishUpdateAsync(resource, s => s with
        {
            State = KnownResourceStates.Running,
            Properties = [.. resource.Properties()],
            Urls = [.. resource.Urls()],
        });
        foreach (var child in children)
        {
            await notifications.PublishUpdateAsync(child, s => s with { State = KnownResourceStates.Running, StartTimeStamp = DateTime.UtcNow });
        }
    }

    private static void TryAddLocalServerShutdown(this IServiceCollection services)
    {
        if (!services.Any(d => d.ImplementationType == typeof(LocalServerShutdown)))
        {
            services.AddHostedService<LocalServerShutdown>();
        }
    }
}

/// <summary>
/// Stops the local servers once the application has stopped (after the services, which Aspire stops first, so they do
/// not log the loss of their database and broker).
/// </summary>
internal sealed class LocalServerShutdown(DistributedApplicationModel model, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopped.Register(() =>
        {
            var servers = model.Resources.OfType<ILocalServerResource>().Select(r => r.Server.StopAsync());
            Task.WhenAll(servers).Wait(TimeSpan.FromSeconds(40));
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

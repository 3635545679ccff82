using ModelOps.Hosting.Local;

namespace ModelOps.Bench;

/// <summary>
/// What the service benchmarks run on: <see cref="LocalServers"/> with PostgreSQL durable (fsync on), and the services
/// in production mode. Compiled into each benchmark (linked), since benchmarks share no project.
/// </summary>
internal static class BenchServers
{
    /// <summary>Starts the servers; disposing them stops everything and removes their folder.</summary>
    public static Task<LocalServers> StartAsync() => LocalServers.StartAsync("https://issuer.bench.modelops", durable: true);

    /// <summary>
    /// A service as a process, in production mode, logging warnings only, trusting the servers' tokens, with
    /// <paramref name="name"/>'s own database and virtual host and the bucket <paramref name="artifacts"/> (an object
    /// store connection string); stopped on disposal. Add its other settings, then start it. Returns it with its
    /// database's connection string.
    /// </summary>
    public static async Task<(ServiceProcess Service, string Database)> ServiceAsync(
        this LocalServers servers, string name, IServiceProject project, string artifacts)
    {
        var tenant = await servers.CreateTenantAsync($"{name}_bench");
        var service = servers.Service(name, project, tenant with { ObjectStoreConnectionString = artifacts })
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
            .WithEnvironment("Logging__LogLevel__Default", "Warning");
        return (service, tenant.DatabaseConnectionString);
    }
}

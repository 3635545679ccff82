using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ModelOps.ServiceDefaults.Data;

/// <summary>A service's own PostgreSQL database.</summary>
public static class DatabaseExtensions
{
    /// <summary>
    /// Registers an <see cref="NpgsqlDataSource"/> from <c>ConnectionStrings:&lt;connectionName&gt;</c>, a readiness
    /// check, and the migrations that run at start-up before the service accepts calls: first the shared ones
    /// (outbox, inbox), then the <c>*.sql</c> scripts embedded in <paramref name="migrationsAssembly"/>.
    /// </summary>
    public static TBuilder AddServiceDatabase<TBuilder>(this TBuilder builder, string connectionName, Assembly migrationsAssembly)
        where TBuilder : IHostApplicationBuilder
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured.");
        }

        // Statements a service runs again and again are prepared on first reuse, unless the connection string says
        // otherwise: parsing and planning is a good part of a short query's time.
        var settings = new NpgsqlConnectionStringBuilder(connectionString);
        if (settings.MaxAutoPrepare == 0)
        {
            settings.MaxAutoPrepare = 64;
        }

        builder.Services.AddNpgsqlDataSource(settings.ConnectionString);
        builder.Services.AddSingleton(new DatabaseMigrations(connectionString, [typeof(DatabaseExtensions).Assembly, migrationsAssembly]));
        // Registered before every other hosted service, so the outbox relay and consumers find their tables.
        builder.Services.Insert(0, ServiceDescriptor.Singleton<IHostedService, DatabaseMigrationService>());
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>(connectionName, tags: [Extensions.ReadyTag]);
        return builder;
    }
}

/// <summary>What to migrate: the connection and the assemblies whose embedded scripts apply, in order.</summary>
public sealed record DatabaseMigrations(string ConnectionString, IReadOnlyList<Assembly> ScriptAssemblies);

internal sealed class DatabaseMigrationService(DatabaseMigrations migrations, ILogger<DatabaseMigrationService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        DatabaseMigrator.MigrateAsync(migrations.ConnectionString, migrations.ScriptAssemblies, logger, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

// A one-line query rather than AspNetCore.HealthChecks.NpgSql: the only version available here is
// years old and pins an Npgsql 4 dependency.
internal sealed class DatabaseHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "PostgreSQL is unreachable.", exception);
        }
    }
}

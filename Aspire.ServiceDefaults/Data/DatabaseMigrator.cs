using System.Reflection;
using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ModelOps.ServiceDefaults.Data;

/// <summary>Applies versioned SQL scripts with DbUp, safely from several replicas at once.</summary>
public static partial class DatabaseMigrator
{
    // DbUp takes no lock of its own: replicas starting together would each see an empty journal and
    // run the same scripts. A session-level advisory lock (scoped to the database) makes them take turns;
    // the second finds the journal complete and applies nothing.
    private const long MigrationLockKey = 0x4D6F64656C4F7073; // "ModelOps"

    /// <summary>Applies, in order, the embedded <c>*.sql</c> scripts of each assembly not yet in the journal.</summary>
    public static async Task MigrateAsync(
        string connectionString, IReadOnlyList<Assembly> scriptAssemblies, ILogger logger, CancellationToken cancellationToken)
    {
        await using var lockConnection = new NpgsqlConnection(connectionString);
        await lockConnection.OpenAsync(cancellationToken);
        await using (var command = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", lockConnection))
        {
            command.Parameters.AddWithValue("key", MigrationLockKey);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            foreach (var assembly in scriptAssemblies.Distinct())
            {
                var upgrader = DeployChanges.To
                    .PostgresqlDatabase(connectionString)
                    .WithScriptsEmbeddedInAssembly(assembly, name => name.EndsWith(".sql", StringComparison.Ordinal))
                    .WithTransactionPerScript()
                    .JournalToPostgresqlTable("public", "schema_versions")
                    .LogTo(new DbUpLogger(logger))
                    .Build();

                var result = upgrader.PerformUpgrade();
                if (!result.Successful)
                {
                    throw new InvalidOperationException(
                        $"Migration {result.ErrorScript?.Name} of {assembly.GetName().Name} failed.", result.Error);
                }

                foreach (var script in result.Scripts)
                {
                    LogApplied(logger, script.Name);
                }
            }
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", lockConnection);
            unlock.Parameters.AddWithValue("key", MigrationLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Script}")]
    private static partial void LogApplied(ILogger logger, string script);

    private sealed class DbUpLogger(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => logger.LogTrace(format, args);
        public void LogDebug(string format, params object[] args) => logger.LogDebug(format, args);
        public void LogInformation(string format, params object[] args) => logger.LogDebug(format, args);
        public void LogWarning(string format, params object[] args) => logger.LogWarning(format, args);
        public void LogError(string format, params object[] args) => logger.LogError(format, args);
        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, format, args);
    }
}

using ModelOps.Hosting.Local;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Foundation.Tests;

public sealed class MigrationTests(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task TwoInstancesStartingAtOnceAgainstAnEmptyDatabaseShareOneCorrectSchema()
    {
        var environment = await infrastructure.CreateEnvironmentAsync(nameof(MigrationTests), TestContext.Current.CancellationToken);
        ServiceProcess Instance(string name) =>
            new ServiceProcess(name, new ServiceProjects.ModelOps_Ledger(), infrastructure.Context).WithConfiguration(environment.ServiceConfiguration("ledger"));

        ServiceProcess[] instances = [Instance("ledger-a"), Instance("ledger-b")];
        try
        {
            // Both become healthy, which each does only after its migrations succeeded.
            await Task.WhenAll(instances.Select(i => i.StartAsync(TestContext.Current.CancellationToken)));
        }
        finally
        {
            await Task.WhenAll(instances.Select(i => i.StopAsync()));
        }

        await using var connection = new NpgsqlConnection(environment.DatabaseConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var journal = new NpgsqlCommand("SELECT scriptname, count(*) FROM schema_versions GROUP BY scriptname", connection);
        var applied = new Dictionary<string, long>();
        await using (var reader = await journal.ExecuteReaderAsync(TestContext.Current.CancellationToken))
        {
            while (await reader.ReadAsync(TestContext.Current.CancellationToken))
            {
                applied[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        // The shared scripts, then the ledger's own (embedded under its namespace, from its Data/Migrations folder).
        var ledgerScripts = Directory.GetFiles(Path.Combine(LocalContext.RepositoryRoot, "services", "ledger", "Data", "Migrations"), "*.sql")
            .Select(path => $"ModelOps.Ledger.Data.Migrations.{Path.GetFileName(path)}");
        var expected = typeof(ModelOps.ServiceDefaults.Extensions).Assembly.GetManifestResourceNames()
            .Where(n => n.EndsWith(".sql", StringComparison.Ordinal)).Concat(ledgerScripts);
        Assert.Equal(expected.Order(), applied.Keys.Order());
        Assert.All(applied.Values, count => Assert.Equal(1, count));

        await using var tables = new NpgsqlCommand(
            "SELECT to_regclass('outbox_messages') IS NOT NULL AND to_regclass('inbox_messages') IS NOT NULL AND to_regclass('ledger_entries') IS NOT NULL",
            connection);
        Assert.True((bool)(await tables.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);
    }
}

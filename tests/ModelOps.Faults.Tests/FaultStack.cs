using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using ModelOps.Hosting.Local;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Faults.Tests;

/// <summary>
/// The ledger, tracking, the registry and drift as processes on a broker of their own (so a test may stop it), each on its own
/// database, with the helpers to take one away and to check that nothing was lost: every event any service committed
/// is in the ledger, each business fact is there once, and no queue holds a faulted message.
/// </summary>
public sealed class FaultStack(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    /// <summary>The services whose events are checked, in the order they start.</summary>
    public static readonly string[] Services = ["ledger", "tracking", "registry", "drift"];

    /// <summary>The running services.</summary>
    public TestStack Stack { get; private set; } = null!;

    /// <summary>Their broker.</summary>
    public LocalRabbitMq Broker { get; private set; } = null!;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        Broker = await infrastructure.StartDedicatedBrokerAsync("faults-broker");
        Stack = await TestStack.CreateAsync(infrastructure, "faults", Broker);
        await Stack.StartAsync("ledger", new ServiceProjects.ModelOps_Ledger(), settings: new Dictionary<string, string>
        {
            ["Ledger:SigningKeyPath"] = Path.Combine(infrastructure.Context.DirectoryFor(Stack.Shared.Name), "signing.key"),
            ["Ledger:CheckpointInterval"] = "00:00:00.200",
        });
        await Stack.StartAsync("tracking", new ServiceProjects.ModelOps_Tracking());
        await Stack.StartAsync("registry", new ServiceProjects.ModelOps_Registry(), ["tracking", "ledger"],
            new Dictionary<string, string> { ["ConnectionStrings:artifacts"] = Stack.Shared.ObjectStoreConnectionString });
        await Stack.StartAsync("drift", new ServiceProjects.ModelOps_Drift(), ["tracking"],
            new Dictionary<string, string> { ["Drift:ReportEvery"] = "00:00:00.500" });
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Stack.DisposeAsync();
        await Broker.StopAsync();
    }

    /// <summary>Headers for a caller in the workload's team.</summary>
    public Metadata As(string subject, string role) => Stack.As(subject, [role], ["faults"]);

    /// <summary>Takes <paramref name="service"/>'s database away as an operator would, or gives it back.</summary>
    public Task SetDatabaseAsync(string service, bool available) =>
        Outages.SetDatabaseAsync(infrastructure, new NpgsqlConnectionStringBuilder(Stack.DatabaseOf(service)).Database!, available);

    /// <summary>
    /// Waits until every service's outbox is published and every event in it is sequenced in the ledger; fails naming
    /// what is missing. Returns how many events the services have committed so far.
    /// </summary>
    public async Task<int> AllEventsInTheLedgerAsync(TimeSpan within)
    {
        var missing = new List<string>();
        var committed = 0;
        var converged = await Eventually.HoldsAsync(async () =>
        {
            missing.Clear();
            var ids = new List<Guid>();
            var types = new Dictionary<Guid, string>();
            foreach (var service in Services)
            {
                await using var connection = new NpgsqlConnection(Unpooled(service));
                await connection.OpenAsync(TestContext.Current.CancellationToken);
                // The ledger's announcements of its checkpoints are the one kind of event it does not record (by design).
                await using var outbox = new NpgsqlCommand(
                    "SELECT event_id, message_type, published_at IS NOT NULL FROM outbox_messages WHERE message_type NOT LIKE '%.CheckpointPublished,%'",
                    connection);
                await using var reader = await outbox.ExecuteReaderAsync(TestContext.Current.CancellationToken);
                while (await reader.ReadAsync(TestContext.Current.CancellationToken))
                {
                    ids.Add(reader.GetGuid(0));
                    types[reader.GetGuid(0)] = $"{service}: {reader.GetString(1).Split(',')[0]}";
                    if (!reader.GetBoolean(2))
                    {
                        missing.Add($"{service}: {reader.GetString(1)} {reader.GetGuid(0)} not published");
                    }
                }
            }

            committed = ids.Count;
            await using var ledger = new NpgsqlConnection(Unpooled("ledger"));
            await ledger.OpenAsync(TestContext.Current.CancellationToken);
            await using var sequenced = new NpgsqlCommand(
                "SELECT u.id FROM unnest($1::uuid[]) AS u(id) LEFT JOIN ledger_entries e ON e.event_id = u.id WHERE e.idx IS NULL", ledger);
            sequenced.Parameters.AddWithValue(ids.ToArray());
            await using var absent = await sequenced.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            while (await absent.ReadAsync(TestContext.Current.CancellationToken))
            {
                missing.Add($"{types[absent.GetGuid(0)]} {absent.GetGuid(0)} not in the ledger");
            }

            return missing.Count == 0;
        }, within);
        if (!converged)
        {
            // What the services concerned printed last (warnings and errors), so that a failure in CI says why.
            var concerned = missing.Select(m => m.Split(':')[0]).Distinct(StringComparer.Ordinal).Append("ledger").Distinct(StringComparer.Ordinal);
            var logs = concerned.Select(service => $"--- {service}:{Environment.NewLine}" + string.Join(Environment.NewLine,
                Stack.Process(service).RecentLines(200).Where(l => l.Contains("warn", StringComparison.OrdinalIgnoreCase) ||
                    l.Contains("fail", StringComparison.OrdinalIgnoreCase) || l.Contains("crit", StringComparison.OrdinalIgnoreCase)).TakeLast(15)));
            Assert.Fail($"{missing.Count} events are not in the ledger: {string.Join("; ", missing.Take(10))}{Environment.NewLine}{string.Join(Environment.NewLine, logs)}");
        }

        return committed;
    }

    /// <summary>How many ledger entries of an event type ending in <paramref name="type"/> have the subject <paramref name="kind"/> = each of <paramref name="values"/>.</summary>
    public async Task<Dictionary<string, long>> LedgerCountsAsync(string type, string kind, IReadOnlyCollection<string> values)
    {
        await using var ledger = new NpgsqlConnection(Unpooled("ledger"));
        await ledger.OpenAsync(TestContext.Current.CancellationToken);
        await using var count = new NpgsqlCommand(
            """
            SELECT s.value, count(*) FROM ledger_subjects s JOIN ledger_entries e USING (event_id)
            WHERE s.kind = $1 AND s.value = ANY($2) AND e.event_type LIKE '%.' || $3
            GROUP BY s.value
            """, ledger);
        count.Parameters.AddWithValue(kind);
        count.Parameters.AddWithValue(values.ToArray());
        count.Parameters.AddWithValue(type);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await count.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>One number from <paramref name="service"/>'s database.</summary>
    public async Task<long> CountAsync(string service, string sql, params object[] values)
    {
        await using var connection = new NpgsqlConnection(Unpooled(service));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.AddWithValue(value);
        }

        return Convert.ToInt64(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    // The test's own connections are not pooled: a pooled one would be among those a database outage ends.
    private string Unpooled(string service) => Stack.DatabaseOf(service) + ";Pooling=false";

    /// <summary>The queues of the broker that hold messages a consumer gave up on (MassTransit's <c>_error</c> and <c>_skipped</c>), with their depth.</summary>
    public async Task<Dictionary<string, long>> ParkedMessagesAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Broker.ManagementPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Broker.Username}:{Broker.Password}")));
        var queues = await http.GetFromJsonAsync<JsonElement>("api/queues", TestContext.Current.CancellationToken);
        var parked = queues.EnumerateArray().Select(q => q.GetProperty("name").GetString()!)
            .Where(name => name.EndsWith("_error", StringComparison.Ordinal) || name.EndsWith("_skipped", StringComparison.Ordinal));

        // The management API lists them; the broker itself counts them.
        return (await Outages.QueueDepthsAsync(Broker.ConnectionString, parked)).ToDictionary(q => q.Key, q => (long)q.Value, StringComparer.Ordinal);
    }
}

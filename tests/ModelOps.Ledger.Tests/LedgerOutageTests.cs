using System.Net.Http.Json;
using System.Text.Json;
using ModelOps.Ledger.V1;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Ledger.Tests;

/// <summary>
/// The ledger's database refuses connections for a minute while events keep coming: consumers retry the transient fault
/// without limit (health Degraded meanwhile), and once the database is back every event is in the ledger exactly once,
/// with nothing left in the error queue.
/// </summary>
public sealed class LedgerOutageTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(60);

    private LedgerProcess _ledger = null!;

    public async ValueTask InitializeAsync() => _ledger = await LedgerProcess.StartAsync(infrastructure, nameof(LedgerOutageTests));

    public ValueTask DisposeAsync() => _ledger.DisposeAsync();

    [Fact(Timeout = 300_000)]
    public async Task EveryEventLandsExactlyOnceAcrossAMinuteWithoutItsDatabase()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var bus = await _ledger.BusAsync();
        var model = $"outage-{Guid.NewGuid():N}";
        var events = new List<TestEvidenceRecorded>();
        async Task PublishAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var e = new TestEvidenceRecorded { Actor = "pipeline", Model = model, Score = events.Count };
                events.Add(e);
                await bus.Publish(e, cancellation);
                await Task.Delay(20, cancellation);
            }
        }

        await PublishAsync(100);
        var database = new NpgsqlConnectionStringBuilder(_ledger.Environment.DatabaseConnectionString).Database!;
        await Outages.SetDatabaseAsync(infrastructure, database, available: false);
        try
        {
            // Events keep arriving through the outage; the ledger cannot store them and must not park them.
            var stopAt = DateTime.UtcNow + Outage;
            while (DateTime.UtcNow < stopAt)
            {
                await PublishAsync(25);
                await Task.Delay(500, cancellation);
            }

            var health = await HealthAsync();
            Assert.NotEqual("Healthy", health.GetProperty("status").GetString());
            Assert.Equal("Degraded", health.GetProperty("checks").GetProperty("event-delivery").GetProperty("status").GetString());
        }
        finally
        {
            await Outages.SetDatabaseAsync(infrastructure, database, available: true);
        }

        await PublishAsync(100);
        var auditor = _ledger.As("auditor", "auditor");
        Assert.True(await Eventually.HoldsAsync(async () => (await RecordedAsync()).Count >= events.Count, TimeSpan.FromSeconds(120)),
            $"Only {(await RecordedAsync()).Count} of {events.Count} events were recorded.");
        await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
        var recorded = await RecordedAsync();
        Assert.Equal(events.Select(e => e.EventId.ToString()).Order(), recorded.Order());
        Assert.Equal(0u, (await Outages.QueueDepthsAsync(_ledger.Environment.BrokerConnectionString, ["ledger-integration-event_error"]))["ledger-integration-event_error"]);
        Assert.True(await Eventually.HoldsAsync(async () => (await HealthAsync()).GetProperty("status").GetString() == "Healthy", TimeSpan.FromSeconds(30)));

        async Task<List<string>> RecordedAsync()
        {
            var ids = new List<string>();
            var request = new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 };
            do
            {
                var page = await _ledger.Client.ListEntriesBySubjectAsync(request, auditor, cancellationToken: cancellation);
                ids.AddRange(page.Entries.Select(e => e.EventId));
                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0);

            return ids;
        }
    }

    private async Task<JsonElement> HealthAsync()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync($"{_ledger.HttpAddress}/health", TestContext.Current.CancellationToken);
        return await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
    }
}

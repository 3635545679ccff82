using ModelOps.Ledger.V1;
using ModelOps.Testing;

namespace ModelOps.Ledger.Tests;

/// <summary>The ledger killed with SIGKILL in the middle of a stream of events loses none and records none twice.</summary>
public sealed class LedgerCrashTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private LedgerProcess _ledger = null!;

    public async ValueTask InitializeAsync() => _ledger = await LedgerProcess.StartAsync(infrastructure, nameof(LedgerCrashTests));

    public ValueTask DisposeAsync() => _ledger.DisposeAsync();

    [Fact]
    public async Task EveryEventLandsExactlyOnceAcrossAKillOfTheLedger()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var bus = await _ledger.BusAsync();
        var model = $"crash-{Guid.NewGuid():N}";
        var events = Enumerable.Range(0, 3000).Select(i => new TestEvidenceRecorded { Actor = "pipeline", Model = model, Score = i }).ToList();
        var auditor = _ledger.As("auditor", "auditor");

        var publishing = Task.Run(async () =>
        {
            foreach (var e in events)
            {
                await bus.Publish(e, cancellation);
            }
        }, cancellation);

        // Kill once some, not all, of the stream is in.
        Assert.True(await Eventually.HoldsAsync(async () => await SizeAsync() >= 200, TimeSpan.FromSeconds(60)));
        await _ledger.KillAsync();
        var atKill = await Task.WhenAny(publishing, Task.Delay(0, cancellation)) == publishing;
        await publishing;
        await _ledger.RestartAsync();

        Assert.True(await Eventually.HoldsAsync(async () => await SizeAsync() >= events.Count, TimeSpan.FromSeconds(120)),
            $"Only {await SizeAsync()} of {events.Count} events were recorded (publishing had {(atKill ? "" : "not ")}finished at the kill).");
        await Task.Delay(TimeSpan.FromSeconds(1), cancellation);

        var recorded = new List<string>();
        var request = new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 };
        do
        {
            var page = await _ledger.Client.ListEntriesBySubjectAsync(request, auditor, cancellationToken: cancellation);
            recorded.AddRange(page.Entries.Select(e => e.EventId));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        Assert.Equal(events.Count, recorded.Count);
        Assert.Equal(events.Select(e => e.EventId.ToString()).Order(), recorded.Order());
        Assert.Equal(events.Count, await SizeAsync());

        // The tree stayed whole: the latest checkpoint verifies against every entry.
        var checkpoint = await _ledger.CheckpointCoveringAsync(events.Count);
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await ModelOps.Cli.ModelOpsCli.RunAsync(
            ["ledger", "verify", "--ledger", _ledger.Address, "--token", _ledger.Token("auditor", "auditor")], output, error, cancellation);
        Assert.True(code == 0, error.ToString());
        Assert.Contains($"OK: {checkpoint.TreeSize} entries", output.ToString());

        async Task<long> SizeAsync()
        {
            var entries = await _ledger.Client.GetEntriesAsync(new GetEntriesRequest { PageSize = 1 }, auditor, cancellationToken: cancellation);
            if (entries.Entries.Count == 0)
            {
                return 0;
            }

            try
            {
                return (await _ledger.Client.GetCheckpointAsync(new GetCheckpointRequest(), auditor, cancellationToken: cancellation)).TreeSize;
            }
            catch (Grpc.Core.RpcException)
            {
                return 0;
            }
        }
    }
}

using ModelOps.Hosting.Local;
using ModelOps.Foundation.Tests.Probe;
using ModelOps.Testing;

namespace ModelOps.Foundation.Tests;

/// <summary>Stops and restarts a broker of its own, so other classes keep theirs.</summary>
public sealed class BrokerOutageTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private LocalRabbitMq _broker = null!;
    private ProbeHost _host = null!;

    public async ValueTask InitializeAsync()
    {
        var environment = await infrastructure.CreateEnvironmentAsync(nameof(BrokerOutageTests));
        _broker = await infrastructure.StartDedicatedBrokerAsync("outage-broker");
        _host = await ProbeHost.StartAsync(environment, _broker.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _broker.StopAsync();
    }

    [Fact]
    public async Task EventsWrittenWhileTheBrokerIsDownAreAllDeliveredOnceItReturns()
    {
        await _broker.StopAsync();
        var probes = Enumerable.Range(0, 20).Select(i => new ProbeRecorded { Actor = "test", Probe = $"outage-{i}" }).ToList();
        foreach (var probe in probes)
        {
            await _host.WriteAsync([probe]);
        }

        // With no broker, nothing can be confirmed: every event waits in the outbox.
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
        Assert.Equal(probes.Count, await _host.PendingAsync());
        Assert.Empty(await _host.EffectsAsync());

        await _broker.StartAsync(TestContext.Current.CancellationToken);

        Assert.True(await Eventually.HoldsAsync(
            async () => { var seen = await _host.EffectsAsync(); return probes.All(p => seen.ContainsKey(p.EventId)); }, TimeSpan.FromSeconds(90)));
        var effects = await _host.EffectsAsync();
        Assert.All(probes, probe => Assert.Equal(1, effects[probe.EventId]));
        Assert.Equal(0, await _host.PendingAsync());
    }
}

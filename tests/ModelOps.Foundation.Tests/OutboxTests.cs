using System.Diagnostics;
using ModelOps.Foundation.Tests.Probe;
using ModelOps.Testing;

namespace ModelOps.Foundation.Tests;

public sealed class OutboxTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private ProbeHost _host = null!;

    public async ValueTask InitializeAsync() =>
        _host = await ProbeHost.StartAsync(await infrastructure.CreateEnvironmentAsync(nameof(OutboxTests)));

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    [Fact]
    public async Task CommittedEventIsDeliveredAndActedOnOnce()
    {
        var probe = new ProbeRecorded { Actor = "test", Probe = "committed" };

        await _host.WriteAsync([probe]);

        Assert.True(await Eventually.HoldsAsync(async () => (await _host.EffectsAsync()).ContainsKey(probe.EventId), TimeSpan.FromSeconds(30)));
        Assert.Equal(1, (await _host.EffectsAsync())[probe.EventId]);
        Assert.True(await Eventually.HoldsAsync(async () => await _host.PendingAsync() == 0, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task RolledBackTransactionPublishesNothing()
    {
        var rolledBack = new ProbeRecorded { Actor = "test", Probe = "rolled-back" };
        var committed = new ProbeRecorded { Actor = "test", Probe = "after" };

        await _host.WriteAsync([rolledBack], commit: false);
        await _host.WriteAsync([committed]);

        // The relay publishes in commit order, so once the later event is handled the earlier one had its chance.
        Assert.True(await Eventually.HoldsAsync(async () => (await _host.EffectsAsync()).ContainsKey(committed.EventId), TimeSpan.FromSeconds(30)));
        Assert.False((await _host.EffectsAsync()).ContainsKey(rolledBack.EventId));
        Assert.Equal(0, await _host.OutboxRowsAsync(rolledBack.EventId));
    }

    [Fact]
    public async Task ConsumerReceivingTheSameEventIdTwiceActsOnce()
    {
        var probe = new ProbeRecorded { Actor = "test", Probe = "duplicate" };

        // Published directly, twice, as a relay would after a crash between the broker's confirm and the mark.
        await _host.Bus.Publish(probe, TestContext.Current.CancellationToken);
        await _host.Bus.Publish(probe, TestContext.Current.CancellationToken);

        Assert.True(await Eventually.HoldsAsync(
            () => Task.FromResult(_host.Duplicates.EventIds.Contains(probe.EventId)), TimeSpan.FromSeconds(30)));
        Assert.Equal(1, (await _host.EffectsAsync())[probe.EventId]);
    }

    [Fact]
    public async Task APublishThatNeverReturnsDoesNotHoldTheRelay()
    {
        // The first publish of this event never completes and ignores its cancellation; the relay gives up on it after
        // its timeout (3 s here), publishes it again, and goes on with the events committed after it.
        var stalled = new ProbeRecorded { Actor = "test", Probe = StallingPublishObserver.Prefix };
        var later = new ProbeRecorded { Actor = "test", Probe = "after-the-stall" };

        await _host.WriteAsync([stalled]);
        await _host.WriteAsync([later]);

        Assert.True(await Eventually.HoldsAsync(
            async () => { var seen = await _host.EffectsAsync(); return seen.ContainsKey(stalled.EventId) && seen.ContainsKey(later.EventId); },
            TimeSpan.FromSeconds(30)));
        Assert.Equal(1, (await _host.EffectsAsync())[stalled.EventId]);
        Assert.True(await Eventually.HoldsAsync(async () => await _host.PendingAsync() == 0, TimeSpan.FromSeconds(10)));
        Assert.Null(_host.OutboxHealth.FailingFor);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, _host.OutboxHealth.Liveness().Status);
    }

    [Fact]
    public async Task ManyEventsInOneTransactionAreAllDeliveredOnce()
    {
        var probes = Enumerable.Range(0, 500).Select(i => new ProbeRecorded { Actor = "test", Probe = $"batch-{i}" }).ToList();

        await _host.WriteAsync(probes);

        Assert.True(await Eventually.HoldsAsync(
            async () => { var seen = await _host.EffectsAsync(); return probes.All(p => seen.ContainsKey(p.EventId)); }, TimeSpan.FromSeconds(60)));
        var effects = await _host.EffectsAsync();
        Assert.All(probes, probe => Assert.Equal(1, effects[probe.EventId]));
    }

    [Fact]
    public async Task ConsumerRunsInTheTraceOfTheRequestThatWroteTheEvent()
    {
        // What OpenTelemetry does in a service: listen, so that activities are created and context flows.
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("ModelOps.Foundation.Tests");
        var probe = new ProbeRecorded { Actor = "test", Probe = "traced" };
        string requestTrace;

        using (var request = source.StartActivity("request", ActivityKind.Server))
        {
            requestTrace = request!.TraceId.ToHexString();
            await _host.WriteAsync([probe]);
        }

        Assert.True(await Eventually.HoldsAsync(async () => (await _host.EffectsAsync()).ContainsKey(probe.EventId), TimeSpan.FromSeconds(30)));
        Assert.Equal(requestTrace, await _host.TraceOfEffectAsync(probe.EventId));
    }
}

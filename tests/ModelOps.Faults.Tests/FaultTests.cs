using ModelOps.Testing;

namespace ModelOps.Faults.Tests;

/// <summary>
/// Faults injected while a pipeline, a reviewer and serving traffic work without pause: a minute without one service's database, a
/// minute without the broker, a SIGKILL of each service. After each, every event any service committed is in the ledger,
/// every acknowledged run, version, request and approval is there exactly once, and no queue holds a message a
/// consumer gave up on.
/// </summary>
public sealed class FaultTests(FaultStack world) : IClassFixture<FaultStack>
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(60);

    [Theory(Timeout = 300_000)]
    [InlineData("tracking")]
    [InlineData("registry")]
    [InlineData("ledger")]
    [InlineData("drift")]
    public async Task AMinuteWithoutOneServicesDatabaseLosesNoEvidence(string service)
    {
        await UnderFaultAsync(service + "-db", async () =>
        {
            await world.SetDatabaseAsync(service, available: false);
            try
            {
                await Task.Delay(Outage, TestContext.Current.CancellationToken);
            }
            finally
            {
                await world.SetDatabaseAsync(service, available: true);
            }
        });
    }

    [Fact(Timeout = 300_000)]
    public async Task AMinuteWithoutTheBrokerLosesNoEvidence()
    {
        await UnderFaultAsync("broker", async () =>
        {
            await world.Broker.StopAsync();
            try
            {
                await Task.Delay(Outage, TestContext.Current.CancellationToken);
            }
            finally
            {
                await world.Broker.StartAsync(TestContext.Current.CancellationToken);
            }
        });
    }

    [Theory(Timeout = 300_000)]
    [InlineData("tracking")]
    [InlineData("registry")]
    [InlineData("ledger")]
    [InlineData("drift")]
    public async Task AKilledServiceLosesNoEvidence(string service)
    {
        await UnderFaultAsync(service + "-kill", async () =>
        {
            await world.Stack.KillAsync(service);
            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            await world.Stack.RestartAsync(service);
        });
    }

    private async Task UnderFaultAsync(string name, Func<Task> fault)
    {
        var workload = await Workload.CreateAsync(world, name);
        using var stop = new CancellationTokenSource();
        var running = workload.RunAsync(stop.Token);

        // Some rounds before the fault, the fault while the workload goes on, some rounds after it.
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(workload.Approved.Count >= 3 || running.IsCompleted), TimeSpan.FromSeconds(60)),
            "The workload made no progress before the fault.");
        await AssertStillRunningAsync(running);
        await fault();
        var after = workload.Approved.Count;
        var progressed = await Eventually.HoldsAsync(
            () => Task.FromResult(workload.Approved.Count >= after + 3 || running.IsCompleted), TimeSpan.FromSeconds(120));
        await AssertStillRunningAsync(running);
        Assert.True(progressed, "The workload made no progress after the fault.");
        await stop.CancelAsync();
        await running;

        var committed = await world.AllEventsInTheLedgerAsync(TimeSpan.FromSeconds(120));
        Assert.True(committed > 0);
        await AssertOnceAsync("RunStarted", "run_id", workload.Started);
        await AssertOnceAsync("RunFinished", "run_id", workload.Finished);

        // Nothing acknowledged twice made a second object: one run per round, one version per run, one request per version.
        Assert.Equal(workload.Started.Count, await world.CountAsync("tracking", "SELECT count(*) FROM runs WHERE experiment_id = $1", long.Parse(workload.ExperimentId, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(workload.Registered.Count, await world.CountAsync("registry", "SELECT count(*) FROM model_versions WHERE model = $1", workload.Model));
        Assert.Equal(workload.Requested.Count, await world.CountAsync("registry", "SELECT count(*) FROM promotion_requests WHERE model = $1", workload.Model));
        var versions = workload.Registered.Select(v => $"{workload.Model}/{v}").ToList();
        Assert.Equal(workload.Registered.Count, workload.Approved.Count); // every round ran to its end
        await AssertOnceAsync("ModelVersionRegistered", "model_version", versions);
        await AssertOnceAsync("PromotionRequested", "model_version", versions);
        await AssertOnceAsync("PromotionApproved", "model_version", versions);

        // Drift reported the served traffic's windows through the fault, and its watch is in the ledger once.
        Assert.True(await world.CountAsync("drift", "SELECT count(*) FROM window_reports WHERE model = $1", workload.Model) > 0, "Drift reported no window.");
        await AssertOnceAsync("WatchChanged", "model_version", [$"{workload.Model}/{Workload.ServedVersion}"]);

        Assert.All(await world.ParkedMessagesAsync(), queue => Assert.True(queue.Value == 0, $"{queue.Key} holds {queue.Value} messages"));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{name}: {workload.Approved.Count} rounds, {workload.Retries} retried calls, {committed} events committed so far, all in the ledger, " +
            $"{await world.CountAsync("drift", "SELECT count(*) FROM window_reports WHERE model = $1", workload.Model)} drift windows reported, " +
            $"{(await world.LedgerCountsAsync("DriftDetected", "model", [workload.Model])).GetValueOrDefault(workload.Model)} drifts announced");
    }

    private async Task AssertOnceAsync(string type, string kind, IReadOnlyCollection<string> values)
    {
        var counts = await world.LedgerCountsAsync(type, kind, values);
        var wrong = values.Where(v => counts.GetValueOrDefault(v) != 1).Select(v => $"{v}: {counts.GetValueOrDefault(v)}").ToList();
        Assert.True(wrong.Count == 0, $"{type} is not in the ledger exactly once for {wrong.Count} of {values.Count}: {string.Join(", ", wrong.Take(10))}");
    }

    private static async Task AssertStillRunningAsync(Task running)
    {
        if (running.IsCompleted)
        {
            await running; // throws what stopped the workload
            Assert.Fail("The workload stopped.");
        }
    }
}

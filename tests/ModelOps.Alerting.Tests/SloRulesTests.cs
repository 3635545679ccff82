using ModelOps.Testing;

namespace ModelOps.Alerting.Tests;

/// <summary>
/// The service-level objectives shipped in deploy/prometheus, checked by Prometheus's own promtool: the rules load, and
/// on synthetic series they fire exactly the alerts (labels and annotations) their unit-test file expects.
/// </summary>
public sealed class SloRulesTests
{
    private static readonly string Rules = Path.Combine(ChildProcess.RepositoryRoot(), "deploy", "prometheus");

    [Fact(Timeout = 60_000)]
    public async Task TheObjectivesLoadAndFireWhatTheirUnitTestsExpect()
    {
        var (exit, output) = await ChildProcess.RunAsync("promtool", ["check", "rules", "modelops.rules.yml"], Rules, null, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS: 7 rules found", output, StringComparison.Ordinal);
        (exit, output) = await ChildProcess.RunAsync("promtool", ["test", "rules", "modelops.rules.test.yml"], Rules, null, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }
}

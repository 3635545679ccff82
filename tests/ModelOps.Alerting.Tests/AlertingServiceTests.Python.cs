using ModelOps.Testing;

namespace ModelOps.Alerting.Tests;

/// <summary>The Python package's alerting client (clients/python/tests/test_alerting.py) against the service.</summary>
public sealed partial class AlertingServiceTests
{
    [Fact(Timeout = 120_000)]
    public async Task ThePythonAlertingClientPassesItsSuiteAgainstTheService()
    {
        var address = new Uri(_stack.GrpcAddress("alerting"));
        var (exit, output) = await ChildProcess.RunPythonTestsAsync(["tests.test_alerting"], new Dictionary<string, string>
        {
            ["MODELOPS_ALERTING_TARGET"] = $"{address.Host}:{address.Port}",
            ["MODELOPS_TOKEN"] = _stack.Shared.Tokens.CreateToken("python-reviewer", ["reviewer"]),
            ["MODELOPS_TEST_PIPELINE_TOKEN"] = _stack.Shared.Tokens.CreateToken("python-pipeline", ["pipeline"]),
        }, Cancellation);
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("skipped", output, StringComparison.Ordinal);
        Assert.Matches(@"Ran [1-9]\d* tests", output);
    }
}

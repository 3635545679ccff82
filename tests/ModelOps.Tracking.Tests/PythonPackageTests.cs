using ModelOps.Testing;

namespace ModelOps.Tracking.Tests;

/// <summary>
/// The Python package's tracking, error and stack-discovery tests (clients/python/tests/test_tracking.py, test_errors.py,
/// test_stack.py), run with Debian's /usr/bin/python3 and python3-grpcio against a real tracking service: it logs a run
/// with params, 10,000 metric points, a dataset input, provenance and a 100 MiB artifact, and reads everything back. The drift client's
/// tests run against a drift service in DriftServiceTests.
/// </summary>
public sealed class PythonPackageTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private TrackingProcess _tracking = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _tracking = await TrackingProcess.StartAsync(infrastructure, nameof(PythonPackageTests));

    public ValueTask DisposeAsync() => _tracking.DisposeAsync();

    [Fact]
    public async Task ThePythonSuitePassesAgainstTheService()
    {
        var address = new Uri(_tracking.Channel.Target.StartsWith("http", StringComparison.Ordinal) ? _tracking.Channel.Target : $"http://{_tracking.Channel.Target}");
        var (exit, output) = await ChildProcess.RunPythonTestsAsync(["tests.test_tracking", "tests.test_errors", "tests.test_stack"], new Dictionary<string, string>
        {
            ["MODELOPS_TRACKING_TARGET"] = $"{address.Host}:{address.Port}",
            ["MODELOPS_TOKEN"] = _tracking.Environment.Tokens.CreateToken("python-pipeline", ["pipeline"]),
        }, Cancellation);
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("skipped", output, StringComparison.Ordinal);
        Assert.Matches(@"Ran [1-9]\d* tests", output);
    }
}

using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Testing;
using ModelOps.Tracking.V1;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    /// <summary>
    /// An MLflow client, unchanged (npm mlflow 2.0.7), pointed at the stack's MLflow-compatible API with a pipeline token:
    /// what it logs is read back through tracking's gRPC API and the CLI, field by field.
    /// </summary>
    [Fact(Timeout = 180_000)]
    public async Task TheNpmMlflowClientsRunIsReadBackIdenticallyThroughGrpcAndTheCli()
    {
        var root = ChildProcess.RepositoryRoot();
        var experimentName = $"npm-{Guid.NewGuid():N}"[..16];
        var (exit, output) = await ChildProcess.RunAsync("node",
            [Path.Combine(AppContext.BaseDirectory, "Mlflow", "npm-client.js"), running.ServiceHttpAddresses["mlflow"], running.Token("pipeline"), experimentName],
            root, new Dictionary<string, string> { ["MLFLOW_NPM"] = Path.Combine(root, "scripts", "node_modules", "mlflow") }, Cancellation);
        Assert.True(exit == 0, output);
        Assert.Contains("15 passed, 0 failed", output, StringComparison.Ordinal);
        using var logged = JsonDocument.Parse(output.Split('\n').Single(l => l.StartsWith("RESULT ", StringComparison.Ordinal))["RESULT ".Length..]);
        var runId = logged.RootElement.GetProperty("run_id").GetString()!;

        // Through gRPC, as an auditor reads it.
        using var channel = GrpcChannel.ForAddress(running.ServiceGrpcAddresses["tracking"]);
        var tracking = new TrackingService.TrackingServiceClient(channel);
        var auditor = new Metadata { { "Authorization", $"Bearer {running.Token("auditor")}" } };
        var run = await tracking.GetRunAsync(new GetRunRequest { RunId = runId }, auditor, cancellationToken: Cancellation);
        var experiment = await tracking.GetExperimentAsync(new GetExperimentRequest { ExperimentId = run.ExperimentId }, auditor, cancellationToken: Cancellation);
        Assert.Equal(logged.RootElement.GetProperty("experiment_id").GetString(), run.ExperimentId);
        Assert.Equal(experimentName, experiment.Name);
        Assert.Equal(("npm-run", RunStatus.Finished, LifecycleStage.Active), (run.RunName, run.Status, run.LifecycleStage));
        Assert.Equal(logged.RootElement.GetProperty("params").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), run.Params);
        foreach (var tag in logged.RootElement.GetProperty("tags").EnumerateObject())
        {
            Assert.Equal(tag.Value.GetString(), run.Tags[tag.Name]);
        }

        Assert.Equal("a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", run.Provenance.GitSha);
        var sent = logged.RootElement.GetProperty("metrics").EnumerateArray()
            .Select(m => (Key: m.GetProperty("key").GetString()!, Value: m.GetProperty("value").GetDouble(), Timestamp: m.GetProperty("timestamp").GetInt64(), Step: m.GetProperty("step").GetInt64()))
            .ToList();
        foreach (var key in sent.Select(m => m.Key).Distinct())
        {
            var history = await tracking.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = runId, MetricKey = key }, auditor, cancellationToken: Cancellation);
            Assert.Equal(sent.Where(m => m.Key == key).Select(m => (m.Value, m.Timestamp, m.Step)), history.Metrics.Select(m => (m.Value, m.Timestamp, m.Step)));
        }

        // Through the CLI.
        var cliOutput = new StringWriter();
        var cliError = new StringWriter();
        var cliExit = await ModelOps.Cli.ModelOpsCli.RunAsync(
            ["runs", "show", runId, "--tracking", running.ServiceGrpcAddresses["tracking"], "--token", running.Token("auditor"), "--json"], cliOutput, cliError, Cancellation);
        Assert.True(cliExit == 0, cliError.ToString());
        using var shown = JsonDocument.Parse(cliOutput.ToString());
        var shownRun = shown.RootElement;
        Assert.Equal("npm-run", shownRun.GetProperty("runName").GetString());
        Assert.Equal("0.1", shownRun.GetProperty("params").GetProperty("lr").GetString());
        Assert.Equal("risk", shownRun.GetProperty("tags").GetProperty("team").GetString());
    }
}

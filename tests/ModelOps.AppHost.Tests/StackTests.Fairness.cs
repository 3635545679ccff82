using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.Fairness.V1;
using ModelOps.Ledger.V1;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    [Fact(Timeout = 300_000)]
    public async Task ABiasedCreditModelIsBlockedItsMitigatedSuccessorServesAndBiasInItsTrafficReachesTheReviewersAndTheLedger()
    {
        var stack = running;
        var model = $"fair-{Guid.NewGuid():N}"[..16];

        // The model's policy: demographic parity between the sexes of at least 0.8 (the four-fifths rule), and a reviewer.
        using var registryChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["registry"]);
        var registry = new Registry.V1.RegistryService.RegistryServiceClient(registryChannel);
        await registry.CreateRegisteredModelAsync(new Registry.V1.CreateRegisteredModelRequest { Name = model, RiskTier = Registry.V1.RiskTier.Low, Owner = "ml-team" },
            Bearer(stack.Token("pipeline")), cancellationToken: Cancellation);
        var policy = Path.Combine(stack.StateDirectory, $"{model}.policy.json");
        await File.WriteAllTextAsync(policy, """
            {"rules": [{"stages": ["STAGE_PRODUCTION"], "gates": [
              {"name": "parity", "remote": {"service": "fairness", "gate": "fairness.demographic_parity_ratio", "parameters": {"min": "0.8", "grouping": "sex"}}},
              {"name": "review", "approval": {"required": 1}}]}]}
            """, Cancellation);
        var (exit, _, error) = await CliAsync("models", "policy", "set", model, "--file", policy, "--reason", "the four-fifths rule between the sexes",
            "--registry", stack.ServiceGrpcAddresses["registry"], "--token", stack.Token("admin"));
        Assert.True(exit == 0, error);

        // The Python pipeline: its biased model is blocked with the disparity and its interval; the mitigated one passes.
        var package = await ChildProcess.PreparePythonPackageAsync(Cancellation);
        string Target(string service) => new Uri(stack.ServiceGrpcAddresses[service]) is var uri ? $"{uri.Host}:{uri.Port}" : "";
        (exit, var output) = await ChildProcess.RunAsync("/usr/bin/python3", [Path.Combine(package, "examples", "fair_credit.py"), "--model", model], package,
            new Dictionary<string, string>
            {
                ["MODELOPS_TRACKING_TARGET"] = Target("tracking"), ["MODELOPS_REGISTRY_TARGET"] = Target("registry"), ["MODELOPS_FAIRNESS_TARGET"] = Target("fairness"),
                ["MODELOPS_TOKEN"] = stack.Token("pipeline"), ["PYTHONPATH"] = package, ["PYTHONDONTWRITEBYTECODE"] = "1",
            }, Cancellation);
        Assert.True(exit == 0, output);
        var result = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last(l => l.StartsWith('{'))).RootElement;
        var first = result.GetProperty("first");
        var parity = first.GetProperty("gates").EnumerateArray().Single(g => g[0].GetString() == "parity");
        Assert.Equal("FAIL", parity[1].GetString());
        Assert.StartsWith("demographic_parity_ratio of sex is 0.", parity[2].GetString(), StringComparison.Ordinal);
        Assert.True(first.GetProperty("dp_ratio").GetDouble() < 0.8);
        var interval = first.GetProperty("interval").EnumerateArray().Select(v => v.GetDouble()).ToList();
        Assert.True(interval[0] <= first.GetProperty("dp_ratio").GetDouble() && first.GetProperty("dp_ratio").GetDouble() <= interval[1]);
        Assert.True(result.GetProperty("mitigation").GetProperty("disparity")[1].GetDouble() <= 0.02 + 1e-9);
        var second = result.GetProperty("second");
        Assert.Equal("PASS", second.GetProperty("gates").EnumerateArray().Single(g => g[0].GetString() == "parity")[1].GetString());
        var approved = await registry.ApprovePromotionAsync(new Registry.V1.ReviewPromotionRequest { RequestId = second.GetProperty("request_id").GetString(), Comment = "parity restored" },
            Bearer(stack.Token("reviewer")), cancellationToken: Cancellation);
        Assert.Equal(Registry.V1.RequestState.Approved, approved.State);

        // The HTML report of the blocked version shows its groups.
        using var fairnessChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["fairness"]);
        var fairness = new FairnessService.FairnessServiceClient(fairnessChannel);
        var page = await fairness.RenderReportAsync(new GetReportRequest { Id = first.GetProperty("report_id").GetString() }, Bearer(stack.Token("reviewer")),
            cancellationToken: Cancellation);
        Assert.Contains("sex=F", page.Html, StringComparison.Ordinal);
        Assert.Contains("age_band=(missing)", page.Html, StringComparison.Ordinal);

        // In Production its decisions are watched: the serving system sends each record once, to drift.
        var version = second.GetProperty("version").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var driftChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["drift"]);
        DriftClient Drift(string role)
        {
            var token = stack.Token(role);
            return new DriftClient(driftChannel.Intercept(metadata =>
            {
                metadata.Add("Authorization", $"Bearer {token}");
                return metadata;
            }));
        }

        var pipeline = Drift("pipeline");
        var serving = Drift("service");
        await pipeline.Raw.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = model, Version = version, RunId = second.GetProperty("run_id").GetString(), ArtifactPath = "eval.csv", Window = new WindowPolicy { Records = 800 },
            PredictionColumn = "prediction", Task = ModelOps.Drift.V1.ModelTask.BinaryClassification,
        }, cancellationToken: Cancellation);
        await pipeline.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest
        {
            Reason = "watch the sexes' approval rates", Policy = new MonitoringPolicy { Model = model, Fairness = new FairnessWatch { SensitiveColumns = { "sex" } } },
        }, cancellationToken: Cancellation);
        Assert.True(await Eventually.HoldsAsync(async () => (await serving.Raw.GetStatusAsync(new GetStatusRequest(), cancellationToken: Cancellation)).Models
            .Any(m => m.Model == model && m.Version == version && m.Watched), TimeSpan.FromSeconds(60)), "the drift service never started watching the version");

        // A fair window, then one where women are approved far less often.
        var random = new Random(5);
        for (var window = 0; window < 2; window++)
        {
            var records = Enumerable.Range(0, 800).Select(i =>
            {
                var woman = random.NextDouble() < 0.45;
                var approvedRate = window == 1 && woman ? 0.25 : 0.6;
                return new InferenceRecord
                {
                    Model = model, Version = version, Features = { ["sex"] = Value.ForString(woman ? "F" : "M"), ["age_band"] = Value.ForString("26-45") },
                    Prediction = Value.ForNumber(random.NextDouble() < approvedRate ? 1 : 0),
                };
            }).ToList();
            Assert.Equal(800, (await serving.IngestAsync(records, Cancellation)).Accepted);
        }

        ListReportsResponse windows = null!;
        Assert.True(await Eventually.HoldsAsync(async () => (windows = await fairness.ListWindowReportsAsync(new ListReportsRequest { Model = model, Version = version },
            Bearer(stack.Token("reviewer")), cancellationToken: Cancellation)).Reports.Count == 2, TimeSpan.FromSeconds(60)), "fairness never judged both windows");
        Assert.Equal([true, false], windows.Reports.Select(r => r.Window.Biased));

        // BiasDetected reaches the fairness reviewers through alerting, and the ledger.
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(stack.Receivers.At("/fairness")
            .Any(m => m.Body.GetRawText().Contains(model, StringComparison.Ordinal) && m.Body.GetRawText().Contains("BiasDetected", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(60)), "no BiasDetected notification reached /fairness");
        using var ledgerChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["ledger"]);
        var ledger = new LedgerService.LedgerServiceClient(ledgerChannel);
        Assert.True(await Eventually.HoldsAsync(async () => (await ledger.ListEntriesBySubjectAsync(
                new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 }, Bearer(stack.Token("auditor")), cancellationToken: Cancellation)).Entries
            .Any(e => e.EventType.Contains(".BiasDetected", StringComparison.Ordinal)), TimeSpan.FromSeconds(60)), "BiasDetected is not in the ledger");
    }
}

using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Ledger.V1;
using ModelOps.Registry.V1;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact(Timeout = 600_000)]
    public async Task APipelinesModelReachesProductionOnlyThroughItsGatesAndTwoReviewersAndTheLedgerHoldsEveryStep()
    {
        var stack = running;
        var model = $"credit-{Guid.NewGuid():N}"[..18];
        using var registryChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["registry"]);
        var registry = new RegistryService.RegistryServiceClient(registryChannel);
        var pipeline = Bearer(stack.Token("pipeline"));
        var reviewers = new[] { Bearer(stack.Token("reviewer")), Bearer(stack.Token("reviewer-2")) };

        // The model and its policy, set by an admin through the CLI.
        await registry.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = model, RiskTier = RiskTier.High, Owner = "ml-team" }, pipeline,
            cancellationToken: Cancellation);
        var policy = Path.Combine(stack.StateDirectory, $"{model}.policy.json");
        await File.WriteAllTextAsync(policy, """
            {"rules": [{"stages": ["STAGE_PRODUCTION"], "gates": [
              {"name": "provenance", "provenance": {}},
              {"name": "integrity", "artifactIntegrity": {}},
              {"name": "auc", "metricThreshold": {"metric": "auc", "comparison": "COMPARISON_GREATER_OR_EQUAL", "threshold": 0.75}},
              {"name": "ks", "metricThreshold": {"metric": "ks", "comparison": "COMPARISON_GREATER_OR_EQUAL", "threshold": 0.3}},
              {"name": "subgroups", "metricThreshold": {"metric": "auc_group__*", "comparison": "COMPARISON_GREATER_OR_EQUAL", "threshold": 0.7}},
              {"name": "model-card", "evidence": {"artifactPath": "model_card.md"}},
              {"name": "security", "evidence": {"artifactPath": "reviews/security.json", "jsonField": "decision", "expected": "PASS"}},
              {"name": "approvals", "approval": {"required": 2}}]}]}
            """, Cancellation);
        var (exit, output, error) = await CliAsync("models", "policy", "set", model, "--file", policy, "--reason", "credit decisioning: evidence and four eyes",
            "--registry", stack.ServiceGrpcAddresses["registry"], "--token", stack.Token("admin"));
        Assert.True(exit == 0, error);
        Assert.Equal($"policy v1 of {model} in effect", output.Trim());

        // A Python pipeline logs its run, registers the model and asks for Production: every gate but the reviewers passes.
        var before = DateTimeOffset.UtcNow;
        var first = await PipelineAsync(model);
        Assert.Equal((1, "OPEN"), (first.Version, first.State));
        Assert.All(first.Gates.Where(g => g[0] != "approvals"), g => Assert.True(g[1] == "PASS", string.Join(" ", g)));
        Assert.Equal(["approvals", "PENDING", "0 of 2 approvals from reviewers other than the requester and the run's author"], first.Gates.Single(g => g[0] == "approvals"));

        var request = await ApproveAsync(registry, reviewers[0], first.RequestId);
        Assert.Equal(RequestState.Open, request.State);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => DeployableAsync(registry, pipeline, model))).StatusCode);
        request = await ApproveAsync(registry, reviewers[1], first.RequestId);
        Assert.Equal((RequestState.Approved, "dev-reviewer-2"), (request.State, request.DecidedBy));
        var afterFirst = DateTimeOffset.UtcNow;

        // The same flow with a provenance field missing is blocked, naming the field, however many reviewers approve.
        var blocked = await PipelineAsync(model, "--omit", "container_digest");
        Assert.Equal(["provenance", "FAIL", "the run's provenance lacks: container_digest"], blocked.Gates.Single(g => g[0] == "provenance"));
        await ApproveAsync(registry, reviewers[0], blocked.RequestId);
        request = await ApproveAsync(registry, reviewers[1], blocked.RequestId);
        Assert.Equal(RequestState.Open, request.State);
        Assert.Equal(1, (await DeployableAsync(registry, pipeline, model)).Version);

        // Two more promotions: "what was in Production at T" across all three.
        var instants = new List<(DateTimeOffset At, int? Version)> { (before, null), (afterFirst, 1) };
        for (var promotion = 0; promotion < 2; promotion++)
        {
            var next = await PipelineAsync(model);
            await ApproveAsync(registry, reviewers[0], next.RequestId);
            Assert.Equal(RequestState.Approved, (await ApproveAsync(registry, reviewers[1], next.RequestId)).State);
            instants.Add((DateTimeOffset.UtcNow, next.Version));
        }

        Assert.Equal([null, 1, 3, 4], instants.Select(i => i.Version));
        foreach (var (at, version) in instants)
        {
            var held = await registry.GetAssignmentsAtAsync(new GetAssignmentsAtRequest
            {
                Model = model, Target = new Target { Stage = Stage.Production }, At = Timestamp.FromDateTimeOffset(at),
            }, pipeline, cancellationToken: Cancellation);
            Assert.Equal(version is null ? [] : [version.Value], held.Assignments.Select(a => a.Version));
        }

        // Every step reaches the ledger through the outbox and the bus.
        using var ledgerChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["ledger"]);
        var ledger = new LedgerService.LedgerServiceClient(ledgerChannel);
        var auditor = Bearer(stack.Token("auditor"));
        var expected = new Dictionary<string, int>
        {
            ["RegisteredModelCreated"] = 1, ["PolicyChanged"] = 1, ["ModelVersionRegistered"] = 4, ["PromotionRequested"] = 4,
            ["GateEvaluated"] = 12, ["PromotionApproved"] = 8, ["PromotionDecided"] = 3,
            ["StageChanged"] = 5, // v1, v3, v4 into Production; v1 and v3 archived as their successors arrived
        };
        Dictionary<string, int> recorded = [];
        var complete = await Eventually.HoldsAsync(async () =>
        {
            var entries = (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 }, auditor,
                cancellationToken: Cancellation)).Entries;
            recorded = entries.GroupBy(e => e.EventType.Split(',')[0].Split('.')[^1]).ToDictionary(g => g.Key, g => g.Count());
            return recorded.Count == expected.Count && expected.All(e => recorded.GetValueOrDefault(e.Key) == e.Value);
        }, TimeSpan.FromSeconds(60));
        Assert.True(complete, "ledger holds " + JsonSerializer.Serialize(recorded));

        // The serving API names the decision's place in the ledger, and the ledger verifies.
        Deployable deployable = null!;
        Assert.True(await Eventually.HoldsAsync(async () => (deployable = await DeployableAsync(registry, pipeline, model)).LedgerIndex >= 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(4, deployable.Version);
        var decision = await ledger.GetEntryByEventIdAsync(new GetEntryByEventIdRequest { EventId = deployable.DecisionEventId }, auditor, cancellationToken: Cancellation);
        Assert.Equal((deployable.LedgerIndex, "StageChanged"), (decision.Index, decision.EventType.Split(',')[0].Split('.')[^1]));

        (exit, output, error) = await CliAsync("ledger", "verify", "--ledger", stack.ServiceGrpcAddresses["ledger"], "--token", stack.Token("auditor"));
        Assert.True(exit == 0, output + error);

        (exit, output, error) = await CliAsync("history", model, "--stage", "production", "--at", afterFirst.ToString("O"),
            "--registry", stack.ServiceGrpcAddresses["registry"], "--token", stack.Token("pipeline"));
        Assert.True(exit == 0, error);
        Assert.Contains("PRODUCTION  v1", output, StringComparison.Ordinal);
    }

    private sealed record PipelineResult(string Model, int Version, string RunId, string RequestId, string State, List<List<string>> Gates);

    private async Task<PipelineResult> PipelineAsync(string model, params string[] extra)
    {
        var package = await ChildProcess.PreparePythonPackageAsync(Cancellation);
        var tracking = new Uri(running.ServiceGrpcAddresses["tracking"]);
        var registry = new Uri(running.ServiceGrpcAddresses["registry"]);
        var (exit, output) = await ChildProcess.RunAsync("/usr/bin/python3",
            [Path.Combine(package, "examples", "train_and_register.py"), "--model", model, .. extra], package, new Dictionary<string, string>
            {
                ["MODELOPS_TRACKING_TARGET"] = $"{tracking.Host}:{tracking.Port}",
                ["MODELOPS_REGISTRY_TARGET"] = $"{registry.Host}:{registry.Port}",
                ["MODELOPS_TOKEN"] = running.Token("pipeline"),
                ["PYTHONPATH"] = package,
                ["PYTHONDONTWRITEBYTECODE"] = "1",
            }, Cancellation);
        Assert.True(exit == 0, output);
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last(l => l.StartsWith('{'));
        return JsonSerializer.Deserialize<PipelineResult>(line, new JsonSerializerOptions(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!;
    }

    private static Task<PromotionRequest> ApproveAsync(RegistryService.RegistryServiceClient registry, Metadata reviewer, string requestId) =>
        registry.ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = requestId, Comment = "evidence checked" }, reviewer, cancellationToken: Cancellation).ResponseAsync;

    private static Task<Deployable> DeployableAsync(RegistryService.RegistryServiceClient registry, Metadata caller, string model) =>
        registry.GetDeployableAsync(new GetDeployableRequest { Model = model, Target = new Target { Stage = Stage.Production } }, caller, cancellationToken: Cancellation).ResponseAsync;

    private static Metadata Bearer(string token) => new() { { "Authorization", $"Bearer {token}" } };

    private static async Task<(int Exit, string Output, string Error)> CliAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await ModelOps.Cli.ModelOpsCli.RunAsync(args, output, error, Cancellation);
        return (exit, output.ToString(), error.ToString());
    }
}

using System.Security.Cryptography;
using Google.Rpc;
using Grpc.Core;
using Minio.DataModel.Args;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Testing;
using static ModelOps.Registry.Tests.Pipeline;

namespace ModelOps.Registry.Tests;

/// <summary>The ways around the gates that were once open: aliases, tier changes, deleted runs, altered bytes, strangers' models, unknown gate services.</summary>
public sealed partial class RegistryServiceTests
{
    [Fact(Timeout = 120_000)]
    public async Task AnAliasNoRuleNamesGetsEveryGateOfThePolicyAndIsNotServedUntilTheyPass()
    {
        var model = await CreateModelAsync(RiskTier.High);
        await SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule
                {
                    Stages = { Stage.Production },
                    Aliases = { "champion" },
                    Gates =
                    {
                        new Gate { Name = "auc", MetricThreshold = new MetricThresholdGate { Metric = "auc", Comparison = Comparison.GreaterOrEqual, Threshold = 0.9 } },
                        Approvals(2),
                    },
                },
            },
        });
        var version = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.81 }, new() { ["model.bin"] = ModelBytes("alias") }));

        var request = await _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Alias = "live" }, Justification = "an alias of our own",
        }, cancellationToken: Cancellation);

        // The strictest set the policy holds: Production's threshold and both approvals, not one reviewer's nod.
        Assert.Equal(GateStatus.Fail, request.Gates.Single(g => g.Name == "auc").Status);
        Assert.Equal(2, request.Gates.Count(g => g.Kind == "approval") + 1);
        var reviewed = await ApproveAsync(_bob, await ApproveAsync(_alice, request));
        Assert.Equal(RequestState.Open, reviewed.State);
        var notServed = await Assert.ThrowsAsync<RpcException>(() => _alice.GetDeployableAsync(
            new GetDeployableRequest { Model = model, Target = new Target { Alias = "live" } }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, notServed.StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task LoweringARiskTierNeedsAReasonIsAnEventAndDoesNotLoosenARequestAlreadyOpen()
    {
        // No policy: the default asks two approvals for Production of a HIGH model and one for a LOW one.
        var model = await CreateModelAsync(RiskTier.High);
        var version = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.81 }, new() { ["model.bin"] = ModelBytes("tier") }));
        var request = await RequestAsync(model, version.Version, Stage.Production);
        request = await ApproveAsync(_alice, request);
        Assert.Equal(RequestState.Open, request.State);

        var noReason = await Assert.ThrowsAsync<RpcException>(() => _admin.UpdateRegisteredModelAsync(
            new UpdateRegisteredModelRequest { Name = model, RiskTier = RiskTier.Low }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("reason", Violations(noReason).Single().Field);
        await _admin.UpdateRegisteredModelAsync(
            new UpdateRegisteredModelRequest { Name = model, RiskTier = RiskTier.Low, Reason = "scores only marketing leads now" }, cancellationToken: Cancellation);
        Assert.Contains("RegisteredModelUpdated", await EventTypesAsync(model));

        // The open request keeps the gates it was opened with: one approval is still one short.
        request = await _pipeline.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = request.RequestId }, cancellationToken: Cancellation);
        Assert.Equal(RequestState.Open, request.State);

        // Re-opened under the tier in force now, by its requester, with a reason: recorded, and then one approval suffices.
        request = await _pipeline.ReevaluatePromotionAsync(new ReevaluatePromotionRequest
        {
            RequestId = request.RequestId, AdoptCurrentPolicy = true, Reason = "tier lowered by the risk committee",
        }, cancellationToken: Cancellation);
        Assert.Equal(RequestState.Approved, request.State);
        Assert.Contains("PromotionRepinned", await EventTypesAsync(model));
    }

    [Fact(Timeout = 120_000)]
    public async Task AVersionWhoseRunWasDeletedAfterRegistrationIsNotPromoted()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var runId = await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.81 }, new() { ["model.bin"] = ModelBytes("deleted") });
        var version = await RegisterAsync(model, runId);
        await _stack.Tracking(_trainer).Raw.DeleteRunAsync(new Tracking.V1.DeleteRunRequest { RunId = runId }, cancellationToken: Cancellation);

        var request = await ApproveAsync(_alice, await RequestAsync(model, version.Version, Stage.Staging));

        Assert.Equal(RequestState.Open, request.State);
        var run = request.Gates.Single(g => g.Kind == "run");
        Assert.Equal(GateStatus.Fail, run.Status);
        Assert.Contains("deleted", run.Reason, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task BytesAlteredUnderAServedVersionAreFoundByTheSweepAndTheVersionIsNoLongerServed()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var version = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.81 }, new() { ["model.bin"] = ModelBytes("swept") }));
        await PromoteToStagingAsync(model, version.Version);
        var staging = new GetDeployableRequest { Model = model, Target = new Target { Stage = Stage.Staging } };
        Assert.Equal(version.ArtifactSha256, (await _alice.GetDeployableAsync(staging, cancellationToken: Cancellation)).ArtifactSha256);

        var store = ObjectStoreConnection.Parse(_stack.TrackingEnvironment.ObjectStoreConnectionString);
        var tampered = ModelBytes("tampered under staging");
        await store.CreateClient().PutObjectAsync(new PutObjectArgs().WithBucket(store.Bucket).WithObject(version.ArtifactUri[$"s3://{store.Bucket}/".Length..])
            .WithStreamData(new MemoryStream(tampered)).WithObjectSize(tampered.Length), Cancellation);

        // The sweep (every second here) hashes the bytes again; from then on the version is refused, and the ledger is told.
        var refused = await Eventually.ThrowsAsync<RpcException>(
            () => _alice.GetDeployableAsync(staging, cancellationToken: Cancellation).ResponseAsync, TimeSpan.FromSeconds(30));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("ARTIFACT_ALTERED", Reason(refused));
        Assert.Contains("ArtifactIntegrityViolated", await EventTypesAsync(model));
        Assert.NotEqual(version.ArtifactSha256, Convert.ToHexStringLower(SHA256.HashData(tampered)));
    }

    [Fact(Timeout = 120_000)]
    public async Task OnlyTheOwnerOrAnAdminChangesAModel()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var stranger = _stack.Registry(_stack.As("pipeline-2", "pipeline"));

        var denied = await Assert.ThrowsAsync<RpcException>(() => stranger.UpdateRegisteredModelAsync(
            new UpdateRegisteredModelRequest { Name = model, Description = "mine now" }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal("NOT_OWNER_TEAM", Reason(denied));
        var runId = await TrainAsync(new Dictionary<string, double>(), new() { ["model.bin"] = ModelBytes("stranger") });
        var register = await Assert.ThrowsAsync<RpcException>(() => stranger.CreateModelVersionAsync(
            new CreateModelVersionRequest { Model = model, RunId = runId, ArtifactPath = "model.bin" }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("NOT_OWNER_TEAM", Reason(register));

        var updated = await _admin.UpdateRegisteredModelAsync(
            new UpdateRegisteredModelRequest { Name = model, Description = "scores leads" }, cancellationToken: Cancellation);
        Assert.Equal("scores leads", updated.Description);
    }

    [Fact(Timeout = 120_000)]
    public async Task ARemoteGateMayNameOnlyAServiceTheRegistryKnowsNeverAnAddress()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var refused = await Assert.ThrowsAsync<RpcException>(() => SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule
                {
                    Stages = { Stage.Staging },
                    Gates =
                    {
                        new Gate { Name = "listener", Remote = new RemoteGate { Service = "collector", Gate = "anything" } },
                        new Gate { Name = "address", Remote = new RemoteGate { Service = "http://10.0.0.9:7000", Gate = "anything" } },
                    },
                },
            },
        }));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal(
            ["policy.rules[0].gates[0].remote.service", "policy.rules[0].gates[1].remote.service"],
            Violations(refused).Select(v => v.Field).Order(StringComparer.Ordinal));
    }

    private static string? Reason(RpcException exception) =>
        exception.Trailers.GetValueBytes("grpc-status-details-bin") is { } details
            ? Google.Rpc.Status.Parser.ParseFrom(details).Details.Select(d => d.TryUnpack<ErrorInfo>(out var info) ? info.Reason : null).FirstOrDefault(r => r is not null)
            : null;
}

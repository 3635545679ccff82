extern alias registry;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Minio.DataModel.Args;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Testing;
using Npgsql;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;
using static ModelOps.Registry.Tests.Pipeline;
using ServerGateRequest = registry::ModelOps.Registry.V1.EvaluateGateRequest;
using ServerGateResponse = registry::ModelOps.Registry.V1.EvaluateGateResponse;
using ServerGateStatus = registry::ModelOps.Registry.V1.GateStatus;

namespace ModelOps.Registry.Tests;

/// <summary>Registration, gates, approvals, overrides and history against real tracking and registry processes.</summary>
public sealed partial class RegistryServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private RegistryStack _stack = null!;
    private Metadata _trainer = null!;
    private RegistryService.RegistryServiceClient _pipeline = null!;
    private RegistryService.RegistryServiceClient _admin = null!;
    private RegistryService.RegistryServiceClient _alice = null!;
    private RegistryService.RegistryServiceClient _bob = null!;
    private int _fairnessPort;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // A sweep every second, so that a remote gate's change of mind is seen within the test. The gate services the
        // registry asks are found by service discovery: fairness where a test serves it, drift where nothing listens.
        _fairnessPort = infrastructure.Context.Ports.Take();
        _stack = await RegistryStack.StartAsync(infrastructure, nameof(RegistryServiceTests), new Dictionary<string, string>
        {
            ["Registry:ReevaluateEvery"] = "00:00:01",
            ["Registry:IntegritySweepEvery"] = "00:00:01",
            ["services:fairness:grpc:0"] = $"http://127.0.0.1:{_fairnessPort}",
            ["services:drift:grpc:0"] = $"http://127.0.0.1:{infrastructure.Context.Ports.Take()}",
        });
        _trainer = _stack.As("pipeline-1", "pipeline");
        _pipeline = _stack.Registry(_trainer);
        _admin = _stack.Registry(_stack.As("admin-1", "admin"));
        _alice = _stack.Registry(_stack.As("alice", "reviewer"));
        _bob = _stack.Registry(_stack.As("bob", "reviewer"));
    }

    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact(Timeout = 120_000)]
    public async Task AVersionPinsAFinishedRunsArtifactAndSnapshotsItsEvidence()
    {
        var model = await CreateModelAsync(RiskTier.High);
        var weights = ModelBytes("pin");
        var runId = await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.81 }, new() { ["model.bin"] = weights });

        var first = await RegisterAsync(model, runId);
        var second = await RegisterAsync(model, runId);
        Assert.Equal((1, 2), (first.Version, second.Version));
        Assert.Equal((runId, "pipeline-1", "model.bin"), (first.RunId, first.RunAuthor, first.ArtifactPath));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(weights)), first.ArtifactSha256);
        Assert.Equal(weights.Length, first.ArtifactSize);
        Assert.Equal(Stage.None, first.Stage);
        Assert.Equal(64, first.RunRecordSha256.Length);
        Assert.Contains("git_sha", first.ProvenancePresent);
        Assert.Contains("ended_at", first.ProvenancePresent);

        var running = await TrainAsync(new Dictionary<string, double>(), new() { ["model.bin"] = weights }, finish: false);
        var notFinished = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(model, running));
        Assert.Equal(StatusCode.FailedPrecondition, notFinished.StatusCode);
        Assert.Contains("RUNNING", notFinished.Status.Detail, StringComparison.Ordinal);

        var unknownRun = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(model, Guid.NewGuid().ToString("N")));
        Assert.Equal(StatusCode.NotFound, unknownRun.StatusCode);
        var unknownModel = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync("no-such-model", runId));
        Assert.Equal(StatusCode.NotFound, unknownModel.StatusCode);
        var noArtifact = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(model, runId, "other.bin"));
        Assert.Equal("artifact_path", Violations(noArtifact).Single().Field);
        var badRun = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(model, "not-a-run"));
        Assert.Equal("run_id", Violations(badRun).Single().Field);

        // Bytes changed behind tracking's back: the registry re-hashes them and refuses to pin them.
        var store = ObjectStoreConnection.Parse(_stack.TrackingEnvironment.ObjectStoreConnectionString);
        var tampered = ModelBytes("tampered");
        await store.CreateClient().PutObjectAsync(new PutObjectArgs().WithBucket(store.Bucket).WithObject(first.ArtifactUri[$"s3://{store.Bucket}/".Length..])
            .WithStreamData(new MemoryStream(tampered)).WithObjectSize(tampered.Length), Cancellation);
        var mismatch = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(model, runId));
        Assert.Equal(StatusCode.FailedPrecondition, mismatch.StatusCode);
        Assert.Contains(first.ArtifactSha256, mismatch.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(2, (await _pipeline.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = model }, cancellationToken: Cancellation)).LatestVersion);

        // ...and the integrity gate of an existing version fails from now on.
        var request = await _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = model, Version = 1, Target = new Target { Stage = Stage.Staging }, Justification = "try",
        }, cancellationToken: Cancellation);
        var integrity = request.Gates.Single(g => g.Kind == "artifact_integrity");
        Assert.Equal(GateStatus.Fail, integrity.Status);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(tampered)), integrity.Evidence["actual_sha256"]);
    }

    [Fact(Timeout = 120_000)]
    public async Task APromotionWaitsForItsGatesAndTwoReviewersOtherThanTheRequesterAndTheAuthor()
    {
        var model = await CreateModelAsync(RiskTier.High);
        await SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule { Stages = { Stage.Staging }, Gates = { Approvals(1) } },
                new PromotionRule
                {
                    Stages = { Stage.Production },
                    Gates =
                    {
                        new Gate { Name = "provenance", Provenance = new ProvenanceGate() },
                        new Gate { Name = "integrity", ArtifactIntegrity = new ArtifactIntegrityGate() },
                        new Gate { Name = "auc", MetricThreshold = new MetricThresholdGate { Metric = "auc", Comparison = Comparison.GreaterOrEqual, Threshold = 0.75 } },
                        new Gate { Name = "ks", MetricThreshold = new MetricThresholdGate { Metric = "ks", Comparison = Comparison.GreaterOrEqual, Threshold = 0.3 } },
                        new Gate { Name = "groups", MetricThreshold = new MetricThresholdGate { Metric = "auc_group__*", Comparison = Comparison.GreaterOrEqual, Threshold = 0.7 } },
                        new Gate { Name = "model-card", Evidence = new EvidenceGate { ArtifactPath = "model_card.md" } },
                        new Gate { Name = "security", Evidence = new EvidenceGate { ArtifactPath = "security.json", JsonField = "review.decision", Expected = "PASS" } },
                        Approvals(2),
                    },
                },
            },
        });
        var runId = await TrainAsync(
            new Dictionary<string, double> { ["auc"] = 0.82, ["ks"] = 0.41, ["auc_group__age_lt_25"] = 0.74, ["auc_group__age_ge_25"] = 0.83 },
            new()
            {
                ["model.bin"] = ModelBytes("good"),
                ["model_card.md"] = "# Scoring model"u8.ToArray(),
                ["security.json"] = """{"review": {"decision": "PASS", "by": "appsec"}}"""u8.ToArray(),
            });
        var version = await RegisterAsync(model, runId);
        await PromoteToStagingAsync(model, version.Version);

        var request = await RequestAsync(model, version.Version, Stage.Production);
        Assert.Equal(RequestState.Open, request.State);
        Assert.All(request.Gates.Where(g => g.Kind != "approval"), g => Assert.Equal(GateStatus.Pass, g.Status));
        var approvals = request.Gates.Single(g => g.Kind == "approval");
        Assert.Equal((GateStatus.Pending, "0 of 2 approvals from reviewers other than the requester and the run's author"), (approvals.Status, approvals.Reason));
        Assert.Equal("0.74", request.Gates.Single(g => g.Name == "groups").Evidence["auc_group__age_lt_25"]);

        // Four eyes: the requester and the run's author may not approve, and nobody approves twice.
        var requester = _stack.Registry(_stack.As("pipeline-1", "pipeline", "reviewer"));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => ApproveAsync(requester, request))).StatusCode);
        var pipelineOnly = await Assert.ThrowsAsync<RpcException>(() => ApproveAsync(_pipeline, request));
        Assert.Equal(StatusCode.PermissionDenied, pipelineOnly.StatusCode);

        request = await ApproveAsync(_alice, request);
        Assert.Equal(RequestState.Open, request.State);
        Assert.Equal(StatusCode.AlreadyExists, (await Assert.ThrowsAsync<RpcException>(() => ApproveAsync(_alice, request))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => GetDeployableAsync(model))).StatusCode);

        request = await ApproveAsync(_bob, request);
        Assert.Equal((RequestState.Approved, "bob"), (request.State, request.DecidedBy));
        Assert.All(request.Gates, g => Assert.Equal(GateStatus.Pass, g.Status));
        Assert.Equal(["alice", "bob"], request.Approvals.Select(a => a.Reviewer));

        var deployable = await GetDeployableAsync(model);
        Assert.Equal((version.Version, version.ArtifactSha256, version.ArtifactUri, request.RequestId), (deployable.Version, deployable.ArtifactSha256, deployable.ArtifactUri, deployable.RequestId));
        Assert.Equal(9, deployable.Gates.Count); // the policy's eight, and the check that the run still holds its record
        Assert.Equal(("run", GateStatus.Pass), (deployable.Gates[^1].Kind, deployable.Gates[^1].Status));
        Assert.Equal(-1, deployable.LedgerIndex); // no ledger in this test: not sequenced, and said so

        // Every step is an event in the outbox, in order, committed with the change it describes.
        Assert.Equal(
            ["RegisteredModelCreated", "PolicyChanged", "ModelVersionRegistered",
             "PromotionRequested", "GateEvaluated", "PromotionApproved", "GateEvaluated", "PromotionDecided", "StageChanged",
             "PromotionRequested", "GateEvaluated", "PromotionApproved", "GateEvaluated", "PromotionApproved", "GateEvaluated", "PromotionDecided", "StageChanged"],
            await EventTypesAsync(model));
    }

    [Fact(Timeout = 120_000)]
    public async Task GatesThatFailNameWhatIsMissingOrWrong()
    {
        var model = await CreateModelAsync(RiskTier.High);
        await SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule
                {
                    Stages = { Stage.Staging },
                    Gates =
                    {
                        new Gate { Name = "provenance", Provenance = new ProvenanceGate() },
                        new Gate { Name = "auc", MetricThreshold = new MetricThresholdGate { Metric = "auc", Comparison = Comparison.GreaterOrEqual, Threshold = 0.75 } },
                        new Gate { Name = "groups", MetricThreshold = new MetricThresholdGate { Metric = "auc_group__*", Comparison = Comparison.GreaterOrEqual, Threshold = 0.7 } },
                        new Gate { Name = "ks", MetricThreshold = new MetricThresholdGate { Metric = "ks", Comparison = Comparison.GreaterOrEqual, Threshold = 0.3 } },
                        new Gate { Name = "fairness-report", Evidence = new EvidenceGate { ArtifactPath = "fairness/report.json" } },
                        new Gate { Name = "security", Evidence = new EvidenceGate { ArtifactPath = "security.json", JsonField = "decision", Expected = "PASS" } },
                        Approvals(1),
                    },
                },
            },
        });
        var provenance = FullProvenance();
        provenance.ContainerDigest = "";
        var runId = await TrainAsync(provenance,
            new Dictionary<string, double> { ["auc"] = 0.74, ["auc_group__a"] = 0.9, ["auc_group__b"] = 0.65 },
            new() { ["model.bin"] = ModelBytes("weak"), ["security.json"] = """{"decision": "FAIL"}"""u8.ToArray() });
        var version = await RegisterAsync(model, runId);
        var request = await RequestAsync(model, version.Version, Stage.Staging);
        request = await ApproveAsync(_alice, request);

        GateResult Gate(string name) => request.Gates.Single(g => g.Name == name);
        Assert.Equal(RequestState.Open, request.State);
        Assert.Equal((GateStatus.Fail, "the run's provenance lacks: container_digest"), (Gate("provenance").Status, Gate("provenance").Reason));
        Assert.Equal((GateStatus.Fail, "auc = 0.74 does not meet >= 0.75"), (Gate("auc").Status, Gate("auc").Reason));
        Assert.Equal((GateStatus.Fail, "auc_group__b = 0.65 does not meet >= 0.7"), (Gate("groups").Status, Gate("groups").Reason));
        Assert.Equal((GateStatus.Fail, "the run has no metric ks"), (Gate("ks").Status, Gate("ks").Reason));
        Assert.Equal((GateStatus.Fail, "the run holds no fairness/report.json: no evidence, no deploy"), (Gate("fairness-report").Status, Gate("fairness-report").Reason));
        Assert.Equal((GateStatus.Fail, "security.json records decision = FAIL, not PASS"), (Gate("security").Status, Gate("security").Reason));
        Assert.Equal(GateStatus.Pass, Gate("approvals").Status);
        Assert.Equal(Stage.None, (await GetVersionAsync(model, version.Version)).Stage);

        // A reviewer ends it; an ended request takes no more approvals.
        var rejected = await _bob.RejectPromotionAsync(new ReviewPromotionRequest { RequestId = request.RequestId, Comment = "metrics too weak" }, cancellationToken: Cancellation);
        Assert.Equal((RequestState.Rejected, "bob", "metrics too weak"), (rejected.State, rejected.DecidedBy, rejected.DecisionComment));
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => ApproveAsync(_bob, request))).StatusCode);
        var noComment = await Assert.ThrowsAsync<RpcException>(() => _bob.RejectPromotionAsync(new ReviewPromotionRequest { RequestId = request.RequestId }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("comment", Violations(noComment).Single().Field);
    }

    [Fact(Timeout = 120_000)]
    public async Task AMalformedPolicyIsRefusedNamingEachFaultAndChangesNothing()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var policy = new Policy
        {
            Rules =
            {
                new PromotionRule
                {
                    Stages = { Stage.Production },
                    Gates =
                    {
                        new Gate { Name = "p", Provenance = new ProvenanceGate { RequiredFields = { "git_sha", "gpu_count" } } },
                        new Gate { Name = "m", MetricThreshold = new MetricThresholdGate { Metric = "auc", Threshold = double.NaN } },
                        new Gate { Name = "m", Approval = new ApprovalGate { Required = 0 } },
                        new Gate { Name = "nothing" },
                        new Gate { Name = "remote", Remote = new RemoteGate { Service = "not a service", Gate = "" } },
                    },
                },
                new PromotionRule { Stages = { Stage.Production }, Aliases = { "Champion" }, Gates = { Approvals(1) } },
            },
            TrustedSigningKeys = { "not-a-key" },
        };
        var error = await Assert.ThrowsAsync<RpcException>(() => _admin.SetPolicyAsync(
            new SetPolicyRequest { Model = model, Policy = policy, Reason = "" }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(
            [
                "policy.trusted_signing_keys[0]",
                "policy.rules[0].gates[0].provenance.required_fields[1]",
                "policy.rules[0].gates[1].metric_threshold.comparison",
                "policy.rules[0].gates[1].metric_threshold.threshold",
                "policy.rules[0].gates[2].name",
                "policy.rules[0].gates[2].approval.required",
                "policy.rules[0].gates[3]",
                "policy.rules[0].gates[4].remote.service",
                "policy.rules[0].gates[4].remote.gate",
                "policy.rules[1].stages[0]",
                "policy.rules[1].aliases[0]",
                "reason",
            ],
            Violations(error).Select(v => v.Field));
        Assert.Contains("'gpu_count' is not a provenance field", Violations(error)[1].Description, StringComparison.Ordinal);

        // The risk tier decides the default gates: only an admin changes it.
        var lower = new UpdateRegisteredModelRequest { Name = model, RiskTier = RiskTier.Low, Description = "scores applications" };
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => _pipeline.UpdateRegisteredModelAsync(lower, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
        var updated = await _pipeline.UpdateRegisteredModelAsync(new UpdateRegisteredModelRequest { Name = model, Description = "scores applications" }, cancellationToken: Cancellation);
        Assert.Equal(("scores applications", RiskTier.Low), (updated.Description, updated.RiskTier));
        var noReason = await Assert.ThrowsAsync<RpcException>(() => _admin.UpdateRegisteredModelAsync(
            new UpdateRegisteredModelRequest { Name = model, RiskTier = RiskTier.High }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("reason", Violations(noReason).Single().Field);
        Assert.Equal(RiskTier.High, (await _admin.UpdateRegisteredModelAsync(
            new UpdateRegisteredModelRequest { Name = model, RiskTier = RiskTier.High, Reason = "it decides credit" }, cancellationToken: Cancellation)).RiskTier);

        var unchanged = await _admin.GetPolicyAsync(new GetPolicyRequest { Model = model }, cancellationToken: Cancellation);
        Assert.Equal(0, unchanged.Version);

        var notAdmin = await Assert.ThrowsAsync<RpcException>(() => _alice.SetPolicyAsync(
            new SetPolicyRequest { Model = model, Policy = new Policy { Rules = { new PromotionRule { Stages = { Stage.Staging }, Gates = { Approvals(1) } } } }, Reason = "r" },
            cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, notAdmin.StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task AnOverrideNeedsAReasonIsRecordedAndIsNotDeployable()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var version = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double>(), new() { ["model.bin"] = ModelBytes("moves") }));

        var noReason = await Assert.ThrowsAsync<RpcException>(() => _admin.OverrideTransitionAsync(new OverrideTransitionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Stage = Stage.Archived },
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("reason", Violations(noReason).Single().Field);
        var archived = await _admin.OverrideTransitionAsync(new OverrideTransitionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Stage = Stage.Archived }, Reason = "withdrawn: data leak found",
        }, cancellationToken: Cancellation);
        Assert.Equal(Stage.Archived, archived.Stage);

        var again = await Assert.ThrowsAsync<RpcException>(() => _admin.OverrideTransitionAsync(new OverrideTransitionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Stage = Stage.Archived }, Reason = "twice",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, again.StatusCode);
        Assert.Contains("is ARCHIVED already", again.Status.Detail, StringComparison.Ordinal);

        // Back from the archive only through a request, whose gates decide (the default policy's: one approval here).
        var back = await RequestAsync(model, version.Version, Stage.Production);
        Assert.Equal(RequestState.Open, back.State);
        Assert.Equal(StatusCode.AlreadyExists, (await Assert.ThrowsAsync<RpcException>(() => RequestAsync(model, version.Version, Stage.Production))).StatusCode);
        var cancelled = await _pipeline.CancelPromotionAsync(new CancelPromotionRequest { RequestId = back.RequestId, Comment = "not yet" }, cancellationToken: Cancellation);
        Assert.Equal(RequestState.Cancelled, cancelled.State);
        Assert.Equal(Stage.Archived, (await GetVersionAsync(model, version.Version)).Stage);
        var alias = await Assert.ThrowsAsync<RpcException>(() => _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Alias = "champion" }, Justification = "j",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, alias.StatusCode);
        var badTarget = await Assert.ThrowsAsync<RpcException>(() => _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Alias = "Production" },
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(["target.alias", "justification"], Violations(badTarget).Select(v => v.Field));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => _pipeline.OverrideTransitionAsync(new OverrideTransitionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Stage = Stage.Production }, Reason = "r",
        }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);

        await _admin.OverrideTransitionAsync(new OverrideTransitionRequest
        {
            Model = model, Version = version.Version, Target = new Target { Stage = Stage.Production }, Reason = "incident 7: roll back to the last good model",
        }, cancellationToken: Cancellation);
        var notGated = await Assert.ThrowsAsync<RpcException>(() => GetDeployableAsync(model));
        Assert.Equal(StatusCode.FailedPrecondition, notGated.StatusCode);
        Assert.Contains("override", notGated.Status.Detail, StringComparison.Ordinal);
        var history = (await _admin.ListHistoryAsync(new ListHistoryRequest { Model = model }, cancellationToken: Cancellation)).Assignments;
        Assert.Equal(["incident 7: roll back to the last good model", "withdrawn: data leak found"], history.Select(a => a.OverrideReason));
        Assert.All(history, a => Assert.Equal("admin-1", a.DecidedBy));
        Assert.Equal(2, (await EventTypesAsync(model)).Count(t => t == "StageChanged"));
    }

    [Fact(Timeout = 180_000)]
    public async Task WhatWasInProductionAtAnyInstantAcrossThreePromotions()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        await SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule { Stages = { Stage.Staging }, Gates = { new Gate { Name = "integrity", ArtifactIntegrity = new ArtifactIntegrityGate() } } },
                new PromotionRule { Stages = { Stage.Production }, Aliases = { "champion" }, Gates = { Approvals(1) } },
            },
        });
        var instants = new List<(DateTimeOffset At, int? Expected)> { (DateTimeOffset.UtcNow, null) };
        for (var i = 0; i < 3; i++)
        {
            var version = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double>(), new() { ["model.bin"] = ModelBytes($"v{i}") }));
            var staging = await RequestAsync(model, version.Version, Stage.Staging);
            Assert.Equal(RequestState.Approved, staging.State);
            await ApproveAsync(_alice, await RequestAsync(model, version.Version, Stage.Production));
            instants.Add((DateTimeOffset.UtcNow, version.Version));
            await Task.Delay(20, Cancellation);
        }

        foreach (var (at, expected) in instants)
        {
            var held = await _alice.GetAssignmentsAtAsync(new GetAssignmentsAtRequest
            {
                Model = model, Target = new Target { Stage = Stage.Production }, At = Timestamp.FromDateTimeOffset(at),
            }, cancellationToken: Cancellation);
            Assert.Equal(expected is null ? [] : [expected.Value], held.Assignments.Select(a => a.Version));
        }

        // One Production version at a time: each promotion archived its predecessor, in the same decision.
        var versions = (await _alice.ListModelVersionsAsync(new ListModelVersionsRequest { Model = model }, cancellationToken: Cancellation)).Versions;
        Assert.Equal([Stage.Production, Stage.Archived, Stage.Archived], versions.Select(v => v.Stage));
        var production = (await _alice.ListHistoryAsync(new ListHistoryRequest { Model = model, Target = new Target { Stage = Stage.Production } },
            cancellationToken: Cancellation)).Assignments;
        Assert.Equal([3, 2, 1], production.Select(a => a.Version));
        Assert.Null(production[0].Until);
        Assert.Equal(production[0].Since, production[1].Until);

        // An alias moves the same way, with its own history.
        await ApproveAsync(_alice, await _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = model, Version = 3, Target = new Target { Alias = "champion" }, Justification = "best so far",
        }, cancellationToken: Cancellation));
        var current = (await _alice.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = model }, cancellationToken: Cancellation)).Current;
        Assert.Equal(["alias:champion=3", "stage:ARCHIVED=1", "stage:ARCHIVED=2", "stage:PRODUCTION=3"],
            current.Select(a => $"{(a.Target.KindCase == Target.KindOneofCase.Stage ? $"stage:{a.Target.Stage.ToString().ToUpperInvariant()}" : $"alias:{a.Target.Alias}")}={a.Version}").Order());
    }

    [Fact(Timeout = 120_000)]
    public async Task ARemoteGateIsPendingWhileItsServiceIsAwayAndDecidesOnceItAnswers()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var (app, _) = await GrpcTestHost.StartAsync(infrastructure, "fairness-gate", app => app.MapGrpcService<FairnessGate>(), _fairnessPort);
        await using var _ = app;
        await SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule
                {
                    Stages = { Stage.Staging },
                    Gates =
                    {
                        new Gate { Name = "fairness", Remote = new RemoteGate { Service = "fairness", Gate = "fairness.demographic_parity", Parameters = { ["max_gap"] = "0.1" } } },
                        new Gate { Name = "drift", Remote = new RemoteGate { Service = "drift", Gate = "drift.baseline", TimeoutMs = 2000 } },
                        new Gate { Name = "explainability", Remote = new RemoteGate { Service = "explainability", Gate = "shap.stable" } },
                    },
                },
            },
        });
        var version = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double>(), new() { ["model.bin"] = ModelBytes("remote") }));
        FairnessGate.Answer = new ServerGateResponse { Status = ServerGateStatus.Pending, Reason = "no fairness report for this version yet" };
        var request = await RequestAsync(model, version.Version, Stage.Staging);

        GateResult Gate(string name) => request.Gates.Single(g => g.Name == name);
        Assert.Equal((GateStatus.Pending, "no fairness report for this version yet"), (Gate("fairness").Status, Gate("fairness").Reason));
        Assert.Equal(GateStatus.Pending, Gate("drift").Status);
        Assert.Equal("drift could not be reached to evaluate 'drift.baseline' (unavailable or no answer within 2 s); asked again at every sweep", Gate("drift").Reason);
        Assert.Contains(Gate("drift").Evidence["status"], new[] { "Unavailable", "DeadlineExceeded" });
        Assert.Equal((GateStatus.Pending, "'explainability' is not a service the registry asks for gates, or has no address (services:explainability:grpc:0)"),
            (Gate("explainability").Status, Gate("explainability").Reason));
        Assert.Equal(("fairness.demographic_parity", model, version.Version, "0.1"),
            (FairnessGate.LastRequest!.Gate, FairnessGate.LastRequest.Model, FairnessGate.LastRequest.Version, FairnessGate.LastRequest.Parameters["max_gap"]));
        Assert.Equal(version.ArtifactSha256, FairnessGate.LastRequest.ArtifactSha256);
        Assert.Equal("Bearer", FairnessGate.LastAuthorization?.Split(' ')[0]);

        // The sweep asks the waiting gates again every second but records only a changed outcome: no two evaluations in
        // a row are the same. (A gate service too slow to answer on a loaded machine is a change, recorded as one.)
        await Task.Delay(2500, Cancellation);
        var outcomes = await EvaluationOutcomesAsync(request.RequestId);
        Assert.All(outcomes.Zip(outcomes.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
        Assert.Contains("fairness:GATE_STATUS_PENDING:no fairness report for this version yet", outcomes[0], StringComparison.Ordinal);
        FairnessGate.Answer = new ServerGateResponse { Status = ServerGateStatus.Fail, Reason = "parity gap 0.21" };
        Assert.True(await Eventually.HoldsAsync(async () =>
            (await EvaluationOutcomesAsync(request.RequestId))[^1].Contains("fairness:GATE_STATUS_FAIL:parity gap 0.21", StringComparison.Ordinal), TimeSpan.FromSeconds(10)));
        request = await _alice.GetPromotionRequestAsync(new GetPromotionRequestRequest { RequestId = request.RequestId }, cancellationToken: Cancellation);
        Assert.Equal((GateStatus.Fail, "parity gap 0.21"), (Gate("fairness").Status, Gate("fairness").Reason));
        await Task.Delay(2500, Cancellation);
        outcomes = await EvaluationOutcomesAsync(request.RequestId);
        Assert.All(outcomes.Zip(outcomes.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));

        // The policy changes (admin): the open request keeps the gates it was opened with...
        FairnessGate.Answer = new ServerGateResponse { Status = ServerGateStatus.Pass, Reason = "parity gap 0.04", Evidence = { ["gap"] = "0.04" } };
        await SetPolicyAsync(model, new Policy
        {
            Rules =
            {
                new PromotionRule
                {
                    Stages = { Stage.Staging },
                    Gates = { new Gate { Name = "fairness", Remote = new RemoteGate { Service = "fairness", Gate = "fairness.demographic_parity" } } },
                },
            },
        });
        request = await _pipeline.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = request.RequestId }, cancellationToken: Cancellation);
        Assert.Equal((RequestState.Open, 1), (request.State, request.PolicyVersion));
        Assert.Equal(GateStatus.Pending, Gate("drift").Status);

        // ...until its requester re-opens it under the policy in force, which is recorded with the reason.
        request = await _pipeline.ReevaluatePromotionAsync(
            new ReevaluatePromotionRequest { RequestId = request.RequestId, AdoptCurrentPolicy = true, Reason = "the drift baseline gate was retired" },
            cancellationToken: Cancellation);
        Assert.Equal((RequestState.Approved, 2), (request.State, request.PolicyVersion));
        Assert.Equal("0.04", request.Gates.Single(g => g.Kind == "remote").Evidence["gap"]);
        Assert.Equal(Stage.Staging, (await GetVersionAsync(model, version.Version)).Stage);
        Assert.Contains("PromotionRepinned", await EventTypesAsync(model));
    }

    [Fact(Timeout = 120_000)]
    public async Task ASignatureBesideTheArtifactMustVerifyAgainstATrustedKey()
    {
        var model = await CreateModelAsync(RiskTier.Low);
        var (publicKey, sign) = NewSigningKey();
        var (otherKey, _) = NewSigningKey();
        await SetPolicyAsync(model, new Policy
        {
            TrustedSigningKeys = { otherKey, publicKey },
            Rules = { new PromotionRule { Stages = { Stage.Staging }, Gates = { new Gate { Name = "integrity", ArtifactIntegrity = new ArtifactIntegrityGate { RequireSignature = true } } } } },
        });
        var weights = ModelBytes("signed");
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(weights));
        var signed = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double>(),
            new() { ["model.bin"] = weights, ["model.bin.sig"] = Encoding.ASCII.GetBytes(sign(sha256)) }));
        var forged = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double>(),
            new() { ["model.bin"] = ModelBytes("forged"), ["model.bin.sig"] = Encoding.ASCII.GetBytes(sign(sha256)) }));
        var unsigned = await RegisterAsync(model, await TrainAsync(new Dictionary<string, double>(), new() { ["model.bin"] = ModelBytes("unsigned") }));

        var good = (await RequestAsync(model, signed.Version, Stage.Staging)).Gates.Single(g => g.Kind != "run");
        Assert.Equal((GateStatus.Pass, publicKey), (good.Status, good.Evidence["signed_by"]));
        var bad = (await RequestAsync(model, forged.Version, Stage.Staging)).Gates.Single(g => g.Kind != "run");
        Assert.Equal((GateStatus.Fail, "model.bin.sig is not a signature of the artifact's SHA-256 by any trusted key"), (bad.Status, bad.Reason));
        var missing = (await RequestAsync(model, unsigned.Version, Stage.Staging)).Gates.Single(g => g.Kind != "run");
        Assert.Equal((GateStatus.Fail, "the policy requires a signature and the run holds no model.bin.sig"), (missing.Status, missing.Reason));
    }

    [Fact(Timeout = 120_000)]
    public async Task TheDotNetClientRegistersAtTheEndOfTrainingAndFindsWhatToServe()
    {
        var sdk = _stack.RegistrySdk(_trainer);
        var model = $"sdk-{Guid.NewGuid():N}"[..16];
        var runId = await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.9 }, new() { ["model.bin"] = ModelBytes("sdk") });

        // The first registration creates the model with the given tier; later ones keep it.
        var first = await sdk.RegisterVersionAsync(model, runId, "model.bin", RiskTier.Low, cancellationToken: Cancellation);
        var second = await sdk.RegisterVersionAsync(model, runId, "model.bin", RiskTier.High, cancellationToken: Cancellation);
        Assert.Equal((1, 2), (first.Version, second.Version));
        Assert.Equal(RiskTier.Low, (await _alice.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = model }, cancellationToken: Cancellation)).RiskTier);

        var request = await sdk.RequestPromotionAsync(model, 2, Stage.Production, "best auc", Cancellation);
        Assert.Equal(RequestState.Open, request.State);
        await ApproveAsync(_alice, request);
        var deployable = await sdk.GetDeployableAsync(model, Stage.Production, Cancellation);
        Assert.Equal((2, second.ArtifactSha256, request.RequestId), (deployable.Version, deployable.ArtifactSha256, deployable.RequestId));
        var challenger = await sdk.RequestAliasAsync(model, 1, "challenger", "shadow traffic", Cancellation);
        Assert.Equal("challenger", challenger.Target.Alias);
        var refused = await Assert.ThrowsAsync<RpcException>(() => sdk.RequestPromotionAsync(model, 2, Stage.Production, "again", Cancellation));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task TheCommandLineRegistersPromotesReviewsAndAnswersHistory()
    {
        var model = $"cli-{Guid.NewGuid():N}"[..16];
        var pipeline = infrastructure.Tokens.CreateToken("pipeline-1", ["pipeline"]);
        var admin = infrastructure.Tokens.CreateToken("admin-1", ["admin"]);
        var alice = infrastructure.Tokens.CreateToken("alice", ["reviewer"]);
        Assert.Equal(0, (await CliAsync(pipeline, "models", "create", model, "--risk-tier", "high")).Exit);
        var runId = await TrainAsync(new Dictionary<string, double> { ["auc"] = 0.9 }, new() { ["model.bin"] = ModelBytes("cli") });
        var registered = await CliAsync(pipeline, "models", "register", model, "--run", runId, "--artifact", "model.bin");
        Assert.Equal(0, registered.Exit);
        Assert.StartsWith($"registered {model} v1 sha256 ", registered.Output, StringComparison.Ordinal);

        var policyFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(policyFile,
            """{"rules": [{"stages": ["STAGE_STAGING"], "gates": [{"name": "auc", "metricThreshold": {"metric": "auc", "comparison": "COMPARISON_GREATER", "threshold": 0.8}}, {"name": "approvals", "approval": {"required": 1}}]}]}""",
            Cancellation);
        Assert.Equal((0, $"policy v1 of {model} in effect\n"), await CliExitAndOutputAsync(admin, "models", "policy", "set", model, "--file", policyFile, "--reason", "staging needs auc > 0.8"));
        var denied = await CliAsync(pipeline, "models", "policy", "set", model, "--file", policyFile, "--reason", "r");
        Assert.Equal(2, denied.Exit);
        Assert.Contains("PermissionDenied", denied.Error, StringComparison.Ordinal);

        var promoted = await CliAsync(pipeline, "promote", model, "1", "--stage", "staging", "-j", "first candidate");
        Assert.Equal(0, promoted.Exit);
        Assert.Contains("PASS     auc        auc = 0.9 meets > 0.8", promoted.Output, StringComparison.Ordinal);
        Assert.Contains("PENDING  approvals  0 of 1 approvals", promoted.Output, StringComparison.Ordinal);
        var requestId = promoted.Output.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];

        var selfApproval = await CliAsync(pipeline, "approve", requestId);
        Assert.Equal(2, selfApproval.Exit);
        var approved = await CliAsync(alice, "approve", requestId, "-m", "checked the report");
        Assert.Contains("APPROVED", approved.Output, StringComparison.Ordinal);

        var history = await CliAsync(pipeline, "history", model);
        Assert.Contains("STAGING  v1", history.Output, StringComparison.Ordinal);
        Assert.Contains($"alice       request {requestId}", history.Output, StringComparison.Ordinal);
        var before = await CliAsync(pipeline, "history", model, "--stage", "staging", "--at", "2000-01-01T00:00:00Z");
        Assert.Equal("TARGET  VERSION  FROM  UNTIL  DECIDED BY  HOW\n", before.Output);
        var missing = await CliAsync(pipeline, "promote", model, "1", "--stage", "production");
        Assert.Equal(2, missing.Exit);
    }

    // ------------------------------------------------------------------ helpers

    private async Task<(int Exit, string Output, string Error)> CliAsync(string token, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        var exit = await ModelOps.Cli.ModelOpsCli.RunAsync(
            [.. args, "--registry", _stack.RegistryAddress, "--token", token], output, error, Cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    private async Task<(int Exit, string Output)> CliExitAndOutputAsync(string token, params string[] args)
    {
        var (exit, output, _) = await CliAsync(token, args);
        return (exit, output);
    }

    private static Gate Approvals(int required) => new() { Name = "approvals", Approval = new ApprovalGate { Required = required } };

    private async Task<string> CreateModelAsync(RiskTier tier)
    {
        var name = $"scoring-{Guid.NewGuid():N}"[..20];
        await _pipeline.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = name, RiskTier = tier }, cancellationToken: Cancellation);
        return name;
    }

    private Task SetPolicyAsync(string model, Policy policy) =>
        _admin.SetPolicyAsync(new SetPolicyRequest { Model = model, Policy = policy, Reason = "test policy" }, cancellationToken: Cancellation).ResponseAsync;

    private Task<string> TrainAsync(IReadOnlyDictionary<string, double> metrics, Dictionary<string, byte[]> files, bool finish = true) =>
        TrainAsync(FullProvenance(), metrics, files, finish);

    private Task<string> TrainAsync(Tracking.V1.Provenance provenance, IReadOnlyDictionary<string, double> metrics, Dictionary<string, byte[]> files, bool finish = true) =>
        Pipeline.TrainAsync(_stack.Tracking(_trainer), provenance, metrics, files, finish);

    private Task<ModelVersion> RegisterAsync(string model, string runId, string path = "model.bin") =>
        _pipeline.CreateModelVersionAsync(new CreateModelVersionRequest { Model = model, RunId = runId, ArtifactPath = path }, cancellationToken: Cancellation).ResponseAsync;

    private Task<ModelVersion> GetVersionAsync(string model, int version) =>
        _alice.GetModelVersionAsync(new GetModelVersionRequest { Model = model, Version = version }, cancellationToken: Cancellation).ResponseAsync;

    private Task<PromotionRequest> RequestAsync(string model, int version, Stage stage) =>
        _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = model, Version = version, Target = new Target { Stage = stage }, Justification = $"{stage} candidate",
        }, cancellationToken: Cancellation).ResponseAsync;

    private async Task PromoteToStagingAsync(string model, int version) =>
        Assert.Equal(RequestState.Approved, (await ApproveAsync(_alice, await RequestAsync(model, version, Stage.Staging))).State);

    private static Task<PromotionRequest> ApproveAsync(RegistryService.RegistryServiceClient reviewer, PromotionRequest request) =>
        reviewer.ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = request.RequestId, Comment = "looks right" }, cancellationToken: Cancellation).ResponseAsync;

    private Task<Deployable> GetDeployableAsync(string model) =>
        _alice.GetDeployableAsync(new GetDeployableRequest { Model = model, Target = new Target { Stage = Stage.Production } }, cancellationToken: Cancellation).ResponseAsync;

    // Each recorded evaluation's outcome, oldest first: "name:status:reason" of every gate, joined by "|".
    private async Task<List<string>> EvaluationOutcomesAsync(string requestId)
    {
        await using var connection = new NpgsqlConnection(_stack.RegistryEnvironment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand(
            """
            SELECT (SELECT string_agg(concat(g->>'name', ':', g->>'status', ':', g->>'reason'), '|' ORDER BY n) FROM jsonb_array_elements(gates) WITH ORDINALITY AS t (g, n))
            FROM gate_evaluations WHERE request_id = $1 ORDER BY evaluated_at
            """, connection)
        {
            Parameters = { new NpgsqlParameter { Value = Guid.Parse(requestId) } },
        };
        await using var reader = await command.ExecuteReaderAsync(Cancellation);
        List<string> outcomes = [];
        while (await reader.ReadAsync(Cancellation))
        {
            outcomes.Add(reader.GetString(0));
        }

        return outcomes;
    }

    private async Task<List<string>> EventTypesAsync(string model)
    {
        await using var connection = new NpgsqlConnection(_stack.RegistryEnvironment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand(
            "SELECT message_type FROM outbox_messages WHERE payload->>'model' = $1 ORDER BY sequence", connection)
        {
            Parameters = { new NpgsqlParameter { Value = model } },
        };
        var types = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Cancellation);
        while (await reader.ReadAsync(Cancellation))
        {
            types.Add(reader.GetString(0).Split(',')[0].Split('.')[^1]);
        }

        return types;
    }

    private static (string PublicKey, Func<string, string> Sign) NewSigningKey()
    {
        var key = new Ed25519PrivateKeyParameters(new SecureRandom());
        return (Convert.ToBase64String(key.GeneratePublicKey().GetEncoded()), text =>
        {
            var signer = new Ed25519Signer();
            signer.Init(true, key);
            var bytes = Encoding.ASCII.GetBytes(text);
            signer.BlockUpdate(bytes, 0, bytes.Length);
            return Convert.ToBase64String(signer.GenerateSignature());
        });
    }

    /// <summary>A remote gate as a fairness service would serve it: answers what the test sets, records what it was asked.</summary>
    // The server base comes from the registry's assembly (the client library generates no servers); its messages are
    // that assembly's types, aliased here.
    private sealed class FairnessGate : registry::ModelOps.Registry.V1.GateService.GateServiceBase
    {
        public static ServerGateResponse Answer { get; set; } = new();

        public static ServerGateRequest? LastRequest { get; private set; }

        public static string? LastAuthorization { get; private set; }

        public override Task<ServerGateResponse> EvaluateGate(ServerGateRequest request, ServerCallContext context)
        {
            LastRequest = request;
            LastAuthorization = context.RequestHeaders.GetValue("authorization");
            return Task.FromResult(Answer);
        }
    }
}

// Registry benchmark: how long evaluating a promotion request takes with 10 local gates (provenance, artifact
// integrity of a 1 MiB model, five metric thresholds incl. a per-subgroup family, two evidence artifacts, one of them
// read and parsed, and approvals), remote gate latency excluded (there is none). The same call against a policy with
// a single approval gate, measured in the same run, is the baseline: gRPC, authentication, loading the request and
// recording the evaluation, without the gates' own work. Each call is ReevaluatePromotion of an open request (the
// approvals gate keeps it open), so every call evaluates and records.
// The integrity gate re-hashes the model at every evaluation, as it does in service. PostgreSQL runs with fsync on.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Registry [-- --calls N --artifact-mib N]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Bench;
using ModelOps.Registry.V1;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

var calls = Option("--calls") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 500;
var artifactMiB = Option("--artifact-mib") is { } mib ? int.Parse(mib, CultureInfo.InvariantCulture) : 1;
var cancellation = CancellationToken.None;

Console.WriteLine($"machine: {Environment.ProcessorCount} cores; PostgreSQL fsync on");
await using var servers = await BenchServers.StartAsync();
var tokens = servers.Tokens;
Console.WriteLine($"object store: {servers.ObjectStore.Kind}");
var artifacts = await servers.ObjectStore.CreateBucketAsync("registry-bench", cancellation);
var (tracking, _) = await servers.ServiceAsync("tracking", new ServiceProjects.ModelOps_Tracking(), artifacts);
await tracking.StartAsync(cancellation);
var (registry, _) = await servers.ServiceAsync("registry", new ServiceProjects.ModelOps_Registry(), artifacts);
registry
    .WithEnvironment("Identity__ServiceToken", tokens.CreateToken("service:registry", ["service"]))
    .WithReference(tracking);
await registry.StartAsync(cancellation);

CallInvoker As(string address, string subject, string role)
{
    var token = tokens.CreateToken(subject, [role]);
    return GrpcChannel.ForAddress(address).Intercept(metadata =>
    {
        metadata.Add("Authorization", $"Bearer {token}");
        return metadata;
    });
}

// A finished run with full provenance, metrics and evidence.
var trackingClient = new TrackingClient(As(tracking.GrpcAddress, "bench-pipeline", "pipeline"));
var experiment = await trackingClient.Raw.CreateExperimentAsync(new CreateExperimentRequest { Name = "bench" });
var provenance = new Provenance
{
    GitSha = "4f2a9c1", RepoUrl = "https://git.example.com/r.git", ContainerDigest = "sha256:c", SbomRef = "s3://sbom", TrainImageVersion = "1",
    DatasetId = "loans", DatasetSnapshotAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow), DatasetHash = "sha256:d",
    FeatureGroups = { "bureau" },
    DataTimeRange = new TimeRange { Start = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow.AddYears(-1)), End = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow) },
    PipelineId = "p", JobId = "j", Orchestrator = "o", Seeds = { ["numpy"] = 1 }, Hyperparameters = { ["depth"] = "6" },
    Split = new DataSplit { Train = 0.8, Test = 0.2 }, Hardware = "2 cores", EgressPolicy = "none", CorrelationIds = { ["ticket"] = "T-1" },
};
string runId;
await using (var run = await trackingClient.StartRunAsync(experiment.ExperimentId, provenance: provenance))
{
    run.LogMetrics(new Dictionary<string, double>
    {
        ["auc"] = 0.82, ["ks"] = 0.41, ["precision"] = 0.7, ["recall"] = 0.66,
        ["auc_group__a"] = 0.8, ["auc_group__b"] = 0.79, ["auc_group__c"] = 0.84,
    });
    await trackingClient.UploadArtifactAsync(run.RunId, "model.bin", new MemoryStream(RandomNumberGenerator.GetBytes(artifactMiB << 20)));
    await trackingClient.UploadArtifactAsync(run.RunId, "model_card.md", new MemoryStream("# card"u8.ToArray()));
    await trackingClient.UploadArtifactAsync(run.RunId, "security.json", new MemoryStream(Encoding.UTF8.GetBytes("""{"decision": "PASS"}""")));
    run.Complete();
    runId = run.RunId;
}

var pipeline = new RegistryService.RegistryServiceClient(As(registry.GrpcAddress, "bench-pipeline", "pipeline"));
var admin = new RegistryService.RegistryServiceClient(As(registry.GrpcAddress, "bench-admin", "admin"));
Gate Threshold(string name, string metric, double threshold) =>
    new() { Name = name, MetricThreshold = new MetricThresholdGate { Metric = metric, Comparison = Comparison.GreaterOrEqual, Threshold = threshold } };
var tenGates = new Gate[]
{
    new() { Name = "provenance", Provenance = new ProvenanceGate() },
    new() { Name = "integrity", ArtifactIntegrity = new ArtifactIntegrityGate() },
    Threshold("auc", "auc", 0.75), Threshold("ks", "ks", 0.3), Threshold("precision", "precision", 0.5), Threshold("recall", "recall", 0.5),
    Threshold("subgroups", "auc_group__*", 0.7),
    new() { Name = "model-card", Evidence = new EvidenceGate { ArtifactPath = "model_card.md" } },
    new() { Name = "security", Evidence = new EvidenceGate { ArtifactPath = "security.json", JsonField = "decision", Expected = "PASS" } },
    new() { Name = "approvals", Approval = new ApprovalGate { Required = 2 } },
};

async Task<List<double>> MeasureAsync(string model, Gate[] gates)
{
    await pipeline.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = model, RiskTier = RiskTier.High });
    await admin.SetPolicyAsync(new SetPolicyRequest { Model = model, Reason = "bench", Policy = new Policy { Rules = { new PromotionRule { Stages = { Stage.Production }, Gates = { gates } } } } });
    var version = await pipeline.CreateModelVersionAsync(new CreateModelVersionRequest { Model = model, RunId = runId, ArtifactPath = "model.bin" });
    var request = await pipeline.RequestPromotionAsync(new RequestPromotionRequest
    {
        Model = model, Version = version.Version, Target = new Target { Stage = Stage.Production }, Justification = "bench",
    });
    // Every request also checks that the version's run still exists (the "run" gate the registry adds to every rule).
    if (request.Gates.Count(g => g.Kind != "run") != gates.Length || request.Gates.Any(g => g.Kind != "approval" && g.Status != GateStatus.Pass))
    {
        throw new InvalidOperationException("the bench's gates do not pass: " + request);
    }

    var times = new List<double>();
    for (var i = 0; i < calls + 20; i++)
    {
        var clock = Stopwatch.StartNew();
        await pipeline.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = request.RequestId });
        if (i >= 20)
        {
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
    }

    return times;
}

// Interleaved rounds, so that both see the same machine.
var ten = new List<double>();
var one = new List<double>();
for (var round = 0; round < 2; round++)
{
    ten.AddRange(await MeasureAsync($"ten-{round}", tenGates));
    one.AddRange(await MeasureAsync($"one-{round}", [new Gate { Name = "approvals", Approval = new ApprovalGate { Required = 2 } }]));
}

Console.WriteLine($"ReevaluatePromotion, {calls} calls per round, 2 rounds each, model artifact {artifactMiB} MiB, re-hashed at every call:");
Report("10 local gates: p50 ms", Percentile(ten, 50));
Report("10 local gates: p95 ms", Percentile(ten, 95));
Report("10 local gates: p99 ms", Percentile(ten, 99));
Report("1 approval gate (baseline): p50 ms", Percentile(one, 50));
Report("1 approval gate (baseline): p99 ms", Percentile(one, 99));
Report("10 gates / baseline, p50 ratio", Percentile(ten, 50) / Percentile(one, 50));
Console.WriteLine(Percentile(ten, 99) < 100 ? "  goal p99 < 100 ms: met" : "  goal p99 < 100 ms: NOT met");

string? Option(string name) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;

static void Report(string what, double value) => Console.WriteLine($"  {what,-58} {value,12:N2}");

static double Percentile(List<double> values, double percentile)
{
    var sorted = values.Order().ToList();
    return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
}

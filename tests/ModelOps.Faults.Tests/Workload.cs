using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ModelOps.Registry.V1;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Faults.Tests;

/// <summary>
/// A pipeline and a reviewer working without pause: each round trains a run (start, artifact, end), registers it as a
/// version, requests Staging and approves it. Every write carries an idempotency key or is safe to repeat, and is
/// repeated, with backoff and without limit, while the platform answers UNAVAILABLE or DEADLINE_EXCEEDED — what a
/// well-behaved client does. Any other error stops the workload and fails the test: a transient fault must never reach
/// a client as anything else. What was acknowledged is recorded, to be found in the ledger afterwards.
/// </summary>
public sealed class Workload
{
    private readonly FaultStack _world;
    private readonly TrackingService.TrackingServiceClient _tracking;
    private readonly TrackingClient _trackingSdk;
    private readonly RegistryService.RegistryServiceClient _pipeline;
    private readonly RegistryService.RegistryServiceClient _reviewer;
    private readonly string _prefix = Guid.NewGuid().ToString("N")[..8];

    private Workload(FaultStack world, string experimentId, string model)
    {
        _world = world;
        ExperimentId = experimentId;
        Model = model;
        var pipeline = world.As("faults-pipeline", "pipeline");
        _tracking = new TrackingService.TrackingServiceClient(world.Stack.Invoker("tracking", pipeline));
        _trackingSdk = new TrackingClient(world.Stack.Invoker("tracking", pipeline));
        _pipeline = new RegistryService.RegistryServiceClient(world.Stack.Invoker("registry", pipeline));
        _reviewer = new RegistryService.RegistryServiceClient(world.Stack.Invoker("registry", world.As("faults-reviewer", "reviewer")));
    }

    /// <summary>The experiment every run of this workload is in.</summary>
    public string ExperimentId { get; }

    /// <summary>The model every version of this workload belongs to.</summary>
    public string Model { get; }

    /// <summary>Runs whose start was acknowledged.</summary>
    public ConcurrentBag<string> Started { get; } = [];

    /// <summary>Runs whose end was acknowledged.</summary>
    public ConcurrentBag<string> Finished { get; } = [];

    /// <summary>Versions whose registration was acknowledged.</summary>
    public ConcurrentBag<int> Registered { get; } = [];

    /// <summary>Promotion requests whose opening was acknowledged.</summary>
    public ConcurrentBag<string> Requested { get; } = [];

    /// <summary>Promotion requests whose approval was acknowledged.</summary>
    public ConcurrentBag<string> Approved { get; } = [];

    /// <summary>Calls answered UNAVAILABLE or DEADLINE_EXCEEDED, and repeated.</summary>
    public int Retries => _retries;

    private int _retries;

    /// <summary>A workload with an experiment and a low-risk model of its own.</summary>
    public static async Task<Workload> CreateAsync(FaultStack world, string name)
    {
        var pipeline = world.As("faults-pipeline", "pipeline");
        var tracking = new TrackingService.TrackingServiceClient(world.Stack.Invoker("tracking", pipeline));
        var registry = new RegistryService.RegistryServiceClient(world.Stack.Invoker("registry", pipeline));
        var experiment = await tracking.CreateExperimentAsync(new CreateExperimentRequest { Name = $"{name}-{Guid.NewGuid():N}" },
            cancellationToken: TestContext.Current.CancellationToken);
        var model = await registry.CreateRegisteredModelAsync(new CreateRegisteredModelRequest
        {
            Name = $"{name}-{Guid.NewGuid().ToString("N")[..8]}", RiskTier = RiskTier.Low, Owner = "faults",
        }, cancellationToken: TestContext.Current.CancellationToken);
        return new Workload(world, experiment.ExperimentId, model.Name);
    }

    /// <summary>Runs rounds until <paramref name="stop"/> is cancelled; the round under way is finished first.</summary>
    public Task RunAsync(CancellationToken stop) => Task.Run(async () =>
    {
        for (var round = 0; !stop.IsCancellationRequested; round++)
        {
            await RoundAsync(round);
            // A steady pipeline, not a flood: while the ledger or the broker is away, rounds would otherwise pile up
            // thousands of events for no added coverage.
            await Task.Delay(50, CancellationToken.None);
        }
    }, CancellationToken.None);

    private async Task RoundAsync(int round)
    {
        var key = $"{_prefix}-{round}";
        var run = await RetryAsync(() => _tracking.StartRunAsync(new StartRunRequest
        {
            ExperimentId = ExperimentId, RunName = key, ClientRequestId = $"run-{key}", Provenance = Provenance(),
        }).ResponseAsync);
        Started.Add(run.RunId);

        var weights = System.Text.Encoding.UTF8.GetBytes($"weights {key}");
        await RetryAsync(() => _trackingSdk.UploadArtifactAsync(run.RunId, "model.bin", new MemoryStream(weights), null, TestContext.Current.CancellationToken));

        // Ending is not keyed: a repeat after an end whose answer was lost finds the run ended already, which is the
        // outcome asked for.
        var attempts = 0;
        await RetryAsync(async () =>
        {
            try
            {
                attempts++;
                return await _tracking.EndRunAsync(new EndRunRequest { RunId = run.RunId, Status = RunStatus.Finished }).ResponseAsync;
            }
            catch (RpcException exception) when (attempts > 1 && exception.StatusCode == StatusCode.FailedPrecondition)
            {
                return await _tracking.GetRunAsync(new GetRunRequest { RunId = run.RunId }).ResponseAsync;
            }
        });
        Finished.Add(run.RunId);

        var version = await RetryAsync(() => _pipeline.CreateModelVersionAsync(new CreateModelVersionRequest
        {
            Model = Model, RunId = run.RunId, ArtifactPath = "model.bin", ClientRequestId = $"version-{key}",
        }).ResponseAsync);
        Registered.Add(version.Version);

        var request = await RetryAsync(() => _pipeline.RequestPromotionAsync(new RequestPromotionRequest
        {
            Model = Model, Version = version.Version, Target = new Target { Stage = Stage.Staging }, Justification = $"round {round}",
            ClientRequestId = $"promotion-{key}",
        }).ResponseAsync);
        Requested.Add(request.RequestId);

        attempts = 0;
        await RetryAsync(async () =>
        {
            try
            {
                attempts++;
                return await _reviewer.ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = request.RequestId, Comment = "ok" }).ResponseAsync;
            }
            catch (RpcException exception) when (attempts > 1 && exception.StatusCode is StatusCode.FailedPrecondition or StatusCode.AlreadyExists)
            {
                // Approved by an earlier attempt whose answer was lost.
                return await _reviewer.GetPromotionRequestAsync(new GetPromotionRequestRequest { RequestId = request.RequestId }).ResponseAsync;
            }
        });
        Approved.Add(request.RequestId);
    }

    private async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (RpcException exception) when (exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                Interlocked.Increment(ref _retries);
                await Task.Delay(delay, TestContext.Current.CancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
    }

    private static Provenance Provenance() => new()
    {
        GitSha = "4f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        RepoUrl = "https://git.example.com/faults/train.git",
        ContainerDigest = "sha256:" + new string('c', 64),
        SbomRef = "s3://sboms/faults/4f2a9c1.spdx.json",
        TrainImageVersion = "train:2026.12",
        DatasetId = "faults",
        DatasetSnapshotAt = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)),
        DatasetHash = "sha256:" + new string('d', 64),
        FeatureGroups = { "income" },
        DataTimeRange = new TimeRange
        {
            Start = Timestamp.FromDateTimeOffset(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            End = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 10, 31, 0, 0, 0, TimeSpan.Zero)),
        },
        PipelineId = "faults-train",
        JobId = "job-1",
        Orchestrator = "airflow",
        Seeds = { ["numpy"] = 7 },
        Hyperparameters = { ["max_depth"] = "6" },
        Split = new DataSplit { Train = 0.7, Validation = 0.15, Test = 0.15, Method = "time" },
        Hardware = "2 vCPU",
        EgressPolicy = "none",
        CorrelationIds = { ["change"] = "CHG-1" },
        EntryPoint = "python train.py",
    };
}

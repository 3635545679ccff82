using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ModelOps.Drift.V1;
using ModelOps.Registry.Tests;
using ModelOps.Registry.V1;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Faults.Tests;

/// <summary>
/// A pipeline and a reviewer working without pause: each round trains a run (start, artifact, end), registers it as a
/// version, requests Staging and approves it, and sends a window of serving traffic of a watched version to drift, whose
/// input shifts every few rounds and back (so drift reports, and announces drift and its end, while faults happen). Every write carries an idempotency key or is safe to repeat, and is
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
    private readonly DriftService.DriftServiceClient _drift;
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
        _drift = new DriftService.DriftServiceClient(world.Stack.Invoker("drift", pipeline));
    }

    /// <summary>The version whose serving traffic drift watches.</summary>
    public const string ServedVersion = "served";

    /// <summary>Records of serving traffic per round: one count window.</summary>
    public const int WindowRecords = 200;

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
        var drift = new DriftService.DriftServiceClient(world.Stack.Invoker("drift", pipeline));
        using (var reference = drift.SetReference(cancellationToken: TestContext.Current.CancellationToken))
        {
            await reference.RequestStream.WriteAsync(new SetReferenceRequest
            {
                Header = new ReferenceHeader
                {
                    Model = model.Name, Version = ServedVersion, Columns = { new Column { Name = "x", Kind = ColumnKind.Numeric } },
                    Window = new WindowPolicy { Records = WindowRecords }, Source = "faults",
                },
            }, TestContext.Current.CancellationToken);
            var rows = new RowBatch();
            rows.Rows.AddRange(Sample(new Random(1), 2000, shift: 0).Select(x => new Row { Values = { ["x"] = Value.ForNumber(x) } }));
            await reference.RequestStream.WriteAsync(new SetReferenceRequest { Rows = rows }, TestContext.Current.CancellationToken);
            await reference.RequestStream.CompleteAsync();
            await reference.ResponseAsync;
        }

        await new DriftService.DriftServiceClient(world.Stack.Invoker("drift", world.As("faults-admin", "admin"))).SetWatchAsync(
            new SetWatchRequest { Model = model.Name, Version = ServedVersion, Watch = true, Reason = "faults: served traffic" },
            cancellationToken: TestContext.Current.CancellationToken);
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
            ExperimentId = ExperimentId, RunName = key, ClientRequestId = $"run-{key}", Provenance = Pipeline.FullProvenance(),
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

        // A window of serving traffic; the input shifts by five standard deviations in every other four rounds. A
        // repeat after a lost answer counts its records twice, which moves no verdict: windows are counted by records.
        var batch = new IngestRequest();
        var at = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        batch.Records.AddRange(Sample(new Random(round), WindowRecords, shift: round / 4 % 2 == 1 ? 5 : 0).Select((x, i) => new InferenceRecord
        {
            Model = Model, Version = ServedVersion, Timestamp = at, RequestId = $"{key}-{i}", Features = { ["x"] = Value.ForNumber(x) },
        }));
        await RetryAsync(async () =>
        {
            using var call = _drift.Ingest();
            try
            {
                await call.RequestStream.WriteAsync(batch);
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception exception) when (exception is not RpcException)
            {
                // The call ended while writing (the service went away): its status says why.
            }

            return await call.ResponseAsync;
        });
        Ingested.Add(round);
    }

    /// <summary>Rounds whose serving traffic drift acknowledged.</summary>
    public ConcurrentBag<int> Ingested { get; } = [];

    // Standard normal values (Box–Muller) plus shift.
    private static IEnumerable<double> Sample(Random random, int count, double shift) =>
        Enumerable.Range(0, count).Select(_ => shift + Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));

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
}

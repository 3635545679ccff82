using System.Text;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Registry.Tests;

/// <summary>What a training pipeline leaves in tracking: a finished run with its provenance, metrics and files.</summary>
public static class Pipeline
{
    /// <summary>Every provenance field tracking knows, filled in.</summary>
    public static Provenance FullProvenance() => new()
    {
        GitSha = "4f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        RepoUrl = "https://git.example.com/credit/scoring.git",
        ContainerDigest = "sha256:" + new string('c', 64),
        SbomRef = "s3://sboms/scoring/4f2a9c1.spdx.json",
        TrainImageVersion = "train:2026.11",
        DatasetId = "applications",
        DatasetSnapshotAt = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)),
        DatasetHash = "sha256:" + new string('d', 64),
        FeatureGroups = { "income", "bureau" },
        DataTimeRange = new TimeRange
        {
            Start = Timestamp.FromDateTimeOffset(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            End = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 10, 31, 0, 0, 0, TimeSpan.Zero)),
        },
        PipelineId = "scoring-train",
        JobId = "job-42",
        Orchestrator = "airflow",
        Seeds = { ["numpy"] = 7 },
        Hyperparameters = { ["max_depth"] = "6" },
        Split = new DataSplit { Train = 0.7, Validation = 0.15, Test = 0.15, Method = "time" },
        Hardware = "2 vCPU",
        EgressPolicy = "none",
        CorrelationIds = { ["change"] = "CHG-1" },
        EntryPoint = "python train.py",
    };

    /// <summary>
    /// Runs a training job as <paramref name="tracking"/>'s caller: logs <paramref name="metrics"/>, uploads
    /// <paramref name="files"/> (path → content) and ends the run FINISHED unless <paramref name="finish"/> is false.
    /// </summary>
    public static async Task<string> TrainAsync(
        TrackingClient tracking, Provenance provenance, IReadOnlyDictionary<string, double> metrics, IReadOnlyDictionary<string, byte[]> files,
        bool finish = true)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var experiment = await tracking.Raw.CreateExperimentAsync(new CreateExperimentRequest { Name = $"e-{Guid.NewGuid():N}" }, cancellationToken: cancellationToken)
            .ResponseAsync;
        if (!finish)
        {
            var running = await tracking.Raw.StartRunAsync(new StartRunRequest { ExperimentId = experiment.ExperimentId, Provenance = provenance },
                cancellationToken: cancellationToken);
            foreach (var (path, content) in files)
            {
                await tracking.UploadArtifactAsync(running.RunId, path, new MemoryStream(content), null, cancellationToken);
            }

            return running.RunId;
        }

        await using var run = await tracking.StartRunAsync(experiment.ExperimentId, provenance: provenance, cancellationToken: cancellationToken);
        run.LogMetrics(metrics);
        foreach (var (path, content) in files)
        {
            await tracking.UploadArtifactAsync(run.RunId, path, new MemoryStream(content), null, cancellationToken);
        }

        run.Complete();
        return run.RunId;
    }

    /// <summary>The model file of a run.</summary>
    public static byte[] ModelBytes(string seed) => Encoding.UTF8.GetBytes($"model weights {seed} {Guid.NewGuid()}");

    /// <summary>The field violations of an INVALID_ARGUMENT.</summary>
    public static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException exception) =>
        exception.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations ?? [];
}

using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;
using Metric = ModelOps.Mlflow.Wire.Metric;
using Run = ModelOps.Mlflow.Wire.Run;
using DatasetInput = ModelOps.Mlflow.Wire.DatasetInput;

namespace ModelOps.Mlflow.Tracking;

/// <summary>Runs, metrics and datasets between tracking's messages and MLflow's JSON.</summary>
public static class RunMapping
{
    /// <summary>MLflow's run-name tag, kept equal to the run's name.</summary>
    public const string RunNameTag = "mlflow.runName";

    /// <summary>MLflow's input tag saying what a dataset was used for.</summary>
    public const string DatasetContextTag = "mlflow.data.context";

    /// <summary>Latest millisecond timestamp accepted (9999-12-31T23:59:59.999Z).</summary>
    public const long MaxMillis = 253_402_300_799_999;

    /// <summary>
    /// The MLflow system tags (sent by every MLflow client) that fill tracking's provenance fields. What MLflow cannot send
    /// (container digest, seeds, hardware) stays missing, and the gates that need it still block.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, Action<Provenance, string>> ProvenanceTags = new Dictionary<string, Action<Provenance, string>>(StringComparer.Ordinal)
    {
        ["mlflow.source.git.commit"] = (p, v) => p.GitSha = v,
        ["mlflow.source.git.repoURL"] = (p, v) => p.RepoUrl = v,
        ["mlflow.source.name"] = (p, v) => p.EntryPoint = v,
    };

    /// <summary>A run in MLflow's shape.</summary>
    public static Run ToMlflow(ModelOps.Tracking.V1.Run run, ExperimentIds ids)
    {
        var experiment = ids.ToMlflow(run.ExperimentId);
        var info = new RunInfo(
            run.RunId, run.RunId, run.RunName, experiment, run.Author, Status(run.Status), ExperimentIds.Millis(run.StartTime),
            run.EndTime is null ? null : ExperimentIds.Millis(run.EndTime), ArtifactUri(experiment, run.RunId), ExperimentIds.Lifecycle(run.LifecycleStage));
        var data = new RunData(
            [.. run.LatestMetrics.Select(m => new Metric(m.Key, m.Value, m.Timestamp, m.Step))],
            [.. run.Params.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new KeyValue(p.Key, p.Value))],
            [.. run.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new KeyValue(t.Key, t.Value))]);
        var inputs = new RunInputs([.. run.Inputs.Select(i => new DatasetInput(
            i.Context.Length > 0 ? [new KeyValue(DatasetContextTag, i.Context)] : [],
            new Dataset(i.DatasetId, i.Hash, SourceType: null, Source: i.SourceUri.Length > 0 ? i.SourceUri : null)))]);
        return new Run(info, data, inputs, LoggedModels.OutputsOf(run));
    }

    /// <summary>Where MLflow clients put and find a run's artifacts: through the façade's artifact proxy.</summary>
    public static string ArtifactUri(string experimentId, string runId) => $"mlflow-artifacts:/{experimentId}/{runId}/artifacts";

    /// <summary>MLflow's status name.</summary>
    public static string Status(RunStatus status) => status switch
    {
        RunStatus.Running => "RUNNING",
        RunStatus.Finished => "FINISHED",
        RunStatus.Failed => "FAILED",
        RunStatus.Killed => "KILLED",
        _ => "RUNNING",
    };

    /// <summary>Tracking's status for MLflow's name; 400 for a name MLflow does not have.</summary>
    public static RunStatus ParseStatus(string value) => value.ToUpperInvariant() switch
    {
        "RUNNING" or "1" => RunStatus.Running,
        "SCHEDULED" or "2" => throw MlflowError.InvalidParameter("ModelOps has no SCHEDULED runs: a run starts RUNNING."),
        "FINISHED" or "3" => RunStatus.Finished,
        "FAILED" or "4" => RunStatus.Failed,
        "KILLED" or "5" => RunStatus.Killed,
        _ => throw MlflowError.InvalidParameter($"Invalid value '{value}' for parameter 'status': one of RUNNING, FINISHED, FAILED, KILLED."),
    };

    /// <summary>A timestamp from MLflow's milliseconds; 400 for a negative or too-late value.</summary>
    public static Timestamp FromMillis(long millis, string field) =>
        millis is >= 0 and <= MaxMillis
            ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(millis))
            : throw MlflowError.InvalidParameter($"Invalid value {millis} for parameter '{field}': milliseconds since the epoch, from 0 to {MaxMillis}.");

    /// <summary>A metric of a log request, with its required fields present.</summary>
    public static ModelOps.Tracking.V1.Metric ToTracking(string? key, double? value, long? timestamp, long? step, string field)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw MlflowError.Missing($"{field}key");
        }

        if (value is not { } number)
        {
            throw MlflowError.Missing($"{field}value");
        }

        if (timestamp is not { } millis)
        {
            throw MlflowError.Missing($"{field}timestamp");
        }

        // Tracking reads 0 as "now": a metric at the epoch itself is refused rather than stored at another time.
        if (millis == 0)
        {
            throw MlflowError.InvalidParameter($"Invalid value 0 for parameter '{field}timestamp': milliseconds since the epoch, from 1 to {MaxMillis}.");
        }

        FromMillis(millis, $"{field}timestamp");
        return new ModelOps.Tracking.V1.Metric { Key = key, Value = number, Timestamp = millis, Step = step ?? 0 };
    }

    /// <summary>How long a repeated create with the same content counts as a retry of the first, not a new object.</summary>
    public static readonly TimeSpan ReplayPeriod = TimeSpan.FromMinutes(10);

    /// <summary>The current <see cref="ReplayPeriod"/>, as text for an idempotency key's scope.</summary>
    public static string ReplayWindow(HttpContext context) =>
        (context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeMilliseconds() / (long)ReplayPeriod.TotalMilliseconds)
        .ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Adds a client's tags to a run about to start (none in ModelOps' namespace), and fills the provenance fields that
    /// MLflow's system tags carry (<see cref="ProvenanceTags"/>).
    /// </summary>
    public static void AddClientTags(StartRunRequest start, IEnumerable<KeyValueIn>? tags)
    {
        start.Provenance ??= new Provenance();
        foreach (var tag in tags ?? [])
        {
            var key = TagRules.ClientKey(tag.Key, "tags");
            start.Tags[key] = tag.Value ?? "";
            if (ProvenanceTags.TryGetValue(key, out var fill) && !string.IsNullOrEmpty(tag.Value))
            {
                fill(start.Provenance, tag.Value);
            }
        }
    }

    /// <summary>
    /// An idempotency key for a write: a hash of what it writes (the service request, before its own key is set), so that
    /// a client's retry of a write whose first attempt committed (the Python client retries POSTs on 5xx and lost
    /// connections) is written once.
    /// </summary>
    public static string IdempotencyKey(string kind, string scope, Google.Protobuf.IMessage request)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{kind}\n{scope}\n"));
        hash.AppendData(Google.Protobuf.MessageExtensions.ToByteArray(request));
        return "mlflow:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}

using System.Globalization;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tracking;

/// <summary>
/// MLflow 3's logged models (<c>/logged-models</c>, <c>runs/outputs</c>), which every 3.x <c>log_model</c> calls. A logged
/// model is a tracking run of its own, tagged <see cref="MarkerTag"/>, whose id is <c>m-&lt;run id&gt;</c>: its params,
/// tags, artifacts and provenance are a run's (its source run's datasets are copied to it, so the data it was trained on
/// is its evidence too), finalising it READY ends the run (writing its model manifest), and a version registered from
/// <c>models:/m-…</c> pins that run's manifest. Runs searches leave these runs out.
/// </summary>
public static class LoggedModels
{
    /// <summary>The tag that makes a run a logged model.</summary>
    public const string MarkerTag = "modelops.logged_model";

    /// <summary>The logged model's source run (where it was logged from).</summary>
    public const string SourceRunTag = "modelops.logged_model.source_run";

    /// <summary>Its model type.</summary>
    public const string ModelTypeTag = "modelops.logged_model.type";

    /// <summary>The tag prefix that records a run's outputs (<c>runs/outputs</c>): key + model id, value the step.</summary>
    public const string OutputTagPrefix = "modelops.output_model.";

    private const string IdPrefix = "m-";

    /// <summary>The logged model id of a backing run.</summary>
    public static string IdOf(string runId) => IdPrefix + runId;

    /// <summary>The backing run of a logged model id, or null when it is not one.</summary>
    public static string? RunOf(string? modelId) =>
        modelId is { Length: > 2 } && modelId.StartsWith(IdPrefix, StringComparison.Ordinal) && modelId[2..].All(char.IsAsciiHexDigitLower) ? modelId[2..] : null;

    /// <summary>Whether <paramref name="run"/> backs a logged model.</summary>
    public static bool IsLoggedModel(ModelOps.Tracking.V1.Run run) => run.Tags.TryGetValue(MarkerTag, out var marker) && marker == "true";

    /// <summary>Where MLflow clients put and find a logged model's files.</summary>
    public static string ArtifactUri(string experimentId, string runId) => $"mlflow-artifacts:/{experimentId}/models/{IdOf(runId)}/artifacts";

    /// <summary>A logged model in MLflow's shape.</summary>
    public static LoggedModel ToMlflow(ModelOps.Tracking.V1.Run run, ExperimentIds ids)
    {
        var experiment = ids.ToMlflow(run.ExperimentId);
        var status = run.Status switch
        {
            RunStatus.Running => "LOGGED_MODEL_PENDING",
            RunStatus.Finished => "LOGGED_MODEL_READY",
            _ => "LOGGED_MODEL_UPLOAD_FAILED",
        };
        var created = ExperimentIds.Millis(run.StartTime);
        return new LoggedModel(
            new LoggedModelInfo(
                IdOf(run.RunId), experiment, run.RunName, created, run.EndTime is null ? created : ExperimentIds.Millis(run.EndTime),
                ArtifactUri(experiment, run.RunId), status, run.Tags.GetValueOrDefault(ModelTypeTag), run.Tags.GetValueOrDefault(SourceRunTag),
                [.. run.Tags.Where(t => !t.Key.StartsWith(TagRules.ReservedPrefix, StringComparison.Ordinal)).OrderBy(t => t.Key, StringComparer.Ordinal)
                    .Select(t => new KeyValue(t.Key, t.Value))]),
            new LoggedModelData(
                [.. run.Params.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new KeyValue(p.Key, p.Value))],
                [.. run.LatestMetrics.Select(m => new ModelOps.Mlflow.Wire.Metric(m.Key, m.Value, m.Timestamp, m.Step))]));
    }

    /// <summary>The models a run logged (<c>runs/outputs</c>), from its output tags.</summary>
    public static RunOutputs? OutputsOf(ModelOps.Tracking.V1.Run run)
    {
        var outputs = run.Tags.Where(t => t.Key.StartsWith(OutputTagPrefix, StringComparison.Ordinal))
            .Select(t => new ModelOutput(t.Key[OutputTagPrefix.Length..], long.TryParse(t.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var step) ? step : 0))
            .OrderBy(o => o.ModelId, StringComparer.Ordinal)
            .ToList();
        return outputs.Count == 0 ? null : new RunOutputs(outputs);
    }

    /// <summary>
    /// A logged-model filter clause as a run clause: <c>name</c> is the run's name, <c>model_id</c> its id, the model
    /// type and source run are tags, creation times are start times, <c>status</c> maps READY to FINISHED.
    /// </summary>
    public static FilterClause ToRunClause(FilterClause clause) => clause.Key switch
    {
        { Entity: "attribute", Key: "name" } => clause with { Key = new FilterKey("attribute", "run_name") },
        { Entity: "attribute", Key: "model_id" } => clause with
        {
            Key = new FilterKey("attribute", "run_id"),
            Value = clause.Value switch
            {
                string id => RunOf(id) ?? id,
                List<string> list => list.Select(id => RunOf(id) ?? id).ToList(),
                var other => other,
            },
        },
        { Entity: "attribute", Key: "model_type" } => clause with { Key = new FilterKey("tag", ModelTypeTag) },
        { Entity: "attribute", Key: "source_run_id" } => clause with { Key = new FilterKey("tag", SourceRunTag) },
        { Entity: "attribute", Key: "creation_timestamp" or "creation_time" } => clause with { Key = new FilterKey("attribute", "start_time") },
        { Entity: "attribute", Key: "last_updated_timestamp" or "last_updated_time" } => clause with { Key = new FilterKey("attribute", "end_time") },
        { Entity: "attribute", Key: "status" } => clause with
        {
            Value = clause.Value switch
            {
                "LOGGED_MODEL_READY" => "FINISHED",
                "LOGGED_MODEL_PENDING" => "RUNNING",
                "LOGGED_MODEL_UPLOAD_FAILED" => "FAILED",
                var other => other,
            },
        },
        { Entity: "attribute" } => throw MlflowError.InvalidParameter(
            $"Invalid attribute '{clause.Key.Key}' in a logged-model filter: valid ones are name, model_id, model_type, status, source_run_id, creation_timestamp and last_updated_timestamp."),
        _ => clause,
    };
}

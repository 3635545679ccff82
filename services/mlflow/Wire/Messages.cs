// MLflow's REST messages, written from the façade's wire specification (field names as the clients send and parse them).
// Requests are mutable classes with defaults, so that an absent field reads as unset; responses leave unset fields null,
// which the serializer omits.
#pragma warning disable CA1002, CA2227 // Lists as System.Text.Json binds them.

namespace ModelOps.Mlflow.Wire;

public sealed record KeyValue(string Key, string Value);

public sealed class KeyValueIn
{
    public string? Key { get; set; }
    public string? Value { get; set; }
}

// ------------------------------------------------------------------ experiments

public sealed record Experiment(
    string ExperimentId, string Name, string ArtifactLocation, string LifecycleStage, long LastUpdateTime, long CreationTime, List<KeyValue> Tags);

public sealed class ExperimentRef
{
    public string? ExperimentId { get; set; }
    public string? ExperimentName { get; set; }
}

public sealed class CreateExperimentIn
{
    public string? Name { get; set; }
    public string? ArtifactLocation { get; set; }
    public List<KeyValueIn>? Tags { get; set; }
}

public sealed class UpdateExperimentIn
{
    public string? ExperimentId { get; set; }
    public string? NewName { get; set; }
}

public sealed class ExperimentTagIn
{
    public string? ExperimentId { get; set; }
    public string? Key { get; set; }
    public string? Value { get; set; }
}

public sealed class SearchIn
{
    public long? MaxResults { get; set; }
    public string? PageToken { get; set; }
    public string? Filter { get; set; }
    public List<string>? OrderBy { get; set; }
    public string? ViewType { get; set; }
    public List<string>? ExperimentIds { get; set; }
    public string? RunViewType { get; set; }
}

// ------------------------------------------------------------------ runs

public sealed record RunInfo(
    string RunId, string RunUuid, string RunName, string ExperimentId, string UserId, string Status, long StartTime, long? EndTime,
    string ArtifactUri, string LifecycleStage);

public sealed record Metric(string Key, double Value, long Timestamp, long Step);

public sealed record RunData(List<Metric> Metrics, List<KeyValue> Params, List<KeyValue> Tags);

public sealed record Dataset(string Name, string Digest, string? SourceType, string? Source);

public sealed record DatasetInput(List<KeyValue> Tags, Dataset Dataset);

public sealed record RunInputs(List<DatasetInput> DatasetInputs);

public sealed record Run(RunInfo Info, RunData Data, RunInputs Inputs, RunOutputs? Outputs);

public sealed class RunRef
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }

    /// <summary>The run id, from run_id or the older run_uuid.</summary>
    public string Id => string.IsNullOrEmpty(RunId) ? RunUuid ?? "" : RunId;
}

public sealed class CreateRunIn
{
    public string? ExperimentId { get; set; }
    public string? UserId { get; set; }
    public string? RunName { get; set; }
    public long? StartTime { get; set; }
    public List<KeyValueIn>? Tags { get; set; }
}

public sealed class UpdateRunIn
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }
    public string? Status { get; set; }
    public long? EndTime { get; set; }
    public string? RunName { get; set; }
}

public sealed class MetricIn
{
    public string? Key { get; set; }
    public double? Value { get; set; }
    public long? Timestamp { get; set; }
    public long? Step { get; set; }
}

public sealed class LogMetricIn
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }
    public string? Key { get; set; }
    public double? Value { get; set; }
    public long? Timestamp { get; set; }
    public long? Step { get; set; }
}

public sealed class RunKeyValueIn
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }
    public string? Key { get; set; }
    public string? Value { get; set; }
}

public sealed class LogBatchIn
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }
    public List<MetricIn>? Metrics { get; set; }
    public List<KeyValueIn>? Params { get; set; }
    public List<KeyValueIn>? Tags { get; set; }
}

public sealed class DatasetIn
{
    public string? Name { get; set; }
    public string? Digest { get; set; }
    public string? SourceType { get; set; }
    public string? Source { get; set; }
}

public sealed class DatasetInputIn
{
    public List<KeyValueIn>? Tags { get; set; }
    public DatasetIn? Dataset { get; set; }
}

public sealed class LogInputsIn
{
    public string? RunId { get; set; }
    public List<DatasetInputIn>? Datasets { get; set; }
}

public sealed class MetricHistoryIn
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }
    public string? MetricKey { get; set; }
    public long? MaxResults { get; set; }
    public string? PageToken { get; set; }
}

public sealed class ListArtifactsIn
{
    public string? RunId { get; set; }
    public string? RunUuid { get; set; }
    public string? Path { get; set; }
    public string? PageToken { get; set; }
}

public sealed record ArtifactFile(string Path, bool IsDir, long? FileSize);

// ------------------------------------------------------------------ registry

public sealed record RegisteredModel(
    string Name, long CreationTimestamp, long LastUpdatedTimestamp, string UserId, string Description, List<ModelVersion> LatestVersions,
    List<KeyValue> Tags, List<Alias> Aliases);

public sealed record Alias(string AliasName, string Version)
{
    // MLflow names the field "alias"; a record property cannot share its type's name.
    [System.Text.Json.Serialization.JsonPropertyName("alias")]
    public string AliasName { get; init; } = AliasName;
}

public sealed record ModelVersion(
    string Name, string Version, long CreationTimestamp, long LastUpdatedTimestamp, string UserId, string CurrentStage, string Description,
    string Source, string RunId, string Status, string? StatusMessage, List<KeyValue> Tags, List<string> Aliases, string? ModelId);

public sealed class RegistryIn
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    public List<KeyValueIn>? Tags { get; set; }
    public string? Version { get; set; }
    public string? Source { get; set; }
    public string? RunId { get; set; }
    public string? ModelId { get; set; }
    public string? Stage { get; set; }
    public bool? ArchiveExistingVersions { get; set; }
    public List<string>? Stages { get; set; }
    public string? Alias { get; set; }
    public string? Comment { get; set; }
    public string? Filter { get; set; }
    public long? MaxResults { get; set; }
    public string? PageToken { get; set; }
    public List<string>? OrderBy { get; set; }
}

// ------------------------------------------------------------------ logged models (MLflow 3)

public sealed class LoggedModelIn
{
    public string? ExperimentId { get; set; }
    public string? Name { get; set; }
    public string? ModelType { get; set; }
    public string? SourceRunId { get; set; }
    public string? Status { get; set; }
    public List<KeyValueIn>? Params { get; set; }
    public List<KeyValueIn>? Tags { get; set; }
}

public sealed class LoggedModelOrderIn
{
    public string? FieldName { get; set; }
    public bool? Ascending { get; set; }
}

public sealed class LoggedModelSearchIn
{
    public List<string>? ExperimentIds { get; set; }
    public string? Filter { get; set; }
    public long? MaxResults { get; set; }
    public string? PageToken { get; set; }
    public List<LoggedModelOrderIn>? OrderBy { get; set; }
}

public sealed class ModelOutputIn
{
    public string? ModelId { get; set; }
    public long? Step { get; set; }
}

public sealed class RunOutputsIn
{
    public string? RunId { get; set; }
    public List<ModelOutputIn>? Models { get; set; }
}

public sealed record LoggedModelInfo(
    string ModelId, string ExperimentId, string Name, long CreationTimestampMs, long LastUpdatedTimestampMs, string ArtifactUri, string Status,
    string? ModelType, string? SourceRunId, List<KeyValue> Tags);

public sealed record LoggedModelData(List<KeyValue> Params, List<Metric> Metrics);

public sealed record LoggedModel(LoggedModelInfo Info, LoggedModelData Data);

public sealed record ModelOutput(string ModelId, long Step);

public sealed record RunOutputs(List<ModelOutput> ModelOutputs);

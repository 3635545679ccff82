using ModelOps.Contracts.Tracking.V1;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Domain;

/// <summary>The provenance fields a run can record, by name, and which of them a run lacks.</summary>
public static class ProvenanceFields
{
    /// <summary>Every field, in the order of the record: code and build, data, execution, training, correlation.</summary>
    public static IReadOnlyList<string> All => ProvenanceFieldNames.All;

    /// <summary>
    /// The fields of <paramref name="mandatory"/> that the run lacks. A data field (dataset_id, dataset_hash,
    /// dataset_snapshot_at, feature_groups, data_time_range) is present when the provenance record has it, or when the
    /// run logged datasets (<paramref name="inputs"/>) and every one of them has it: a run's inputs are its data's
    /// provenance, and one dataset without a snapshot leaves the data unpinned.
    /// </summary>
    public static IReadOnlyList<string> Missing(
        Provenance provenance, bool started, bool ended, int hyperparameters, IReadOnlyList<DatasetInput> inputs, IEnumerable<string> mandatory) =>
        mandatory.Where(field => !IsPresent(field, provenance, started, ended, hyperparameters, inputs)).ToList();

    /// <summary>Whether <paramref name="field"/> names a provenance field.</summary>
    public static bool IsKnown(string field) => All.Contains(field, StringComparer.Ordinal);

    private static bool IsPresent(string field, Provenance p, bool started, bool ended, int hyperparameters, IReadOnlyList<DatasetInput> inputs) => field switch
    {
        "git_sha" => p.GitSha.Length > 0,
        "repo_url" => p.RepoUrl.Length > 0,
        "container_digest" => p.ContainerDigest.Length > 0,
        "sbom_ref" => p.SbomRef.Length > 0,
        "train_image_version" => p.TrainImageVersion.Length > 0,
        "dataset_id" => p.DatasetId.Length > 0 || EveryInput(inputs, i => i.DatasetId.Length > 0),
        "dataset_snapshot_at" => p.DatasetSnapshotAt is not null || EveryInput(inputs, i => i.SnapshotAt is not null),
        "dataset_hash" => p.DatasetHash.Length > 0 || EveryInput(inputs, i => i.Hash.Length > 0),
        "feature_groups" => p.FeatureGroups.Count > 0 || EveryInput(inputs, i => i.FeatureGroups.Count > 0),
        "data_time_range" => p.DataTimeRange is { Start: not null, End: not null } || EveryInput(inputs, i => i.TimeRange is { Start: not null, End: not null }),
        "pipeline_id" => p.PipelineId.Length > 0,
        "job_id" => p.JobId.Length > 0,
        "orchestrator" => p.Orchestrator.Length > 0,
        "started_at" => started,
        "ended_at" => ended,
        "seeds" => p.Seeds.Count > 0,
        "hyperparameters" => hyperparameters > 0,
        "split" => p.Split is { } split && (split.Train > 0 || split.Validation > 0 || split.Test > 0),
        "hardware" => p.Hardware.Length > 0,
        "egress_policy" => p.EgressPolicy.Length > 0,
        "correlation_ids" => p.CorrelationIds.Count > 0,
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, "not a provenance field"),
    };

    private static bool EveryInput(IReadOnlyList<DatasetInput> inputs, Func<DatasetInput, bool> has) => inputs.Count > 0 && inputs.All(has);
}

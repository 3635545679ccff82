namespace ModelOps.Contracts.Tracking.V1;

/// <summary>
/// The names of a run's provenance fields, in the order of the record: code and build, data, execution, training,
/// correlation. Tracking reports which of them a run has (<c>ProvenanceReport.present</c>); the registry's policies
/// require them by these names.
/// </summary>
public static class ProvenanceFieldNames
{
    /// <summary>Every field.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        "git_sha", "repo_url", "container_digest", "sbom_ref", "train_image_version",
        "dataset_id", "dataset_snapshot_at", "dataset_hash", "feature_groups", "data_time_range",
        "pipeline_id", "job_id", "orchestrator", "started_at", "ended_at", "seeds",
        "hyperparameters", "split", "hardware", "egress_policy",
        "correlation_ids",
    ];
}

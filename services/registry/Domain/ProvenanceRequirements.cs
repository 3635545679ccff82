using ModelOps.Registry.V1;

namespace ModelOps.Registry.Domain;

/// <summary>The provenance fields a policy can require, and the defaults of each risk tier.</summary>
public static class ProvenanceRequirements
{
    /// <summary>
    /// Tracking's provenance field names (tracking's <c>ProvenanceFields.All</c>; a test keeps the two lists equal). The
    /// registry learns which of them a run has from <c>ProvenanceReport.present</c> and only needs the names to check
    /// a policy.
    /// </summary>
    public static readonly IReadOnlyList<string> All =
    [
        "git_sha", "repo_url", "container_digest", "sbom_ref", "train_image_version",
        "dataset_id", "dataset_snapshot_at", "dataset_hash", "feature_groups", "data_time_range",
        "pipeline_id", "job_id", "orchestrator", "started_at", "ended_at", "seeds",
        "hyperparameters", "split", "hardware", "egress_policy",
        "correlation_ids",
    ];

    /// <summary>What a provenance gate without its own list requires of a model of <paramref name="tier"/>.</summary>
    public static IReadOnlyList<string> Default(RiskTier tier) => tier switch
    {
        RiskTier.High => All,
        RiskTier.Medium =>
        [
            "git_sha", "repo_url", "container_digest", "dataset_id", "dataset_snapshot_at", "dataset_hash",
            "pipeline_id", "job_id", "started_at", "ended_at", "seeds", "hyperparameters",
        ],
        _ => ["git_sha", "dataset_id", "dataset_hash"],
    };
}

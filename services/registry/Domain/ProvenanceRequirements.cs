using ModelOps.Contracts.Tracking.V1;
using ModelOps.Registry.V1;

namespace ModelOps.Registry.Domain;

/// <summary>The provenance fields a policy can require, and the defaults of each risk tier.</summary>
public static class ProvenanceRequirements
{
    /// <summary>Tracking's provenance field names: a policy names what it requires by them.</summary>
    public static IReadOnlyList<string> All => ProvenanceFieldNames.All;

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

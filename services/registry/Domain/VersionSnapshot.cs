using ModelOps.Registry.V1;

namespace ModelOps.Registry.Domain;

/// <summary>One of a run's artifacts, as tracking recorded it.</summary>
/// <param name="Path">Its path within the run.</param>
/// <param name="Sha256">Its SHA-256 (hex).</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="Uri">Where its bytes are (<c>s3://bucket/blobs/sha256/…</c>).</param>
public sealed record ArtifactRef(string Path, string Sha256, long Size, string Uri);

/// <summary>
/// What the gates of a version look at, fixed when it was registered: its run had ended, so none of it can change.
/// <see cref="RunRecordSha256"/> is the hash of the run's final record, which every evaluation checks tracking still holds.
/// </summary>
public sealed record VersionSnapshot(
    string Model,
    int Version,
    string RunId,
    string RunAuthor,
    string ArtifactPath,
    string ArtifactUri,
    string ArtifactSha256,
    long ArtifactSize,
    Stage Stage,
    IReadOnlyList<string> ProvenancePresent,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyList<ArtifactRef> Artifacts,
    string RunRecordSha256);

/// <summary>Everything one evaluation of a request needs.</summary>
/// <param name="Version">The version asked for.</param>
/// <param name="Tier">Its model's risk tier.</param>
/// <param name="Policy">The policy in effect.</param>
/// <param name="Target">Where the version would go.</param>
/// <param name="Approvals">The approvals recorded so far.</param>
public sealed record EvaluationContext(VersionSnapshot Version, RiskTier Tier, Policy Policy, Target Target, IReadOnlyList<Approval> Approvals);

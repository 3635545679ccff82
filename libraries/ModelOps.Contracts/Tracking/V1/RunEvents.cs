namespace ModelOps.Contracts.Tracking.V1;

/// <summary>A training run started.</summary>
public sealed record RunStarted : IntegrationEvent
{
    /// <summary>The run (32 hex digits).</summary>
    public required string RunId { get; init; }

    /// <summary>Its experiment.</summary>
    public required string ExperimentId { get; init; }

    /// <summary>Its name.</summary>
    public required string RunName { get; init; }

    /// <summary>The run it re-runs, if any.</summary>
    public string? RebuildOf { get; init; }

    /// <summary>The provenance given at start: protobuf JSON of <c>modelops.tracking.v1.Provenance</c>.</summary>
    public required string ProvenanceJson { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects =>
        new Dictionary<string, string> { [SubjectKeys.Run] = RunId, [SubjectKeys.Experiment] = ExperimentId };
}

/// <summary>A run ended; from now on it accepts nothing new.</summary>
public sealed record RunFinished : IntegrationEvent
{
    /// <summary>The run (32 hex digits).</summary>
    public required string RunId { get; init; }

    /// <summary>Its experiment.</summary>
    public required string ExperimentId { get; init; }

    /// <summary>FINISHED, FAILED or KILLED.</summary>
    public required string Status { get; init; }

    /// <summary>The SHA-256 (hex) of the run's final record as RFC 8785 canonical JSON: what the run was, fixed.</summary>
    public required string RecordSha256 { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects =>
        new Dictionary<string, string> { [SubjectKeys.Run] = RunId, [SubjectKeys.Experiment] = ExperimentId };
}

/// <summary>A file was recorded among a run's artifacts.</summary>
public sealed record ArtifactLogged : IntegrationEvent
{
    /// <summary>The run (32 hex digits).</summary>
    public required string RunId { get; init; }

    /// <summary>Its experiment.</summary>
    public required string ExperimentId { get; init; }

    /// <summary>The artifact's path within the run.</summary>
    public required string Path { get; init; }

    /// <summary>The SHA-256 (hex) of its bytes, computed by the service while they streamed in.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Its size in bytes.</summary>
    public required long Size { get; init; }

    /// <summary>Where its bytes are: <c>s3://bucket/blobs/sha256/…</c>.</summary>
    public required string Uri { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects =>
        new Dictionary<string, string> { [SubjectKeys.Run] = RunId, [SubjectKeys.Experiment] = ExperimentId };
}

/// <summary>A run was soft-deleted (hidden from searches) or restored. A model version of a deleted run cannot be promoted.</summary>
public sealed record RunLifecycleChanged : IntegrationEvent
{
    /// <summary>The run (32 hex digits).</summary>
    public required string RunId { get; init; }

    /// <summary>Its experiment.</summary>
    public required string ExperimentId { get; init; }

    /// <summary>True when the run was deleted, false when it was restored.</summary>
    public required bool Deleted { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects =>
        new Dictionary<string, string> { [SubjectKeys.Run] = RunId, [SubjectKeys.Experiment] = ExperimentId };
}

namespace ModelOps.Contracts.Registry.V1;

/// <summary>Subjects shared by the registry's events.</summary>
internal static class RegistrySubjects
{
    public static IReadOnlyDictionary<string, string> Of(string model, int? version = null, string? runId = null)
    {
        var subjects = new Dictionary<string, string> { [SubjectKeys.Model] = model };
        if (version is not null)
        {
            subjects[SubjectKeys.ModelVersion] = $"{model}/{version}";
        }

        if (runId is not null)
        {
            subjects[SubjectKeys.Run] = runId;
        }

        return subjects;
    }
}

/// <summary>A registered model was created.</summary>
public sealed record RegisteredModelCreated : IntegrationEvent
{
    /// <summary>Its name.</summary>
    public required string Model { get; init; }

    /// <summary>LOW, MEDIUM or HIGH.</summary>
    public required string RiskTier { get; init; }

    /// <summary>Who answers for it.</summary>
    public required string Owner { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model);
}

/// <summary>A version was registered from a finished run, its artifact pinned by SHA-256.</summary>
public sealed record ModelVersionRegistered : IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version number.</summary>
    public required int Version { get; init; }

    /// <summary>The tracking run (32 hex digits).</summary>
    public required string RunId { get; init; }

    /// <summary>The run's final record hash, as tracking announced it.</summary>
    public required string RunRecordSha256 { get; init; }

    /// <summary>The artifact's path in the run.</summary>
    public required string ArtifactPath { get; init; }

    /// <summary>The SHA-256 (hex) the registry re-computed from the object store.</summary>
    public required string ArtifactSha256 { get; init; }

    /// <summary>Where the bytes are.</summary>
    public required string ArtifactUri { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version, RunId);
}

/// <summary>A model's promotion policy changed (admin only).</summary>
public sealed record PolicyChanged : IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The new policy's version.</summary>
    public required int PolicyVersion { get; init; }

    /// <summary>The policy, as protobuf JSON of <c>modelops.registry.v1.Policy</c>.</summary>
    public required string PolicyJson { get; init; }

    /// <summary>Why it changed.</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model);
}

/// <summary>Someone asked for a version to move to a stage or take an alias.</summary>
public sealed record PromotionRequested : IntegrationEvent
{
    /// <summary>The request.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary><c>stage:PRODUCTION</c>, <c>alias:champion</c>, ...</summary>
    public required string Target { get; init; }

    /// <summary>Why.</summary>
    public required string Justification { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version);
}

/// <summary>One gate's result within an evaluation.</summary>
/// <param name="Name">The gate's name in its policy.</param>
/// <param name="Kind">provenance, artifact_integrity, metric_threshold, evidence, approval or remote.</param>
/// <param name="Status">PASS, FAIL or PENDING.</param>
/// <param name="Reason">Why.</param>
/// <param name="Evidence">What was looked at.</param>
public sealed record GateOutcome(string Name, string Kind, string Status, string Reason, IReadOnlyDictionary<string, string> Evidence);

/// <summary>A request's gates were evaluated.</summary>
public sealed record GateEvaluated : IntegrationEvent
{
    /// <summary>The request.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>The policy version the gates came from (0: the default policy).</summary>
    public required int PolicyVersion { get; init; }

    /// <summary>Every gate's result.</summary>
    public required IReadOnlyList<GateOutcome> Gates { get; init; }

    /// <summary>Whether every gate passed.</summary>
    public required bool Passed { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version);
}

/// <summary>A reviewer approved a request.</summary>
public sealed record PromotionApproved : IntegrationEvent
{
    /// <summary>The request.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>The reviewer's comment.</summary>
    public required string Comment { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version);
}

/// <summary>A request ended: APPROVED (its transition was made), REJECTED, CANCELLED or SUPERSEDED.</summary>
public sealed record PromotionDecided : IntegrationEvent
{
    /// <summary>The request.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary><c>stage:PRODUCTION</c>, <c>alias:champion</c>, ...</summary>
    public required string Target { get; init; }

    /// <summary>APPROVED, REJECTED, CANCELLED or SUPERSEDED.</summary>
    public required string Outcome { get; init; }

    /// <summary>The deciding comment.</summary>
    public required string Comment { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version);
}

/// <summary>A version entered or left a stage, or an alias moved.</summary>
public sealed record StageChanged : IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>The run it came from.</summary>
    public required string RunId { get; init; }

    /// <summary>For a stage, where the version was (<c>stage:STAGING</c>); for an alias, the version it pointed at before (<c>"2"</c>), or null.</summary>
    public string? From { get; init; }

    /// <summary>Where it is now: <c>stage:PRODUCTION</c>, <c>alias:champion</c>.</summary>
    public required string To { get; init; }

    /// <summary>The artifact's SHA-256, so a consumer can fetch and check it without another call.</summary>
    public required string ArtifactSha256 { get; init; }

    /// <summary>The request that decided it; null for an override.</summary>
    public Guid? RequestId { get; init; }

    /// <summary>Whether an admin forced it past the gates.</summary>
    public required bool Override { get; init; }

    /// <summary>The override's reason, or the request's justification.</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version, RunId);
}

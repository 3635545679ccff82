using System.Text.Json.Serialization;

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

    // The labels of a finding about a promotion request.
    public static IReadOnlyDictionary<string, string> Alert(string name, string model, int version, Guid request, string severity) => FindingLabels.Of(
        (FindingLabels.AlertName, name), (FindingLabels.Source, "registry"), (FindingLabels.Model, model),
        (FindingLabels.Version, version.ToString(System.Globalization.CultureInfo.InvariantCulture)), (FindingLabels.Request, request.ToString()),
        (FindingLabels.Severity, severity));
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
public sealed record PromotionRequested : IntegrationEvent, IFinding
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

    /// <inheritdoc />
    /// <remarks>Reviewers are told a request waits for them; its decision ends the alert.</remarks>
    public IReadOnlyDictionary<string, string> AlertLabels => RegistrySubjects.Alert("PromotionAwaitingReview", Model, Version, RequestId, "info");

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", $"{Actor} asks to move {Model} version {Version} to {Target}"), ("target", Target), ("justification", Justification));

    /// <inheritdoc />
    public bool Resolves => false;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

/// <summary>One gate's result within an evaluation.</summary>
/// <param name="Name">The gate's name in its policy.</param>
/// <param name="Kind">provenance, artifact_integrity, metric_threshold, evidence, approval or remote.</param>
/// <param name="Status">PASS, FAIL or PENDING.</param>
/// <param name="Reason">Why.</param>
/// <param name="Evidence">What was looked at.</param>
public sealed record GateOutcome(string Name, string Kind, string Status, string Reason, IReadOnlyDictionary<string, string> Evidence);

/// <summary>A request's gates were evaluated.</summary>
public sealed record GateEvaluated : IntegrationEvent, IFinding
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

    /// <summary>The gates that failed (not those still pending).</summary>
    private IEnumerable<GateOutcome> Failed => Gates.Where(g => g.Status == "FAIL");

    /// <inheritdoc />
    /// <remarks>An evaluation with a failed gate raises PromotionGateFailed; one without ends it.</remarks>
    public IReadOnlyDictionary<string, string> AlertLabels => Resolves
        ? FindingLabels.Of((FindingLabels.AlertName, "PromotionGateFailed"), (FindingLabels.Request, RequestId.ToString()))
        : RegistrySubjects.Alert("PromotionGateFailed", Model, Version, RequestId, "warning");

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => Resolves ? FindingLabels.Of() : FindingLabels.Of(
        ("summary", $"{Model} version {Version} failed gate(s) {string.Join(", ", Failed.Select(g => g.Name))}"),
        ("failed_gates", string.Join(",", Failed.Select(g => g.Name))),
        ("reasons", string.Join("; ", Failed.Select(g => $"{g.Name}: {g.Reason}"))));

    /// <inheritdoc />
    public bool Resolves => !Failed.Any();

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
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
public sealed record PromotionDecided : IntegrationEvent, IFinding
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

    /// <inheritdoc />
    /// <remarks>Ends every alert about the request: it no longer waits, and its gates no longer matter.</remarks>
    public IReadOnlyDictionary<string, string> AlertLabels => FindingLabels.Of((FindingLabels.Request, RequestId.ToString()));

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of();

    /// <inheritdoc />
    public bool Resolves => true;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

/// <summary>A lifecycle stage of a model version, as events carry it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ModelStage>))]
public enum ModelStage
{
    /// <summary>In no stage.</summary>
    None,

    /// <summary>Staging.</summary>
    Staging,

    /// <summary>Production.</summary>
    Production,

    /// <summary>Archived: it serves nothing, and its aliases ended with it.</summary>
    Archived,
}

/// <summary>Whether a change concerns a stage or an alias.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TargetKind>))]
public enum TargetKind
{
    /// <summary>A lifecycle stage.</summary>
    Stage,

    /// <summary>An alias (champion, live, ...).</summary>
    Alias,
}

/// <summary>
/// A version entered a stage, or an alias moved to it. The typed members (<see cref="Kind"/>, <see cref="Stage"/>,
/// <see cref="PreviousStage"/>, <see cref="Alias"/>, <see cref="PreviousVersion"/>) say what changed;
/// <see cref="From"/> and <see cref="To"/> keep the text form of the first version of this event.
/// </summary>
public sealed record StageChanged : IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>The run it came from.</summary>
    public required string RunId { get; init; }

    /// <summary>Whether a stage or an alias changed.</summary>
    public TargetKind Kind { get; init; }

    /// <summary>For a stage: the stage the version entered.</summary>
    public ModelStage? Stage { get; init; }

    /// <summary>For a stage: the stage the version left.</summary>
    public ModelStage? PreviousStage { get; init; }

    /// <summary>For an alias: its name.</summary>
    public string? Alias { get; init; }

    /// <summary>For an alias: the version it pointed at before, or null when it is new.</summary>
    public int? PreviousVersion { get; init; }

    /// <summary>Text form: for a stage, where the version was (<c>stage:STAGING</c>); for an alias, the version it pointed at before (<c>"2"</c>), or null.</summary>
    public string? From { get; init; }

    /// <summary>Text form: where it is now, <c>stage:PRODUCTION</c> or <c>alias:champion</c>.</summary>
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

/// <summary>
/// A registered model's descriptive or governing fields changed (owner, description, tags, risk tier), with who changed
/// them and why. A change of risk tier changes which gates a new request must pass; requests already open keep the gates
/// they were opened with.
/// </summary>
public sealed record RegisteredModelUpdated : IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Each changed field (<c>owner</c>, <c>description</c>, <c>tags</c>, <c>risk_tier</c>) with its old and new value.</summary>
    public required IReadOnlyDictionary<string, FieldChange> Changes { get; init; }

    /// <summary>Why (required for a change of risk tier or owner).</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model);
}

/// <summary>A field's value before and after a change (tags as JSON text).</summary>
/// <param name="From">Before.</param>
/// <param name="To">After.</param>
public sealed record FieldChange(string From, string To);

/// <summary>
/// An open request was re-opened under the policy and risk tier now in force: its gates are those from now on. Without
/// this, a request keeps the gates of the policy and tier in force when it was opened.
/// </summary>
public sealed record PromotionRepinned : IntegrationEvent
{
    /// <summary>The request.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>The policy version and tier the request had.</summary>
    public required int FromPolicyVersion { get; init; }

    /// <summary>LOW, MEDIUM or HIGH, before.</summary>
    public required string FromRiskTier { get; init; }

    /// <summary>The policy version and tier it has now.</summary>
    public required int ToPolicyVersion { get; init; }

    /// <summary>LOW, MEDIUM or HIGH, now.</summary>
    public required string ToRiskTier { get; init; }

    /// <summary>Why.</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version);
}

/// <summary>
/// The registry found the bytes of a version's pinned artifact altered or gone: it no longer serves the version through
/// <c>GetDeployable</c>, and no request can move it.
/// </summary>
public sealed record ArtifactIntegrityViolated : IntegrationEvent, IFinding
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The version.</summary>
    public required int Version { get; init; }

    /// <summary>The pinned SHA-256.</summary>
    public required string PinnedSha256 { get; init; }

    /// <summary>What the store's bytes hash to now; empty when they are gone.</summary>
    public required string ActualSha256 { get; init; }

    /// <summary>Where the bytes are.</summary>
    public required string Uri { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RegistrySubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => FindingLabels.Of(
        (FindingLabels.AlertName, nameof(ArtifactIntegrityViolated)), (FindingLabels.Source, "registry"), (FindingLabels.Model, Model),
        (FindingLabels.Version, Version.ToString(System.Globalization.CultureInfo.InvariantCulture)), (FindingLabels.Severity, "critical"));

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", $"The artifact of {Model} version {Version} no longer hashes to its pinned SHA-256"), ("uri", Uri),
        ("pinned_sha256", PinnedSha256), ("actual_sha256", ActualSha256));

    /// <inheritdoc />
    public bool Resolves => false;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

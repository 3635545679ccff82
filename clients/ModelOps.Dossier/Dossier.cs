using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelOps.Dossier;

/// <summary>
/// The audit dossier of one model version, as its JSON bundle holds it (<see cref="FormatName"/>): the model card,
/// the run's provenance, the artifacts with their hashes, every promotion request with its gates, evidence and
/// approvals, the version's deployments and how it behaved in them (drift, concept drift, fairness, explanations, alerts),
/// logged decisions explained (examples of the version's reason codes, and the decisions asked for by request id), and
/// every ledger entry about the version with an inclusion proof against one signed checkpoint, so that the ledger's part
/// can be verified offline (<c>modelops ledger verify --bundle</c>).
/// </summary>
public sealed record AuditDossier(
    string Format,
    DateTimeOffset GeneratedAt,
    string GeneratedBy,
    ModelCard Model,
    VersionFacts Version,
    RunFacts? Run,
    IReadOnlyList<ArtifactFacts> Artifacts,
    IReadOnlyList<PromotionFacts> Promotions,
    IReadOnlyList<DeploymentFacts> Deployments,
    MonitoringFacts Monitoring,
    LedgerProofs Ledger,
    DecisionRecords? Decisions = null)
{
    /// <summary>The bundle format's name and version.</summary>
    public const string FormatName = "modelops-dossier/v1";

    /// <summary>How the bundle is written: camelCase, indented, enums as strings.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The JSON bundle.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a bundle; <see cref="InvalidDataException"/> when it is not one.</summary>
    public static AuditDossier Parse(string json)
    {
        try
        {
            var dossier = JsonSerializer.Deserialize<AuditDossier>(json, Json);
            return dossier is { Format: FormatName, Ledger: not null, Model: not null, Version: not null, Monitoring: not null }
                ? dossier
                : throw new InvalidDataException($"The file is not a {FormatName} bundle.");
        }
        catch (JsonException exception)
        {
            throw new InvalidDataException($"The file is not a {FormatName} bundle: {exception.Message}", exception);
        }
    }
}

/// <summary>
/// The model card: what the registry records of the model (its description is its purpose), and what its
/// <c>intended_use</c> and <c>limitations</c> tags say.
/// </summary>
public sealed record ModelCard(
    string Name, string Description, string Owner, string RiskTier, IReadOnlyDictionary<string, string> Tags,
    string? IntendedUse, string? Limitations, DateTimeOffset? CreatedAt, string CreatedBy);

/// <summary>The version as the registry holds it.</summary>
public sealed record VersionFacts(
    int Version, string Stage, IReadOnlyList<string> Aliases, string RunId, string RunAuthor, string ArtifactPath,
    string ArtifactUri, string ArtifactSha256, long ArtifactSize, string Description, DateTimeOffset? CreatedAt, string CreatedBy,
    string RunRecordSha256);

/// <summary>The training run: who, when, with what data, what it measured, and which provenance fields it lacks.</summary>
public sealed record RunFacts(
    string RunId, string Name, string Status, string Author, DateTimeOffset? StartedAt, DateTimeOffset? EndedAt,
    IReadOnlyDictionary<string, string> Params, IReadOnlyDictionary<string, string> Provenance,
    IReadOnlyList<string> ProvenancePresent, IReadOnlyList<string> ProvenanceMissing,
    IReadOnlyList<DatasetFacts> Datasets, IReadOnlyList<MetricFacts> Metrics);

/// <summary>A dataset the run read.</summary>
public sealed record DatasetFacts(string DatasetId, string Hash, DateTimeOffset? SnapshotAt, string SourceUri, string Context);

/// <summary>A metric's latest value.</summary>
public sealed record MetricFacts(string Key, double Value, long Step);

/// <summary>An artifact of the run, with its hash.</summary>
public sealed record ArtifactFacts(string Path, string Sha256, long Size);

/// <summary>A promotion request of the version: its gates with evidence, and who approved.</summary>
public sealed record PromotionFacts(
    string RequestId, string Target, string State, string Requester, string Justification, DateTimeOffset? CreatedAt,
    int PolicyVersion, IReadOnlyList<GateFacts> Gates, IReadOnlyList<ApprovalFacts> Approvals, string DecidedBy,
    DateTimeOffset? DecidedAt, string DecisionComment);

/// <summary>One gate's result.</summary>
public sealed record GateFacts(string Name, string Kind, string Status, string Reason, IReadOnlyDictionary<string, string> Evidence);

/// <summary>One approval.</summary>
public sealed record ApprovalFacts(string Reviewer, string Comment, DateTimeOffset? At);

/// <summary>A period during which the version held a stage or alias.</summary>
public sealed record DeploymentFacts(string Target, DateTimeOffset? Since, DateTimeOffset? Until, string RequestId, string DecidedBy, string OverrideReason);

/// <summary>
/// The ledger entries about the version, each with its RFC 9162 inclusion proof in the tree that
/// <see cref="Checkpoint"/> (a C2SP signed note) commits to.
/// </summary>
public sealed record LedgerProofs(string Origin, string VerifierKey, string Checkpoint, long TreeSize, IReadOnlyList<ProvenEntry> Entries);

/// <summary>One ledger entry (its leaf data, base64 in JSON) and its audit path, leaf side first.</summary>
public sealed record ProvenEntry(
    long Index, string EventId, string EventType, string Actor, DateTimeOffset? OccurredAt, byte[] Data, IReadOnlyList<byte[]> InclusionProof);

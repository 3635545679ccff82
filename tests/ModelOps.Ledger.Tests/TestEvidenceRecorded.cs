using ModelOps.Contracts;

namespace ModelOps.Ledger.Tests;

/// <summary>An event type the ledger has never heard of, as a service added later would publish.</summary>
public sealed record TestEvidenceRecorded : IntegrationEvent
{
    /// <summary>The model the evidence is about.</summary>
    public required string Model { get; init; }

    /// <summary>A payload field the envelope does not know.</summary>
    public required double Score { get; init; }

    /// <summary>Free text of any size (an event too large for an entry, when long).</summary>
    public string? Notes { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { [SubjectKeys.Model] = Model };
}

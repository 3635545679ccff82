using ModelOps.Contracts;

namespace ModelOps.Foundation.Tests.Probe;

/// <summary>An event that exists only to be carried through the outbox, the broker and the inbox.</summary>
public sealed record ProbeRecorded : IntegrationEvent
{
    public required string Probe { get; init; }

    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { ["probe"] = Probe };
}

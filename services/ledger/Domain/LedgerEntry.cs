using System.Globalization;
using System.Text.Json;
using ModelOps.Contracts;
using ModelOps.Ledger.Verification;

namespace ModelOps.Ledger.Domain;

/// <summary>An entry ready to be stored: its envelope fields, its canonical data and leaf hash, and its subjects.</summary>
public sealed record LedgerEntry(
    Guid EventId,
    string EventType,
    string Actor,
    DateTimeOffset OccurredAt,
    byte[] Data,
    byte[] LeafHash,
    IReadOnlyDictionary<string, string> Subjects)
{
    // Envelope members of a published event, lifted to the top of the entry; everything else is its payload.
    private static readonly string[] EnvelopeMembers = ["eventId", "occurredAt", "actor", "traceId", "subjects"];

    /// <summary>
    /// The entry of an event as MassTransit delivered it: <paramref name="messageJson"/> is the event object of the
    /// message envelope and <paramref name="eventType"/> its most specific type.
    /// </summary>
    public static LedgerEntry FromEvent(IIntegrationEvent envelope, string eventType, JsonElement messageJson)
    {
        var payload = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var member in messageJson.EnumerateObject())
        {
            if (!EnvelopeMembers.Contains(member.Name, StringComparer.OrdinalIgnoreCase))
            {
                payload[member.Name] = member.Value;
            }
        }

        return Create(envelope.EventId, eventType, envelope.Actor, envelope.OccurredAt, envelope.TraceId,
            envelope.Subjects, JsonSerializer.SerializeToElement(payload));
    }

    /// <summary>
    /// The entry of an event: RFC 8785 canonical JSON of
    /// <c>{actor, eventId, eventType, occurredAt, payload, subjects, traceId}</c> (traceId only when known), the same
    /// bytes whichever replica builds it.
    /// </summary>
    public static LedgerEntry Create(
        Guid eventId, string eventType, string actor, DateTimeOffset occurredAt, string? traceId,
        IReadOnlyDictionary<string, string> subjects, JsonElement payload)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("actor", actor);
            writer.WriteString("eventId", eventId.ToString("D"));
            writer.WriteString("eventType", eventType);
            writer.WriteString("occurredAt", FormatTime(occurredAt));
            writer.WritePropertyName("payload");
            payload.WriteTo(writer);
            writer.WriteStartObject("subjects");
            foreach (var (kind, value) in subjects)
            {
                writer.WriteString(kind, value);
            }

            writer.WriteEndObject();
            if (!string.IsNullOrEmpty(traceId))
            {
                writer.WriteString("traceId", traceId);
            }

            writer.WriteEndObject();
        }

        var data = CanonicalJson.Canonicalize(buffer.WrittenSpan);
        return new LedgerEntry(eventId, eventType, actor, occurredAt, data, MerkleTree.LeafHash(data),
            new Dictionary<string, string>(subjects));
    }

    /// <summary>UTC with seven fractional digits, so every replica writes one instant the same way.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A MassTransit message type URN (<c>urn:message:Ns.Sub:Type</c>) as a .NET type name (<c>Ns.Sub.Type</c>).</summary>
    public static string TypeFromUrn(string urn)
    {
        const string prefix = "urn:message:";
        var name = urn.StartsWith(prefix, StringComparison.Ordinal) ? urn[prefix.Length..] : urn;
        return name.Replace(':', '.');
    }
}

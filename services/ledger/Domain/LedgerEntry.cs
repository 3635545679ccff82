using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ModelOps.Contracts;
using ModelOps.Ledger.Verification;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Ledger.Domain;

/// <summary>How an entry reached the ledger.</summary>
public enum EntryChannel
{
    /// <summary>An integration event of a ModelOps service, from the bus.</summary>
    Bus,

    /// <summary>Evidence from outside the platform, appended over the API by an admin or a service.</summary>
    Api,
}

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
    /// <summary>
    /// The trace of the work that brought the entry (the consumer's or the <c>Append</c> call's span), so that the sequencer
    /// continues it: one trace follows an event from the request that caused it to its place in the log. Not part of the
    /// entry's data.
    /// </summary>
    public string? TraceParent { get; init; } = System.Diagnostics.Activity.Current?.Id;

    /// <summary>The type namespace of evidence appended over the API: platform event types can only come from the bus.</summary>
    public const string ExternalTypePrefix = "external.";

    // Envelope members of a published event, lifted to the top of the entry; everything else is its payload.
    private static readonly string[] EnvelopeMembers = ["eventId", "occurredAt", "actor", "traceId", "subjects"];

    /// <summary>
    /// The entry of an event as MassTransit delivered it: <paramref name="messageJson"/> is the event object of the
    /// message envelope and <paramref name="eventType"/> its most specific type. A payload that would make the entry
    /// larger than <paramref name="maxEntryBytes"/> is replaced by its size and SHA-256 (see <see cref="Omitted"/>), so
    /// that one oversized event can never make the log unreadable.
    /// </summary>
    public static LedgerEntry FromEvent(IIntegrationEvent envelope, string eventType, JsonElement messageJson, int maxEntryBytes)
    {
        var payload = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var member in messageJson.EnumerateObject())
        {
            if (!EnvelopeMembers.Contains(member.Name, StringComparer.OrdinalIgnoreCase))
            {
                payload[member.Name] = member.Value;
            }
        }

        var element = JsonSerializer.SerializeToElement(payload);
        var entry = Create(envelope.EventId, eventType, envelope.Actor, envelope.OccurredAt, envelope.TraceId, envelope.Subjects,
            element, EntryChannel.Bus);
        return entry.Data.Length <= maxEntryBytes
            ? entry
            : Create(envelope.EventId, eventType, envelope.Actor, envelope.OccurredAt, envelope.TraceId, envelope.Subjects,
                Omitted(element, maxEntryBytes), EntryChannel.Bus);
    }

    /// <summary>
    /// What stands for a payload too large for an entry: <c>{"omitted": {"bytes", "sha256", "limit"}}</c>, the size and
    /// SHA-256 of the payload's canonical JSON, so that whoever holds the original can prove it is the one recorded.
    /// </summary>
    public static JsonElement Omitted(JsonElement payload, int maxEntryBytes)
    {
        var canonical = CanonicalJson.Serialize(payload);
        return JsonSerializer.SerializeToElement(new Dictionary<string, object>
        {
            ["omitted"] = new Dictionary<string, object>
            {
                ["bytes"] = canonical.Length,
                ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(canonical)),
                ["limit"] = maxEntryBytes,
            },
        });
    }

    /// <summary>
    /// The entry of an event: RFC 8785 canonical JSON of
    /// <c>{actor, channel, eventId, eventType, occurredAt, payload, subjects, traceId}</c> (traceId only when known), the
    /// same bytes whichever replica builds it. The time is kept to the microsecond, as it is stored and served.
    /// </summary>
    /// <exception cref="JsonException">The payload is not I-JSON (a lone surrogate, a repeated member name).</exception>
    public static LedgerEntry Create(
        Guid eventId, string eventType, string actor, DateTimeOffset occurredAt, string? traceId,
        IReadOnlyDictionary<string, string> subjects, JsonElement payload, EntryChannel channel)
    {
        var instant = Timestamps.Truncate(occurredAt);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("actor", actor);
            writer.WriteString("channel", channel == EntryChannel.Bus ? "bus" : "api");
            writer.WriteString("eventId", eventId.ToString("D"));
            writer.WriteString("eventType", eventType);
            writer.WriteString("occurredAt", FormatTime(instant));
            writer.WritePropertyName("payload");
            try
            {
                payload.WriteTo(writer);
            }
            catch (InvalidOperationException exception)
            {
                throw new JsonException("A string holds a lone surrogate, which has no UTF-8 form.", exception);
            }

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
        return new LedgerEntry(eventId, eventType, actor, instant, data, MerkleTree.LeafHash(data),
            new Dictionary<string, string>(subjects));
    }

    /// <summary>UTC to the microsecond (six fractional digits): the precision at which the instant is stored and served.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        Timestamps.Truncate(time).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A MassTransit message type URN (<c>urn:message:Ns.Sub:Type</c>) as a .NET type name (<c>Ns.Sub.Type</c>).</summary>
    public static string TypeFromUrn(string urn)
    {
        const string prefix = "urn:message:";
        var name = urn.StartsWith(prefix, StringComparison.Ordinal) ? urn[prefix.Length..] : urn;
        return name.Replace(':', '.');
    }
}

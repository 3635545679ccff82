using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using ModelOps.Contracts;
using ModelOps.Contracts.Ledger.V1;
using ModelOps.Ledger.Data;
using ModelOps.Ledger.Domain;

namespace ModelOps.Ledger.Consumers;

/// <summary>
/// Receives every integration event of every service, present and future, by subscribing to the envelope
/// (<see cref="IIntegrationEvent"/>) rather than to a list of types, and stores each once: the event id is the
/// entry's key, so a redelivered event inserts nothing. Events arrive in batches so that one commit (one fsync)
/// covers many of them. The entry keeps the whole event, not just the envelope: its payload is read from the
/// message body, since the envelope interface exposes only the common fields.
/// </summary>
public sealed partial class IntegrationEventConsumer(LedgerStore store, IOptions<LedgerOptions> options, ILogger<IntegrationEventConsumer> logger)
    : IConsumer<Batch<IIntegrationEvent>>
{
    // The ledger's own announcements of checkpoints are not governance events: logging them would grow the tree,
    // which would call for another checkpoint, forever.
    private static readonly string CheckpointPublishedType = typeof(CheckpointPublished).FullName!;

    // The header in which MassTransit carries the sending span's W3C id.
    private const string ActivityIdHeader = "MT-Activity-Id";

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<Batch<IIntegrationEvent>> context)
    {
        var entries = new Dictionary<Guid, LedgerEntry>();
        foreach (var message in context.Message)
        {
            var entry = ToEntry(message, options.Value.MaxEntryBytes);
            if (entry is not null)
            {
                entries.TryAdd(entry.EventId, entry);
            }
        }

        var inserted = (await store.EnqueueAsync([.. entries.Values], context.CancellationToken)).Count;
        if (inserted < entries.Count)
        {
            LogDuplicates(logger, entries.Count - inserted);
        }
    }

    private static LedgerEntry? ToEntry(ConsumeContext<IIntegrationEvent> message, int maxEntryBytes)
    {
        using var body = JsonDocument.Parse(message.ReceiveContext.Body.GetBytes());
        var root = body.RootElement;
        if (!root.TryGetProperty("message", out var payload) || payload.ValueKind != JsonValueKind.Object ||
            !root.TryGetProperty("messageType", out var types) || types.ValueKind != JsonValueKind.Array || types.GetArrayLength() == 0)
        {
            throw new InvalidOperationException(
                $"Event {message.Message.EventId} did not arrive in a MassTransit JSON envelope; the ledger cannot record its payload.");
        }

        // The first message type is the most specific one: the event's own class.
        var eventType = LedgerEntry.TypeFromUrn(types[0].GetString()!);
        // The span that sent this message (MassTransit's W3C activity id header), not the batch's: a batch holds events of
        // many traces, and each entry's sequencing continues its own.
        return eventType == CheckpointPublishedType
            ? null
            : LedgerEntry.FromEvent(message.Message, eventType, payload, maxEntryBytes) with
            {
                TraceParent = message.Headers.Get<string>(ActivityIdHeader) ?? System.Diagnostics.Activity.Current?.Id,
            };
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Count} events were delivered again and are already in the ledger")]
    private static partial void LogDuplicates(ILogger logger, int count);
}

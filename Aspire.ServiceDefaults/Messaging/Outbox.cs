using System.Diagnostics;
using System.Text.Json;
using ModelOps.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// Writes integration events into the outbox inside the caller's transaction: they are published
/// if and only if that transaction commits.
/// </summary>
public static class Outbox
{
    /// <summary>The PostgreSQL notification channel that wakes the relay when a transaction with events commits.</summary>
    public const string NotificationChannel = "modelops_outbox";

    /// <summary>Serializer options of outbox payloads.</summary>
    public static JsonSerializerOptions SerializerOptions { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>Adds <paramref name="events"/> to the outbox in <paramref name="transaction"/>.</summary>
    public static async Task EnqueueAsync(
        this NpgsqlTransaction transaction, IReadOnlyCollection<IIntegrationEvent> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction.Connection);
        if (events.Count == 0)
        {
            return;
        }

        await using var batch = new NpgsqlBatch(transaction.Connection, transaction);
        var traceParent = Activity.Current?.Id;
        foreach (var @event in events)
        {
            var type = @event.GetType();
            var command = new NpgsqlBatchCommand(
                "INSERT INTO outbox_messages (event_id, message_type, payload, trace_parent) VALUES ($1, $2, $3, $4)");
            command.Parameters.Add(new NpgsqlParameter { Value = @event.EventId });
            command.Parameters.Add(new NpgsqlParameter { Value = TypeName(type) });
            command.Parameters.Add(new NpgsqlParameter
            {
                NpgsqlDbType = NpgsqlDbType.Jsonb,
                Value = JsonSerializer.Serialize(@event, type, SerializerOptions),
            });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)traceParent ?? DBNull.Value });
            batch.BatchCommands.Add(command);
        }

        // NOTIFY is transactional: the relay hears it only when (and if) this transaction commits.
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"NOTIFY {NotificationChannel}"));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Adds one event to the outbox in <paramref name="transaction"/>.</summary>
    public static Task EnqueueAsync(this NpgsqlTransaction transaction, IIntegrationEvent @event, CancellationToken cancellationToken) =>
        transaction.EnqueueAsync([@event], cancellationToken);

    // Type and assembly without version, so a row written before an upgrade still resolves after it.
    internal static string TypeName(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";
}

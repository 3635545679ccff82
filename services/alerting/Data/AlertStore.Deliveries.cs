using System.Text.Json;
using ModelOps.Contracts.Alerting.V1;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Alerting.Data;

/// <summary>A notification to send, leased by this replica.</summary>
public sealed record LeasedDelivery(
    long Id, string GroupId, string GroupKey, IReadOnlyDictionary<string, string> GroupLabels, string Receiver, string Integration,
    bool Firing, IReadOnlyList<ulong> Alerts, byte[] Payload, int Attempts, DateTimeOffset CreatedAt);

/// <summary>A delivery as the log shows it.</summary>
public sealed record DeliveryRecord(
    long Id, string GroupKey, string Receiver, string Integration, string Status, bool Firing, IReadOnlyList<ulong> Alerts, int Attempts,
    int? LastStatus, string? LastError, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, DateTimeOffset NextAttemptAt);

/// <summary>A notification to store for sending, not before <see cref="NotBefore"/>.</summary>
public sealed record PendingDelivery(
    string GroupId, string GroupKey, IReadOnlyDictionary<string, string> GroupLabels, string Receiver, string Integration, int ConfigVersion,
    bool Firing, IReadOnlyList<ulong> Alerts, byte[] Payload, DateTimeOffset NotBefore);

public sealed partial class AlertStore
{
    /// <summary>Stores a delivery in <paramref name="transaction"/>: it is sent if, and once, the transaction commits.</summary>
    public static async Task InsertDeliveryAsync(NpgsqlTransaction transaction, PendingDelivery delivery, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(transaction.Connection, transaction) { BatchCommands = { DeliveryStatement(delivery) } };
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The statement that stores <paramref name="delivery"/>.</summary>
    internal static NpgsqlBatchCommand DeliveryStatement(PendingDelivery delivery) => Sql.Statement(
        """
        INSERT INTO deliveries (group_id, group_key, group_labels, receiver, integration, config_version, status, firing, alerts, payload, next_attempt_at, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $10)
        """,
        delivery.GroupId, delivery.GroupKey, Sql.Jsonb(MapJson(delivery.GroupLabels)), delivery.Receiver, delivery.Integration, delivery.ConfigVersion,
        delivery.Firing, delivery.Alerts.Select(f => unchecked((long)f)).ToArray(), delivery.Payload, delivery.NotBefore);

    /// <summary>
    /// Leases up to <paramref name="limit"/> pending deliveries that are due, for <paramref name="lease"/>: another replica
    /// takes one over only if this one dies before finishing it. A delivery waits while an earlier one to the same
    /// integration about the same group is pending, so that a resolution never overtakes the alert it resolves.
    /// </summary>
    public async Task<IReadOnlyList<LeasedDelivery>> LeaseDeliveriesAsync(int limit, TimeSpan lease, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            """
            UPDATE deliveries SET leased_until = $2, attempts = attempts + 1
            WHERE id IN (
                SELECT d.id FROM deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.leased_until IS NULL OR d.leased_until < $1)
                  AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.group_id = d.group_id AND e.integration = d.integration AND e.status = 'pending' AND e.id < d.id)
                ORDER BY d.next_attempt_at, d.id LIMIT $3 FOR UPDATE SKIP LOCKED)
            RETURNING id, group_id, group_key, group_labels, receiver, integration, firing, alerts, payload, attempts, created_at
            """,
            now, now + lease, limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<LeasedDelivery> leased = [];
        while (await reader.ReadAsync(cancellationToken))
        {
            leased.Add(new LeasedDelivery(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2),
                JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(3), Json)!, reader.GetString(4), reader.GetString(5),
                reader.GetBoolean(6), [.. reader.GetFieldValue<long[]>(7).Select(f => unchecked((ulong)f))], reader.GetFieldValue<byte[]>(8),
                reader.GetInt32(9), reader.GetFieldValue<DateTimeOffset>(10)));
        }

        return leased;
    }

    /// <summary>Records that <paramref name="delivery"/> was accepted by its receiver, and announces it.</summary>
    public async Task MarkSentAsync(LeasedDelivery delivery, int? status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var update = work.Command(
                         "UPDATE deliveries SET status = 'sent', finished_at = $2, last_status = $3, last_error = NULL, leased_until = NULL WHERE id = $1 AND status = 'pending'",
                         delivery.Id, now, status))
        {
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return;
            }
        }

        work.Publish(Delivered(delivery, "sent", ""));
        await work.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Records a failed attempt: the delivery is tried again at <paramref name="retryAt"/>, or, when that is null, given up
    /// (dead-lettered) with <paramref name="error"/> as its reason, which is announced.
    /// </summary>
    public async Task MarkFailedAsync(
        LeasedDelivery delivery, int? status, string error, DateTimeOffset? retryAt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var update = retryAt is { } at
                         ? work.Command(
                             "UPDATE deliveries SET next_attempt_at = $2, leased_until = NULL, last_status = $3, last_error = $4 WHERE id = $1 AND status = 'pending'",
                             delivery.Id, at, status, error)
                         : work.Command(
                             "UPDATE deliveries SET status = 'dead', finished_at = $2, leased_until = NULL, last_status = $3, last_error = $4 WHERE id = $1 AND status = 'pending'",
                             delivery.Id, now, status, error))
        {
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return;
            }
        }

        if (retryAt is null)
        {
            work.Publish(Delivered(delivery, "dead", error));
        }

        await work.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// The delivery log, newest first: every delivery, or those of one receiver, or those that carried one alert; from
    /// the <paramref name="offset"/>-th, at most <paramref name="limit"/>.
    /// </summary>
    public async Task<IReadOnlyList<DeliveryRecord>> ListDeliveriesAsync(
        string? receiver, ulong? fingerprint, string? status, long offset, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            """
            SELECT id, group_key, receiver, integration, status, firing, alerts, attempts, last_status, last_error, created_at, finished_at, next_attempt_at
            FROM deliveries
            WHERE ($1::text IS NULL OR receiver = $1) AND ($2::bigint IS NULL OR alerts @> ARRAY[$2::bigint]) AND ($3::text IS NULL OR status = $3)
            ORDER BY id DESC OFFSET $5 LIMIT $4
            """,
            Sql.Typed(receiver, NpgsqlTypes.NpgsqlDbType.Text), Sql.Typed(fingerprint is { } f ? unchecked((long)f) : null, NpgsqlTypes.NpgsqlDbType.Bigint),
            Sql.Typed(status, NpgsqlTypes.NpgsqlDbType.Text), limit, offset);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<DeliveryRecord> records = [];
        while (await reader.ReadAsync(cancellationToken))
        {
            records.Add(new DeliveryRecord(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetBoolean(5),
                [.. reader.GetFieldValue<long[]>(6).Select(f => unchecked((ulong)f))], reader.GetInt32(7),
                reader.IsDBNull(8) ? null : reader.GetInt32(8), reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.GetFieldValue<DateTimeOffset>(10), reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11),
                reader.GetFieldValue<DateTimeOffset>(12)));
        }

        return records;
    }

    private static NotificationDelivered Delivered(LeasedDelivery delivery, string outcome, string reason) => new()
    {
        Actor = "alerting",
        GroupKey = delivery.GroupKey,
        GroupLabels = delivery.GroupLabels,
        Receiver = delivery.Receiver,
        Integration = delivery.Integration,
        Status = delivery.Firing ? "firing" : "resolved",
        Alerts = [.. delivery.Alerts.Select(f => f.ToString("x16", System.Globalization.CultureInfo.InvariantCulture))],
        Outcome = outcome,
        Attempts = delivery.Attempts,
        Reason = reason,
    };
}

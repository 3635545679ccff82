using System.Text.Json;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Alerting.Data;

/// <summary>What one flush did: the group, and how many notifications it decided.</summary>
public sealed record FlushOutcome(string GroupId, int Deliveries);

public sealed partial class AlertStore
{
    /// <summary>
    /// Flushes the group that has been due longest, if any, as Alertmanager's aggregation group flushes: its alerts,
    /// without those silenced or inhibited (<paramref name="muted"/>), are judged for each integration of its receiver
    /// against what that integration was last told (<see cref="NotificationLog.NeedsUpdate"/>); a notification decided
    /// is stored as a pending delivery, in the same transaction as the log entry that records it, so it is neither lost
    /// nor decided twice by two replicas (the group's row is locked, and others skip it). Resolved alerts then leave the
    /// group, unless they fired again meanwhile, and the group is due again after its route's group_interval.
    /// </summary>
    public async Task<FlushOutcome?> FlushNextAsync(
        ActiveConfig config, Func<LabelSet, bool> muted, string externalUrl, TimeSpan logRetention, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        string groupId, groupKey;
        LabelSet groupLabels;
        await using (var claim = work.Command(
                         "SELECT group_id, group_key, group_labels FROM alert_groups WHERE next_flush_at <= $1 ORDER BY next_flush_at LIMIT 1 FOR UPDATE SKIP LOCKED", now))
        await using (var reader = await claim.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            (groupId, groupKey) = (reader.GetString(0), reader.GetString(1));
            groupLabels = new LabelSet(JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(2), Json)!);
        }

        List<Alert> alerts = [];
        await using (var members = work.Command(
                         """
                         SELECT a.fingerprint, a.labels, a.annotations, a.starts_at, a.ends_at, a.timeout, a.generator_url, a.updated_at
                         FROM group_alerts ga JOIN alerts a USING (fingerprint) WHERE ga.group_id = $1 ORDER BY a.fingerprint
                         """, groupId))
        await using (var reader = await members.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                alerts.Add(ReadAlert(reader));
            }
        }

        // A group of a route the current tree no longer has was re-routed when the configuration changed; an empty
        // group has nothing left to say.
        var route = config.RouteOfGroup(groupId, groupLabels.ToString());
        if (route is null || alerts.Count == 0)
        {
            await DeleteGroupAsync(work, groupId, cancellationToken);
            await work.CommitAsync(cancellationToken);
            return new FlushOutcome(groupId, 0);
        }

        var shown = alerts.Where(a => !muted(a.Labels)).ToList();
        var firing = shown.Where(a => !a.ResolvedAt(now)).Select(a => a.Fingerprint).ToHashSet();
        var resolved = shown.Where(a => a.ResolvedAt(now)).Select(a => a.Fingerprint).ToHashSet();
        var deliveries = 0;
        if (shown.Count > 0)
        {
            var receiver = config.Config.Receiver(route.Receiver);
            foreach (var (integration, settings) in receiver.Integrations)
            {
                var last = await LastNotificationAsync(work, groupId, integration, cancellationToken);
                if (!NotificationLog.NeedsUpdate(last, firing, resolved, settings.SendResolved, route.RepeatInterval, now))
                {
                    continue;
                }

                // An integration that does not want resolutions is told only what fires (and nothing when nothing does).
                var told = settings.SendResolved ? shown : [.. shown.Where(a => !a.ResolvedAt(now))];
                if (told.Count > 0)
                {
                    var notification = new Notification
                    {
                        Receiver = receiver.Name,
                        GroupKey = groupKey,
                        GroupLabels = groupLabels,
                        Alerts = Notification.Ordered(told),
                        At = now,
                        ExternalUrl = externalUrl,
                    };
                    await InsertDeliveryAsync(work.Transaction, new PendingDelivery(
                        groupId, groupKey, groupLabels.Labels, receiver.Name, integration, config.Version, notification.Status == "firing",
                        [.. told.Select(a => a.Fingerprint)], ReceiverPayloads.Build(settings, notification), now), cancellationToken);
                    deliveries++;
                }

                await using var log = work.Command(
                    """
                    INSERT INTO notification_log (group_id, integration, firing, resolved, notified_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (group_id, integration) DO UPDATE SET firing = EXCLUDED.firing, resolved = EXCLUDED.resolved,
                        notified_at = EXCLUDED.notified_at, expires_at = EXCLUDED.expires_at
                    """,
                    groupId, integration, firing.Select(f => unchecked((long)f)).ToArray(), resolved.Select(f => unchecked((long)f)).ToArray(), now, now + logRetention);
                await log.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        // Resolved alerts have been told about: they leave the group, unless they fired again meanwhile (the row lock
        // waits for an ingestion in flight, and the end is checked again on the row it committed).
        var ended = alerts.Where(a => a.ResolvedAt(now)).Select(a => unchecked((long)a.Fingerprint)).ToArray();
        await using (var leave = work.Command(
                         """
                         DELETE FROM group_alerts WHERE group_id = $1 AND fingerprint IN
                             (SELECT fingerprint FROM alerts WHERE fingerprint = ANY($2) AND ends_at <= $3 ORDER BY fingerprint FOR UPDATE)
                         """, groupId, ended, now))
        {
            await leave.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var next = work.Command(
                         """
                         WITH remaining AS (SELECT count(*) AS n FROM group_alerts WHERE group_id = $1)
                         UPDATE alert_groups SET next_flush_at = $2, has_flushed = true WHERE group_id = $1 AND (SELECT n FROM remaining) > 0
                         """, groupId, now + route.GroupInterval))
        {
            if (await next.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                await DeleteGroupAsync(work, groupId, cancellationToken);
            }
        }

        await work.CommitAsync(cancellationToken);
        return new FlushOutcome(groupId, deliveries);
    }

    /// <summary>The active silences at <paramref name="at"/>.</summary>
    public async Task<IReadOnlyList<Silence>> ActiveSilencesAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        await ReadSilencesAsync("WHERE starts_at <= $1 AND ends_at > $1", [at], cancellationToken);

    private static async Task<NotificationEntry?> LastNotificationAsync(UnitOfWork work, string groupId, string integration, CancellationToken cancellationToken)
    {
        await using var command = work.Command(
            "SELECT firing, resolved, notified_at FROM notification_log WHERE group_id = $1 AND integration = $2 FOR UPDATE", groupId, integration);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new NotificationEntry(
                reader.GetFieldValue<long[]>(0).Select(f => unchecked((ulong)f)).ToHashSet(),
                reader.GetFieldValue<long[]>(1).Select(f => unchecked((ulong)f)).ToHashSet(),
                reader.GetFieldValue<DateTimeOffset>(2))
            : null;
    }

    private static async Task DeleteGroupAsync(UnitOfWork work, string groupId, CancellationToken cancellationToken)
    {
        await using var delete = work.Command("DELETE FROM alert_groups WHERE group_id = $1", groupId);
        await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}

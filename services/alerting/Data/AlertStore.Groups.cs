using System.Text.Json;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Data;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Alerting.Data;

/// <summary>What one flush did: how many groups it looked at, and how many notifications it decided.</summary>
public sealed record FlushOutcome(int Groups, int Deliveries);

public sealed partial class AlertStore
{
    /// <summary>
    /// Flushes up to <paramref name="limit"/> of the groups that have been due longest, as Alertmanager's aggregation
    /// groups flush: each group's alerts, without those silenced or inhibited (<paramref name="muted"/>), are judged
    /// for each integration of its receiver against what that integration was last told
    /// (<see cref="NotificationLog.NeedsUpdate"/>); a notification decided is stored as a pending delivery in the same
    /// transaction as the log entry that records it, so it is neither lost nor decided twice by two replicas (the
    /// groups' rows are locked, and other replicas skip them). Resolved alerts then leave their group, unless they fired
    /// again meanwhile, and each group is due again after its route's group_interval. The groups of one call share one
    /// transaction and one round trip of writes: a storm of groups costs a commit per batch, not per group.
    /// </summary>
    public async Task<FlushOutcome> FlushDueAsync(
        ActiveConfig config, Func<LabelSet, bool> muted, string externalUrl, TimeSpan logRetention, DateTimeOffset now, int limit,
        CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        var groups = new List<(string Id, string Key, LabelSet Labels)>();
        await using (var claim = work.Command(
                         "SELECT group_id, group_key, group_labels FROM alert_groups WHERE next_flush_at <= $1 ORDER BY next_flush_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                         now, limit))
        await using (var reader = await claim.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                groups.Add((reader.GetString(0), reader.GetString(1),
                    new LabelSet(JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(2), Json)!)));
            }
        }

        if (groups.Count == 0)
        {
            return new FlushOutcome(0, 0);
        }

        var ids = groups.Select(g => g.Id).ToArray();
        var members = new Dictionary<string, List<Alert>>(StringComparer.Ordinal);
        await using (var read = work.Command(
                         """
                         SELECT ga.group_id, a.fingerprint, a.labels, a.annotations, a.starts_at, a.ends_at, a.timeout, a.generator_url, a.updated_at
                         FROM group_alerts ga JOIN alerts a USING (fingerprint) WHERE ga.group_id = ANY($1) ORDER BY ga.group_id, a.fingerprint
                         """, (object)ids))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var id = reader.GetString(0);
                if (!members.TryGetValue(id, out var list))
                {
                    members[id] = list = [];
                }

                list.Add(ReadAlert(reader, 1));
            }
        }

        var log = new Dictionary<(string, string), NotificationEntry>();
        await using (var read = work.Command(
                         "SELECT group_id, integration, firing, resolved, notified_at FROM notification_log WHERE group_id = ANY($1) ORDER BY group_id, integration FOR UPDATE",
                         (object)ids))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                log[(reader.GetString(0), reader.GetString(1))] = new NotificationEntry(
                    reader.GetFieldValue<long[]>(2).Select(f => unchecked((ulong)f)).ToHashSet(),
                    reader.GetFieldValue<long[]>(3).Select(f => unchecked((ulong)f)).ToHashSet(),
                    reader.GetFieldValue<DateTimeOffset>(4));
            }
        }

        var writes = work.Batch();
        var deliveries = 0;
        List<(string Group, long Fingerprint)> ended = [];
        List<(string Group, DateTimeOffset Next)> next = [];
        List<string> dropped = [];
        foreach (var (groupId, groupKey, groupLabels) in groups)
        {
            // A group of a route the current tree no longer has was re-routed when the configuration changed; an empty
            // group has nothing left to say.
            var route = config.RouteOfGroup(groupId, groupLabels.ToString());
            if (route is null || !members.TryGetValue(groupId, out var alerts))
            {
                dropped.Add(groupId);
                continue;
            }

            var shown = alerts.Where(a => !muted(a.Labels)).ToList();
            var firing = shown.Where(a => !a.ResolvedAt(now)).Select(a => a.Fingerprint).ToHashSet();
            var resolved = shown.Where(a => a.ResolvedAt(now)).Select(a => a.Fingerprint).ToHashSet();
            var receiver = config.Config.Receiver(route.Receiver);
            foreach (var (integration, settings) in shown.Count > 0 ? receiver.Integrations : [])
            {
                if (!NotificationLog.NeedsUpdate(log.GetValueOrDefault((groupId, integration)), firing, resolved, settings.SendResolved, route.RepeatInterval, now))
                {
                    continue;
                }

                // An integration that does not want resolutions is told only what fires (and nothing when nothing does).
                var told = settings.SendResolved ? shown : [.. shown.Where(a => !a.ResolvedAt(now))];
                if (told.Count > 0)
                {
                    var notification = new Notification
                    {
                        Receiver = receiver.Name, GroupKey = groupKey, GroupLabels = groupLabels, Alerts = Notification.Ordered(told), At = now,
                        ExternalUrl = externalUrl,
                    };
                    writes.BatchCommands.Add(DeliveryStatement(new PendingDelivery(
                        groupId, groupKey, groupLabels.Labels, receiver.Name, integration, config.Version, notification.Status == "firing",
                        [.. told.Select(a => a.Fingerprint)], ReceiverPayloads.Build(settings, notification), now)));
                    deliveries++;
                }

                writes.BatchCommands.Add(Sql.Statement(
                    """
                    INSERT INTO notification_log (group_id, integration, firing, resolved, notified_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (group_id, integration) DO UPDATE SET firing = EXCLUDED.firing, resolved = EXCLUDED.resolved,
                        notified_at = EXCLUDED.notified_at, expires_at = EXCLUDED.expires_at
                    """,
                    groupId, integration, firing.Select(f => unchecked((long)f)).ToArray(), resolved.Select(f => unchecked((long)f)).ToArray(), now, now + logRetention));
            }

            ended.AddRange(alerts.Where(a => a.ResolvedAt(now)).Select(a => (groupId, unchecked((long)a.Fingerprint))));
            next.Add((groupId, now + route.GroupInterval));
        }

        // Resolved alerts have been told about: they leave their group, unless they fired again meanwhile (the row lock
        // waits for an ingestion in flight, and the end is checked again on the row it committed). Groups left empty
        // go; the others are due again after their group_interval.
        writes.BatchCommands.Add(Sql.Statement(
            """
            DELETE FROM group_alerts ga USING unnest($1::text[], $2::bigint[]) AS e (group_id, fingerprint)
            WHERE ga.group_id = e.group_id AND ga.fingerprint = e.fingerprint
              AND ga.fingerprint IN (SELECT fingerprint FROM alerts WHERE fingerprint = ANY($2) AND ends_at <= $3 ORDER BY fingerprint FOR UPDATE)
            """,
            ended.Select(e => e.Group).ToArray(), ended.Select(e => e.Fingerprint).ToArray(), now));
        writes.BatchCommands.Add(Sql.Statement(
            """
            UPDATE alert_groups g SET next_flush_at = n.next, has_flushed = true
            FROM unnest($1::text[], $2::timestamptz[]) AS n (group_id, next) WHERE g.group_id = n.group_id
            """,
            next.Select(n => n.Group).ToArray(), next.Select(n => n.Next).ToArray()));
        writes.BatchCommands.Add(Sql.Statement(
            "DELETE FROM alert_groups g WHERE g.group_id = ANY($1) AND (g.group_id = ANY($2) OR NOT EXISTS (SELECT 1 FROM group_alerts ga WHERE ga.group_id = g.group_id))",
            ids, dropped.ToArray()));
        await using (writes)
        {
            await writes.ExecuteNonQueryAsync(cancellationToken);
        }

        await work.CommitAsync(cancellationToken);
        return new FlushOutcome(groups.Count, deliveries);
    }

    /// <summary>What mutes alerts at <paramref name="at"/>: the active silences, and <paramref name="rules"/> with the alerts that fire then.</summary>
    public async Task<Muting> MutingAsync(IReadOnlyList<InhibitRule> rules, DateTimeOffset at, CancellationToken cancellationToken) => new(
        await ReadSilencesAsync("WHERE starts_at <= $1 AND ends_at > $1", [at], cancellationToken),
        new Inhibitor(rules, await InhibitionSourcesAsync(rules, at, cancellationToken), at),
        at);
}

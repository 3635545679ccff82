using System.Text.Json;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Data;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Alerting.Data;

/// <summary>
/// Alerting's tables. Lock order, which keeps replicas from deadlocking: a per-fingerprint advisory lock (ingestion
/// only), then groups in id order, then alerts in fingerprint order. A flush takes one group, then its alerts.
/// </summary>
public sealed partial class AlertStore(NpgsqlDataSource dataSource)
{
    // The first key of alerting's two-key advisory locks ('ALRT'), apart from the one-key locks of migrations.
    private const int AlertLockSpace = 0x414C5254;

    /// <summary>An alert whose end was not given by a finding: it fires until a finding resolves it.</summary>
    public static readonly DateTimeOffset Forever = new(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The data source, for units of work.</summary>
    public NpgsqlDataSource DataSource => dataSource;

    /// <summary>
    /// Stores <paramref name="received"/> (merged with what is known of each, as Alertmanager merges) and adds each to
    /// the groups its labels route to under <paramref name="config"/>. A new group is flushed after its route's
    /// group_wait, or at once when an alert in it started more than group_wait ago and the group has not been flushed.
    /// Returns how many were firing and how many resolved.
    /// </summary>
    public async Task<(int Firing, int Resolved)> IngestAsync(
        NpgsqlTransaction transaction, IReadOnlyList<Alert> received, string source, ActiveConfig config, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var connection = transaction.Connection!;
        var latest = new Dictionary<ulong, Alert>();
        foreach (var alert in received)
        {
            latest[alert.Fingerprint] = latest.TryGetValue(alert.Fingerprint, out var earlier) ? earlier.Absorb(alert) : alert;
        }

        var fingerprints = latest.Keys.Order().Select(f => unchecked((long)f)).ToArray();
        await using (var serialize = connection.Command(transaction,
                         "SELECT count(pg_advisory_xact_lock($1, (f & 2147483647)::int)) FROM (SELECT f FROM unnest($2::bigint[]) AS f ORDER BY f) AS ordered",
                         AlertLockSpace, fingerprints))
        {
            await serialize.ExecuteScalarAsync(cancellationToken);
        }

        // Groups first (in id order), then alerts: the flush's order.
        var memberships = Memberships(latest.Values, config);
        await UpsertGroupsAsync(transaction, memberships, config, now, cancellationToken);
        var stored = await ReadAlertsAsync(connection, transaction, fingerprints, lockRows: true, cancellationToken);
        var merged = latest.Values.Select(a => stored.TryGetValue(a.Fingerprint, out var known) ? known.Absorb(a) : a).ToList();
        await using (var write = connection.Command(transaction,
                         """
                         INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, timeout, generator_url, updated_at, source)
                         SELECT * FROM unnest($1::bigint[], $2::jsonb[], $3::jsonb[], $4::timestamptz[], $5::timestamptz[], $6::boolean[], $7::text[], $8::timestamptz[], $9::text[])
                         ON CONFLICT (fingerprint) DO UPDATE SET labels = EXCLUDED.labels, annotations = EXCLUDED.annotations, starts_at = EXCLUDED.starts_at,
                             ends_at = EXCLUDED.ends_at, timeout = EXCLUDED.timeout, generator_url = EXCLUDED.generator_url, updated_at = EXCLUDED.updated_at,
                             source = EXCLUDED.source
                         """,
                         merged.Select(a => unchecked((long)a.Fingerprint)).ToArray(),
                         new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = merged.Select(a => LabelsJson(a.Labels)).ToArray() },
                         new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = merged.Select(a => MapJson(a.Annotations)).ToArray() },
                         merged.Select(a => a.StartsAt).ToArray(),
                         merged.Select(a => a.EndsAt).ToArray(),
                         merged.Select(a => a.Timeout).ToArray(),
                         new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = merged.Select(a => (object?)a.GeneratorUrl ?? DBNull.Value).ToArray() },
                         merged.Select(a => a.UpdatedAt).ToArray(),
                         merged.Select(_ => source).ToArray()))
        {
            await write.ExecuteNonQueryAsync(cancellationToken);
        }

        await JoinGroupsAsync(transaction, memberships, cancellationToken);
        var firing = merged.Count(a => !a.ResolvedAt(now));
        return (firing, merged.Count - firing);
    }

    private static List<(GroupRef Group, Alert Alert)> Memberships(IEnumerable<Alert> alerts, ActiveConfig config) =>
        [.. alerts.SelectMany(a => config.Root.GroupsOf(a.Labels).Select(g => (Group: g, Alert: a)))];

    // Creates the groups the alerts join (in id order); a group not flushed yet is brought forward when one of its
    // alerts started more than group_wait ago.
    private static async Task UpsertGroupsAsync(
        NpgsqlTransaction transaction, List<(GroupRef Group, Alert Alert)> memberships, ActiveConfig config, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var groups = memberships.GroupBy(m => m.Group.Id, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        if (groups.Count == 0)
        {
            return;
        }

        await using var upsert = transaction.Connection!.Command(transaction,
            """
            INSERT INTO alert_groups (group_id, group_key, receiver, group_labels, config_version, next_flush_at)
            SELECT g.id, g.key, g.receiver, g.labels, $5, g.flush_at
            FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $6::timestamptz[]) AS g (id, key, receiver, labels, flush_at)
            ON CONFLICT (group_id) DO UPDATE SET next_flush_at = EXCLUDED.next_flush_at
            WHERE NOT alert_groups.has_flushed AND EXCLUDED.next_flush_at < alert_groups.next_flush_at
            """,
            groups.Select(g => g.Key).ToArray(),
            groups.Select(g => g.First().Group.Key).ToArray(),
            groups.Select(g => g.First().Group.Route.Receiver).ToArray(),
            new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb, Value = groups.Select(g => LabelsJson(g.First().Group.Labels)).ToArray() },
            config.Version,
            groups.Select(g => g.Min(m => m.Alert.StartsAt + m.Group.Route.GroupWait < now ? now : now + m.Group.Route.GroupWait)).ToArray());
        await upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task JoinGroupsAsync(NpgsqlTransaction transaction, List<(GroupRef Group, Alert Alert)> memberships, CancellationToken cancellationToken)
    {
        if (memberships.Count == 0)
        {
            return;
        }

        await using var join = transaction.Connection!.Command(transaction,
            "INSERT INTO group_alerts (group_id, fingerprint) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
            memberships.Select(m => m.Group.Id).ToArray(), memberships.Select(m => unchecked((long)m.Alert.Fingerprint)).ToArray());
        await join.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Ends, at <paramref name="at"/>, every firing alert whose labels include <paramref name="labels"/>; returns how many.</summary>
    public async Task<int> ResolveAsync(
        NpgsqlTransaction transaction, IReadOnlyDictionary<string, string> labels, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = transaction.Connection!.Command(transaction,
            """
            UPDATE alerts SET ends_at = $2, timeout = false, updated_at = $2
            WHERE fingerprint IN (SELECT fingerprint FROM alerts WHERE labels @> $1 AND ends_at > $2 ORDER BY fingerprint FOR UPDATE)
            """,
            Sql.Jsonb(MapJson(labels)), at);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The alerts, newest first, with the groups (receivers) each is in; filtered by <paramref name="matchers"/>.</summary>
    public async Task<IReadOnlyList<(Alert Alert, IReadOnlyList<string> Receivers)>> ListAlertsAsync(
        Matchers matchers, int limit, CancellationToken cancellationToken)
    {
        // Equality matchers narrow the scan in the database; the rest are applied here.
        var equal = matchers.Items.Where(m => m.Type == MatcherType.Equal && m.Value.Length > 0).ToDictionary(m => m.Name, m => m.Value);
        await using var command = dataSource.Command(
            """
            SELECT a.fingerprint, a.labels, a.annotations, a.starts_at, a.ends_at, a.timeout, a.generator_url, a.updated_at,
                   coalesce((SELECT array_agg(DISTINCT g.receiver) FROM group_alerts ga JOIN alert_groups g USING (group_id) WHERE ga.fingerprint = a.fingerprint), '{}')
            FROM alerts a WHERE a.labels @> $1 ORDER BY a.updated_at DESC, a.fingerprint
            """,
            Sql.Jsonb(MapJson(equal)));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<(Alert, IReadOnlyList<string>)> result = [];
        while (await reader.ReadAsync(cancellationToken) && result.Count < limit)
        {
            var alert = ReadAlert(reader);
            if (matchers.Matches(alert.Labels))
            {
                result.Add((alert, reader.GetFieldValue<string[]>(8)));
            }
        }

        return result;
    }

    /// <summary>The alerts that fire at <paramref name="at"/> and match some inhibition rule's source (none without rules).</summary>
    private async Task<IReadOnlyList<Alert>> InhibitionSourcesAsync(IReadOnlyList<InhibitRule> rules, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (rules.Count == 0)
        {
            return [];
        }

        await using var command = dataSource.Command(
            "SELECT fingerprint, labels, annotations, starts_at, ends_at, timeout, generator_url, updated_at FROM alerts WHERE ends_at > $1", at);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<Alert> sources = [];
        while (await reader.ReadAsync(cancellationToken))
        {
            var alert = ReadAlert(reader);
            if (rules.Any(r => r.Source.Matches(alert.Labels)))
            {
                sources.Add(alert);
            }
        }

        return sources;
    }

    /// <summary>Alerts firing at <paramref name="at"/>, and deliveries pending.</summary>
    public async Task<(long Firing, long Pending)> CountsAsync(DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            "SELECT (SELECT count(*) FROM alerts WHERE ends_at > $1), (SELECT count(*) FROM deliveries WHERE status = 'pending')", at);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Forgets resolved alerts in no group that ended before <paramref name="before"/>, and expired log entries.</summary>
    public async Task CollectGarbageAsync(DateTimeOffset before, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Sql.Statement("DELETE FROM alerts a WHERE a.ends_at < $1 AND NOT EXISTS (SELECT 1 FROM group_alerts ga WHERE ga.fingerprint = a.fingerprint)", before),
                Sql.Statement("DELETE FROM notification_log WHERE expires_at < $1", now),
                Sql.Statement("DELETE FROM finished_runs WHERE finished_at < $1", now - TimeSpan.FromDays(7)),
            },
        };
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<Dictionary<ulong, Alert>> ReadAlertsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long[] fingerprints, bool lockRows, CancellationToken cancellationToken)
    {
        await using var command = connection.Command(transaction,
            "SELECT fingerprint, labels, annotations, starts_at, ends_at, timeout, generator_url, updated_at FROM alerts WHERE fingerprint = ANY($1) ORDER BY fingerprint" +
            (lockRows ? " FOR UPDATE" : ""),
            fingerprints);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var alerts = new Dictionary<ulong, Alert>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var alert = ReadAlert(reader);
            alerts[alert.Fingerprint] = alert;
        }

        return alerts;
    }

    // Columns from `at`: fingerprint, labels, annotations, starts_at, ends_at, timeout, generator_url, updated_at.
    internal static Alert ReadAlert(NpgsqlDataReader reader, int at = 0) => new()
    {
        Labels = new LabelSet(JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(at + 1), Json)!),
        Annotations = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(at + 2), Json)!,
        StartsAt = reader.GetFieldValue<DateTimeOffset>(at + 3),
        EndsAt = reader.GetFieldValue<DateTimeOffset>(at + 4),
        Timeout = reader.GetBoolean(at + 5),
        GeneratorUrl = reader.IsDBNull(at + 6) ? null : reader.GetString(at + 6),
        UpdatedAt = reader.GetFieldValue<DateTimeOffset>(at + 7),
    };

    internal static string LabelsJson(LabelSet labels) => MapJson(labels.Labels);

    internal static string MapJson(IReadOnlyDictionary<string, string> map) =>
        JsonSerializer.Serialize(new SortedDictionary<string, string>(map.ToDictionary(), StringComparer.Ordinal), Json);
}

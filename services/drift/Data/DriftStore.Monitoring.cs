using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Drift.Detectors;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Drift.Data;

/// <summary>Watches, monitoring policies, status and column history.</summary>
public sealed partial class DriftStore
{
    // ------------------------------------------------------------------ watches

    /// <summary>
    /// Starts or stops watching a version, through <paramref name="transaction"/>. A change older than the one recorded
    /// (events delivered out of order) changes nothing; starting a watch that stands keeps its start.
    /// </summary>
    public static async Task<V1.Watch?> SetWatchAsync(
        NpgsqlTransaction transaction, string model, string version, bool watched, DateTimeOffset at, string reason, string actor,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO watches (model, version, watched, since, reason, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $4)
            ON CONFLICT (model, version) DO UPDATE SET
                watched = excluded.watched,
                since = CASE WHEN watches.watched = excluded.watched THEN watches.since ELSE excluded.since END,
                reason = excluded.reason, changed_by = excluded.changed_by, changed_at = excluded.changed_at,
                drifting = watches.drifting AND watches.watched AND excluded.watched
            WHERE watches.changed_at <= excluded.changed_at
            RETURNING watched, since, reason, changed_by
            """, transaction.Connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        command.Parameters.Add(new NpgsqlParameter { Value = version });
        command.Parameters.Add(new NpgsqlParameter { Value = watched });
        command.Parameters.Add(new NpgsqlParameter { Value = at });
        command.Parameters.Add(new NpgsqlParameter { Value = reason });
        command.Parameters.Add(new NpgsqlParameter { Value = actor });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new V1.Watch
        {
            Model = model,
            Version = version,
            Watched = reader.GetBoolean(0),
            Since = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(1)),
            Reason = reader.GetString(2),
            ChangedBy = reader.GetString(3),
        };
    }

    /// <summary>Records that a version holds <paramref name="target"/> (Production, or an alias) from <paramref name="since"/>.</summary>
    public static async Task TakeHoldAsync(NpgsqlTransaction transaction, string model, string version, string target, DateTimeOffset since,
        CancellationToken cancellationToken)
    {
        await using var command = transaction.Connection!.Command(transaction,
            "INSERT INTO serving_holds (model, version, target, since) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", model, version, target, since);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records that a version no longer holds <paramref name="target"/>.</summary>
    public static async Task ReleaseHoldAsync(NpgsqlTransaction transaction, string model, string version, string target, CancellationToken cancellationToken)
    {
        await using var command = transaction.Connection!.Command(transaction,
            "DELETE FROM serving_holds WHERE model = $1 AND version = $2 AND target = $3", model, version, target);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records that a version holds nothing any more.</summary>
    public static async Task ReleaseAllHoldsAsync(NpgsqlTransaction transaction, string model, string version, CancellationToken cancellationToken)
    {
        await using var command = transaction.Connection!.Command(transaction, "DELETE FROM serving_holds WHERE model = $1 AND version = $2", model, version);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>When the watch of a version last changed (by the registry's events or by hand), or null.</summary>
    public static async Task<DateTimeOffset?> LastWatchChangeAsync(NpgsqlTransaction transaction, string model, string version, CancellationToken cancellationToken)
    {
        await using var command = transaction.Connection!.Command(transaction,
            "SELECT changed_at FROM watches WHERE model = $1 AND version = $2 FOR UPDATE", model, version);
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null;
    }

    /// <summary>What a version holds now, by target.</summary>
    public static async Task<List<string>> HoldsAsync(NpgsqlTransaction transaction, string model, string version, CancellationToken cancellationToken)
    {
        await using var command = transaction.Connection!.Command(transaction,
            "SELECT target FROM serving_holds WHERE model = $1 AND version = $2 ORDER BY target", model, version);
        var holds = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            holds.Add(reader.GetString(0));
        }

        return holds;
    }

    /// <summary>An admin's watch change, recorded in the ledger through the outbox.</summary>
    public async Task<V1.Watch> SetWatchAsync(string model, string version, bool watched, string reason, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var watch = (await SetWatchAsync(transaction, model, version, watched, DateTimeOffset.UtcNow, reason, actor, cancellationToken))!;
        await transaction.EnqueueAsync(new WatchChanged { Actor = actor, Model = model, Version = version, Watched = watched, Reason = reason }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return watch;
    }

    /// <summary>The status last announced for a watched version (its watch row locked until <paramref name="tx"/> ends); null when not watched.</summary>
    public static Task<bool?> AnnouncedAsync(UnitOfWork tx, string model, string version, CancellationToken cancellationToken) =>
        AnnouncedAsync(tx.Connection, tx.Transaction, model, version, cancellationToken);

    private static async Task<bool?> AnnouncedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string model, string version, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT drifting FROM watches WHERE model = $1 AND version = $2 AND watched FOR UPDATE", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        command.Parameters.Add(new NpgsqlParameter { Value = version });
        return await command.ExecuteScalarAsync(cancellationToken) as bool?;
    }

    // ------------------------------------------------------------------ policies

    /// <summary>The columns of the newest reference of any version of <paramref name="model"/>, or null when it has none.</summary>
    public async Task<Dictionary<string, Profiles.ColumnKind>?> NewestSchemaAsync(string model, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT columns::text FROM reference_profiles WHERE model = $1 ORDER BY created_at DESC LIMIT 1");
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        if (await command.ExecuteScalarAsync(cancellationToken) is not string columns)
        {
            return null;
        }

        using var document = System.Text.Json.JsonDocument.Parse(columns);
        return document.RootElement.EnumerateArray().ToDictionary(
            c => c.GetProperty("name").GetString()!, c => System.Enum.Parse<Profiles.ColumnKind>(c.GetProperty("kind").GetString()!), StringComparer.Ordinal);
    }

    /// <summary>Stores a new revision of a model's monitoring policy and records it in the ledger.</summary>
    public async Task<MonitoringPolicy> SavePolicyAsync(MonitoringPolicy policy, string reason, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var stored = policy.Clone();
        stored.Reason = reason;
        stored.CreatedBy = actor;
        stored.CreatedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        // Revisions of one model are numbered one at a time.
        await using (var serialize = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended('drift-policy:' || $1, 0))", connection, transaction))
        {
            serialize.Parameters.Add(new NpgsqlParameter { Value = policy.Model });
            await serialize.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var next = new NpgsqlCommand("SELECT coalesce(max(revision), 0) + 1 FROM monitoring_policies WHERE model = $1", connection, transaction))
        {
            next.Parameters.Add(new NpgsqlParameter { Value = policy.Model });
            stored.Revision = (int)(await next.ExecuteScalarAsync(cancellationToken))!;
        }

        await using (var insert = new NpgsqlCommand(
                         "INSERT INTO monitoring_policies (model, revision, policy, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)", connection, transaction))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = stored.Model });
            insert.Parameters.Add(new NpgsqlParameter { Value = stored.Revision });
            insert.Parameters.Add(new NpgsqlParameter { Value = stored.ToByteArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = reason });
            insert.Parameters.Add(new NpgsqlParameter { Value = actor });
            insert.Parameters.Add(new NpgsqlParameter { Value = stored.CreatedAt.ToDateTimeOffset() });
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.EnqueueAsync(new MonitoringPolicyChanged
        {
            Actor = actor,
            Model = stored.Model,
            Revision = stored.Revision,
            Policy = JsonFormatter.Default.Format(stored),
            Reason = reason,
        }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return stored;
    }

    /// <summary>A model's newest monitoring policy, or null.</summary>
    public async Task<MonitoringPolicy?> GetPolicyAsync(string model, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT policy FROM monitoring_policies WHERE model = $1 ORDER BY revision DESC LIMIT 1");
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        return await command.ExecuteScalarAsync(cancellationToken) is byte[] bytes ? MonitoringPolicy.Parser.ParseFrom(bytes) : null;
    }

    // ------------------------------------------------------------------ status

    /// <summary>Every watched version (and with <paramref name="includeUnwatched"/>, every version the service knows): its latest report, watch and detectors.</summary>
    public async Task<List<ModelStatus>> StatusAsync(bool includeUnwatched, CancellationToken cancellationToken)
    {
        var statuses = new SortedDictionary<(string Model, string Version), ModelStatus>();
        ModelStatus Of(string model, string version)
        {
            if (!statuses.TryGetValue((model, version), out var status))
            {
                statuses[(model, version)] = status = new ModelStatus { Model = model, Version = version };
            }

            return status;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var watches = new NpgsqlCommand("SELECT model, version, watched, since, drifting FROM watches", connection))
        await using (var reader = await watches.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                if (reader.GetBoolean(2) || includeUnwatched)
                {
                    var status = Of(reader.GetString(0), reader.GetString(1));
                    status.Watched = reader.GetBoolean(2);
                    status.WatchedSince = status.Watched ? Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(3)) : null;
                    status.Drifting = reader.GetBoolean(4);
                }
            }
        }

        await using (var references = new NpgsqlCommand("SELECT DISTINCT model, version FROM reference_profiles", connection))
        await using (var reader = await references.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                if (includeUnwatched || statuses.ContainsKey(key))
                {
                    Of(key.Item1, key.Item2).HasReference = true;
                }
            }
        }

        foreach (var report in await LatestReportsAsync(cancellationToken))
        {
            if (statuses.TryGetValue((report.Model, report.Version), out var status))
            {
                status.Latest = report;
            }
        }

        await using (var detectors = new NpgsqlCommand(
                         "SELECT model, version, detector, last_state, fed, drifts, last_drift_at, state, episodes, episode_open FROM detectors ORDER BY model, version, detector", connection))
        await using (var reader = await detectors.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                if (!statuses.TryGetValue((reader.GetString(0), reader.GetString(1)), out var status))
                {
                    continue;
                }

                var name = reader.GetString(2);
                var described = new DetectorStatus
                {
                    Detector = name,
                    State = System.Enum.Parse<Detectors.DetectorState>(reader.GetString(3)) switch
                    {
                        Detectors.DetectorState.Drift => V1.DetectorState.Drift,
                        Detectors.DetectorState.Warning => V1.DetectorState.Warning,
                        _ => V1.DetectorState.Stable,
                    },
                    Values = reader.GetInt64(4),
                    Drifts = reader.GetInt64(5),
                    Episodes = reader.GetInt64(8),
                    EpisodeOpen = reader.GetBoolean(9),
                    LastDriftAt = reader.IsDBNull(6) ? null : Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(6)),
                };
                var state = reader.GetFieldValue<double[]>(7);
                if (name == "ADWIN" && state.Length > 0)
                {
                    var adwin = new Adwin();
                    adwin.Restore(state);
                    described.Mean = adwin.Mean;
                }

                status.Detectors.Add(described);
            }
        }

        return [.. statuses.Values];
    }

    /// <summary>
    /// One column's (or the prediction's) scores over a version's windows, newest first: the points of the
    /// <paramref name="pageSize"/> reports from <paramref name="offset"/>, and how many reports were read (one more
    /// than the page, when there is a next one).
    /// </summary>
    public async Task<(List<ColumnScorePoint> Points, int Reports)> ColumnHistoryAsync(
        string model, string version, string column, int pageSize, long offset, CancellationToken cancellationToken)
    {
        var reports = await ListReportsAsync(model, version, pageSize + 1, offset, cancellationToken);
        var points = new List<ColumnScorePoint>();
        foreach (var report in reports.Take(pageSize))
        {
            var scored = report.Columns.FirstOrDefault(c => c.Column == column) ?? (report.Prediction?.Column == column ? report.Prediction : null);
            if (scored is null)
            {
                continue;
            }

            var point = new ColumnScorePoint
            {
                WindowStart = report.WindowStart,
                WindowEnd = report.WindowEnd,
                Rows = report.Rows,
                Method = scored.Method,
                Statistic = scored.Statistic,
                Effect = scored.Effect,
                Threshold = scored.Threshold,
                Drifted = scored.Drifted,
                MissingRate = scored.MissingRate,
            };
            if (scored.HasPValue)
            {
                point.PValue = scored.PValue;
            }

            points.Add(point);
        }

        return (points, reports.Count);
    }
}

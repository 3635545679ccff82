using System.Text.Json;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.Statistics;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Data;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Drift.Data;

/// <summary>A model version's reference as stored.</summary>
public sealed record StoredReference(
    string Model, string Version, int Revision, IReadOnlyList<ColumnSchema> Schema, Profiles.WindowPolicy Policy, string Source,
    DatasetProfile Profile, string CreatedBy, DateTimeOffset CreatedAt, PredictionSpec? Prediction = null);

/// <summary>Which column of a reference is the model's output, and what it predicts (Unspecified: no labels expected).</summary>
/// <param name="Column">The prediction column.</param>
/// <param name="Task">What the prediction is.</param>
/// <param name="Threshold">Binary classification: the score at or above which the prediction is positive.</param>
public sealed record PredictionSpec(string Column, ModelTask Task, double Threshold);

/// <summary>A prediction kept for its label: the record's request id, its window, the predicted value, and its group when a fairness watch counts groups.</summary>
public sealed record KeptPrediction(string RequestId, long WindowKey, DateTimeOffset At, double Value, string? Group = null);

/// <summary>A window whose partials are all in: ready for its report.</summary>
public sealed record DueWindow(string Model, string Version, bool CountWindow, long Key);

/// <summary>
/// How a request names a window: a count window by its number (several can start at one instant), any other by its start.
/// </summary>
/// <param name="Start">The window's start, when it is named by it.</param>
/// <param name="CountWindow">A count window's number, when it is named by it.</param>
public sealed record WindowAddress(DateTimeOffset? Start, long? CountWindow)
{
    /// <summary>The SQL condition on a window_reports row aliased <paramref name="alias"/>, with the address as parameter <paramref name="parameter"/>.</summary>
    public string Condition(string alias, int parameter) => CountWindow is null
        ? $"{alias}window_start = ${parameter}"
        : $"{alias}count_window AND {alias}window_key = ${parameter}";

    /// <summary>The parameter <see cref="Condition"/> compares with.</summary>
    public object Value => CountWindow is { } number ? number : Start!.Value;

    /// <inheritdoc />
    public override string ToString() => CountWindow is { } number ? $"count window {number}" : $"{Start:O}";
}

/// <summary>The merged partials of a window being reported, and the times of their first and last records.</summary>
public sealed record ClaimedWindow(DatasetProfile Profile, DateTimeOffset First, DateTimeOffset Last);

/// <summary>The drift service's tables.</summary>
public sealed partial class DriftStore(NpgsqlDataSource dataSource)
{
    /// <summary>Stores a new revision of a model version's reference; returns its number.</summary>
    public async Task<int> SaveReferenceAsync(
        string model, string version, IReadOnlyList<ColumnSchema> schema, Profiles.WindowPolicy policy, string source, DatasetProfile profile,
        PredictionSpec? prediction, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Serializes revisions of one model version.
        await using (var counter = new NpgsqlCommand(
                         "INSERT INTO record_counters (model, version) VALUES ($1, $2) ON CONFLICT (model, version) DO UPDATE SET next = record_counters.next",
                         connection, transaction))
        {
            counter.Parameters.Add(new NpgsqlParameter { Value = model });
            counter.Parameters.Add(new NpgsqlParameter { Value = version });
            await counter.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO reference_profiles (model, version, revision, columns, window_seconds, window_records, lateness_seconds, source, rows, profile, created_by,
                                            prediction_column, task, decision_threshold)
            SELECT $1, $2, coalesce(max(revision), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM reference_profiles WHERE model = $1 AND version = $2
            RETURNING revision
            """, connection, transaction);
        insert.Parameters.Add(new NpgsqlParameter { Value = model });
        insert.Parameters.Add(new NpgsqlParameter { Value = version });
        insert.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            // A numeric column carries the centring its windows' histograms use past the exact cap, chosen from this reference.
            Value = JsonSerializer.Serialize(schema.Select(c => profile.ByName.GetValueOrDefault(c.Name)?.CentringForWindows() is { } centring
                ? (object)new { name = c.Name, kind = c.Kind.ToString(), centre = centring.Centre, scale = centring.Scale }
                : new { name = c.Name, kind = c.Kind.ToString() })),
        });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = policy.Duration is { } d ? (long)d.TotalSeconds : DBNull.Value });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = policy.Records is { } r ? r : DBNull.Value });
        insert.Parameters.Add(new NpgsqlParameter { Value = (long)policy.AllowedLateness.TotalSeconds });
        insert.Parameters.Add(new NpgsqlParameter { Value = source });
        insert.Parameters.Add(new NpgsqlParameter { Value = profile.Rows });
        insert.Parameters.Add(new NpgsqlParameter { Value = ProfileCodec.Encode(profile) });
        insert.Parameters.Add(new NpgsqlParameter { Value = actor });
        insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)prediction?.Column ?? DBNull.Value });
        insert.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Text,
            Value = prediction is { Task: not ModelTask.Unspecified } ? prediction.Task.ToString() : DBNull.Value,
        });
        insert.Parameters.Add(new NpgsqlParameter { Value = prediction?.Threshold ?? 0.5 });
        var revision = (int)(await insert.ExecuteScalarAsync(cancellationToken))!;
        await transaction.CommitAsync(cancellationToken);
        return revision;
    }

    /// <summary>
    /// The newest reference of a model version, or null. Without <paramref name="withProfile"/> its profile is left in
    /// the database and the one returned is empty: what ingestion needs is the schema, the windows and the prediction,
    /// and a reference that keeps its values exactly can weigh megabytes.
    /// </summary>
    public async Task<StoredReference?> GetReferenceAsync(string model, string version, CancellationToken cancellationToken, bool withProfile = true)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ReferenceAsync(connection, null, model, version, cancellationToken, withProfile);
    }

    /// <summary>A unit of work on the drift database: its statements commit together with the events it publishes.</summary>
    public Task<UnitOfWork> BeginAsync(CancellationToken cancellationToken) => UnitOfWork.BeginAsync(dataSource, cancellationToken);

    /// <summary>
    /// Numbers <paramref name="records"/> records of a count-windowed version: returns the number of the first. The
    /// version's counter row stays locked until <paramref name="tx"/> ends, so numbers follow the order of commits.
    /// </summary>
    public static async Task<long> TakeRecordNumbersAsync(UnitOfWork tx, string model, string version, int records, CancellationToken cancellationToken)
    {
        await using var take = tx.Command("UPDATE record_counters SET next = next + $3 WHERE model = $1 AND version = $2 RETURNING next - $3",
            model, version, (long)records);
        return (long)(await take.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Writes one call's window partials, the predictions it keeps for labels, and its records' counts per group of a
    /// fairness watch. A request id seen before keeps its first prediction.
    /// </summary>
    public static async Task AppendAsync(
        UnitOfWork tx, string model, string version, bool countWindows, IReadOnlyList<WindowPartial> partials, IReadOnlyList<KeptPrediction> predictions,
        IReadOnlyList<GroupCount> groups, CancellationToken cancellationToken)
    {
        await using var batch = tx.Batch();
        if (predictions.Count > 0)
        {
            // Counted per window only where the request id was new.
            var keep = Sql.Statement(
                """
                WITH kept AS (
                    INSERT INTO predictions (model, version, request_id, count_window, window_key, predicted_at, prediction, group_key)
                    SELECT $1, $2, r, $3, k, t, v, g FROM unnest($4::text[], $5::bigint[], $6::timestamptz[], $7::float8[], $8::text[]) AS u(r, k, t, v, g)
                    ON CONFLICT DO NOTHING
                    RETURNING window_key)
                INSERT INTO window_performance (model, version, count_window, window_key, predictions)
                SELECT $1, $2, $3, window_key, count(*) FROM kept GROUP BY window_key ORDER BY window_key
                ON CONFLICT (model, version, count_window, window_key) DO UPDATE SET predictions = window_performance.predictions + excluded.predictions
                """,
                model, version, countWindows, predictions.Select(p => p.RequestId).ToArray(), predictions.Select(p => p.WindowKey).ToArray(),
                predictions.Select(p => p.At).ToArray(), predictions.Select(p => p.Value).ToArray(), (object)predictions.Select(p => p.Group).ToArray());
            batch.BatchCommands.Add(keep);
        }

        if (groups.Count > 0)
        {
            // Added to, never replaced: calls and replicas writing the same window and group sum exactly. After the window's
            // performance row and in key order, as label joins lock them, so concurrent calls wait rather than deadlock.
            var ordered = groups.OrderBy(g => g.Key).ThenBy(g => g.Group, StringComparer.Ordinal).ToList();
            batch.BatchCommands.Add(Sql.Statement(
                """
                INSERT INTO window_groups (model, version, count_window, window_key, group_key, records, selected)
                SELECT $1, $2, $3, k, g, r, s FROM unnest($4::bigint[], $5::text[], $6::bigint[], $7::bigint[]) AS u(k, g, r, s)
                ON CONFLICT (model, version, count_window, window_key, group_key)
                DO UPDATE SET records = window_groups.records + excluded.records, selected = window_groups.selected + excluded.selected
                """,
                model, version, countWindows, ordered.Select(g => g.Key).ToArray(), (object)ordered.Select(g => g.Group).ToArray(),
                ordered.Select(g => g.Records).ToArray(), ordered.Select(g => g.Selected).ToArray()));
        }

        foreach (var partial in partials)
        {
            var insert = Sql.Statement(
                """
                INSERT INTO window_partials (model, version, count_window, window_key, first_at, last_at, rows, profile, due_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """,
                model, version, partial.CountWindow, partial.Key, partial.First, partial.Last, partial.Profile.Rows, ProfileCodec.Encode(partial.Profile),
                Sql.Typed(partial.DueAt, NpgsqlDbType.TimestampTz));
            batch.BatchCommands.Add(insert);
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Windows with unreported partials that are complete: time windows past their due time, count windows the counter has passed.</summary>
    public async Task<List<DueWindow>> DueWindowsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
             SELECT DISTINCT p.model, p.version, p.count_window, p.window_key
             FROM window_partials p
             JOIN record_counters c ON c.model = p.model AND c.version = p.version
             JOIN LATERAL (SELECT r.window_records FROM reference_profiles r WHERE r.model = p.model AND r.version = p.version
                           ORDER BY r.revision DESC LIMIT 1) r ON true
             WHERE NOT p.reported
               AND ((NOT p.count_window AND p.due_at <= $1) OR (p.count_window AND c.next >= (p.window_key + 1) * r.window_records))
             ORDER BY p.window_key
             LIMIT {limit}
             """);
        command.Parameters.Add(new NpgsqlParameter { Value = now });
        var due = new List<DueWindow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add(new DueWindow(reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetInt64(3)));
        }

        return due;
    }

    /// <summary>
    /// Takes the unreported partials of <paramref name="window"/> (locked, so two replicas never report the same ones,
    /// and marked reported) and merges them; null when another replica holds them all or none is left.
    /// </summary>
    public static async Task<ClaimedWindow?> ClaimPartialsAsync(UnitOfWork tx, DueWindow window, CancellationToken cancellationToken)
    {
        var ids = new List<long>();
        DatasetProfile? merged = null;
        DateTimeOffset first = DateTimeOffset.MaxValue, last = DateTimeOffset.MinValue;
        await using (var partials = tx.Command(
                         """
                         SELECT partial_id, first_at, last_at, profile FROM window_partials
                         WHERE model = $1 AND version = $2 AND count_window = $3 AND window_key = $4 AND NOT reported
                         FOR UPDATE SKIP LOCKED
                         """, window.Model, window.Version, window.CountWindow, window.Key))
        {
            await using var reader = await partials.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetInt64(0));
                first = Min(first, reader.GetFieldValue<DateTimeOffset>(1));
                last = Max(last, reader.GetFieldValue<DateTimeOffset>(2));
                var profile = ProfileCodec.Decode(reader.GetFieldValue<byte[]>(3));
                if (merged is null)
                {
                    merged = profile;
                }
                else
                {
                    merged.Merge(profile);
                }
            }
        }

        if (merged is null)
        {
            return null;
        }

        await using (var mark = tx.Command("UPDATE window_partials SET reported = true WHERE partial_id = ANY($1)", ids.ToArray()))
        {
            await mark.ExecuteNonQueryAsync(cancellationToken);
        }

        return new ClaimedWindow(merged, first, last);
    }

    /// <summary>The reference in force for a version, read in <paramref name="tx"/>; null when it has none.</summary>
    public static Task<StoredReference?> ReferenceAsync(UnitOfWork tx, string model, string version, CancellationToken cancellationToken) =>
        ReferenceAsync(tx.Connection, tx.Transaction, model, version, cancellationToken);

    /// <summary>
    /// Stores the report of <paramref name="window"/>; false when the window was reported already (its partials came
    /// late: they stay marked and are not counted).
    /// </summary>
    public static async Task<bool> SaveReportAsync(
        UnitOfWork tx, DueWindow window, int referenceRevision, WindowReport report, bool drifted, DatasetDrift drift, CancellationToken cancellationToken)
    {
        await using var insert = tx.Command(
            """
            INSERT INTO window_reports (model, version, count_window, window_key, window_start, window_end, reference_revision, rows,
                                        drifted, dataset_drifted, drift_share, report)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING
            """,
            window.Model, window.Version, window.CountWindow, window.Key, report.WindowStart.ToDateTimeOffset(), report.WindowEnd.ToDateTimeOffset(),
            referenceRevision, report.Rows, drifted, drift.Drifted, drift.DriftShare, Google.Protobuf.MessageExtensions.ToByteArray(report));
        return await insert.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>Keeps the status last announced for a watched version with its watch.</summary>
    public static async Task SetAnnouncedAsync(UnitOfWork tx, string model, string version, bool drifting, CancellationToken cancellationToken)
    {
        await using var update = tx.Command("UPDATE watches SET drifting = $3 WHERE model = $1 AND version = $2", model, version, drifting);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A model version's reports, newest first.</summary>
    public Task<List<WindowReport>> ListReportsAsync(string model, string version, int limit, long offset, CancellationToken cancellationToken) =>
        QueryReportsAsync($"WHERE model = $1 AND version = $2 ORDER BY window_end DESC, window_key DESC LIMIT {limit} OFFSET {offset}", [model, version], cancellationToken);

    /// <summary>The report of the window of a model version at <paramref name="window"/>, or null.</summary>
    public async Task<WindowReport?> GetReportAsync(string model, string version, WindowAddress window, CancellationToken cancellationToken) =>
        (await QueryReportsAsync($"WHERE model = $1 AND version = $2 AND {window.Condition("", 3)} ORDER BY window_key LIMIT 1", [model, version, window.Value], cancellationToken))
        .FirstOrDefault();

    /// <summary>The newest report of every model version.</summary>
    public Task<List<WindowReport>> LatestReportsAsync(CancellationToken cancellationToken) =>
        QueryReportsAsync("WHERE (model, version, window_end) IN (SELECT model, version, max(window_end) FROM window_reports GROUP BY model, version) ORDER BY model, version", [],
            cancellationToken);

    private async Task<List<WindowReport>> QueryReportsAsync(string clause, object[] values, CancellationToken cancellationToken)
    {
        // A report's performance grows as labels arrive after it was made: it is joined on every read.
        await using var command = dataSource.CreateCommand(
            $"SELECT r.report, p.predictions, p.performance, count_window, window_key FROM window_reports r LEFT JOIN window_performance p USING (model, version, count_window, window_key) {clause}");
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var reports = new List<WindowReport>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var report = WindowReport.Parser.ParseFrom(reader.GetFieldValue<byte[]>(0));
            if (reader.GetBoolean(3))
            {
                report.CountWindow = reader.GetInt64(4); // reports stored before the number was in them have it too
            }

            if (!reader.IsDBNull(1))
            {
                var predictions = reader.GetInt64(1);
                report.Performance = reader.IsDBNull(2)
                    ? new WindowPerformance { Predictions = predictions }
                    : PerformanceCodec.Describe(PerformanceCodec.Decode(reader.GetFieldValue<byte[]>(2)), predictions);
            }

            reports.Add(report);
        }

        return reports;
    }

    private static async Task<StoredReference?> ReferenceAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string model, string version, CancellationToken cancellationToken,
        bool withProfile = true)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT revision, columns::text, window_seconds, window_records, lateness_seconds, source, CASE WHEN $3 THEN profile END,
                   created_by, created_at, prediction_column, task, decision_threshold
            FROM reference_profiles WHERE model = $1 AND version = $2 ORDER BY revision DESC LIMIT 1
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        command.Parameters.Add(new NpgsqlParameter { Value = version });
        command.Parameters.Add(new NpgsqlParameter { Value = withProfile });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        using var columns = JsonDocument.Parse(reader.GetString(1));
        var schema = columns.RootElement.EnumerateArray()
            .Select(c => new ColumnSchema(c.GetProperty("name").GetString()!, Enum.Parse<Profiles.ColumnKind>(c.GetProperty("kind").GetString()!),
                c.TryGetProperty("centre", out var centre) && c.TryGetProperty("scale", out var scale) ? new Centring(centre.GetDouble(), scale.GetDouble()) : null))
            .ToList();
        var lateness = TimeSpan.FromSeconds(reader.GetInt64(4));
        var policy = reader.IsDBNull(2)
            ? new Profiles.WindowPolicy(null, reader.GetInt64(3), lateness)
            : new Profiles.WindowPolicy(TimeSpan.FromSeconds(reader.GetInt64(2)), null, lateness);
        var prediction = reader.IsDBNull(9)
            ? null
            : new PredictionSpec(reader.GetString(9), reader.IsDBNull(10) ? ModelTask.Unspecified : Enum.Parse<ModelTask>(reader.GetString(10)), reader.GetDouble(11));
        return new StoredReference(model, version, reader.GetInt32(0), schema, policy, reader.GetString(5),
            reader.IsDBNull(6) ? new DatasetProfile(schema) : ProfileCodec.Decode(reader.GetFieldValue<byte[]>(6)),
            reader.GetString(7), reader.GetFieldValue<DateTimeOffset>(8), prediction);
    }

    private static void AddWindow(NpgsqlCommand command, DueWindow window)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = window.Model });
        command.Parameters.Add(new NpgsqlParameter { Value = window.Version });
        command.Parameters.Add(new NpgsqlParameter { Value = window.CountWindow });
        command.Parameters.Add(new NpgsqlParameter { Value = window.Key });
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}

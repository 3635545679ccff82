using ModelOps.Contracts;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Drift.Detectors;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Drift.Data;

/// <summary>What a batch of labels did.</summary>
/// <param name="Matched">Labels joined to a kept prediction.</param>
/// <param name="Unmatched">Labels whose request id is unknown, expired or labelled already.</param>
/// <param name="Drifts">The detectors that signalled drift while these labels were fed.</param>
public sealed record LabelOutcome(long Matched, long Unmatched, IReadOnlyList<string> Drifts);

/// <summary>Labels joined to their predictions, window performance, and the concept-drift detectors fed by the errors.</summary>
public sealed partial class DriftStore
{
    /// <summary>The detectors run on a task's error stream: DDM needs a 0/1 error, so regression has ADWIN and Page–Hinkley only.</summary>
    public static IReadOnlyList<string> DetectorsOf(ModelTask task) =>
        task == ModelTask.BinaryClassification ? ["ADWIN", "DDM", "PAGE_HINKLEY"] : ["ADWIN", "PAGE_HINKLEY"];

    /// <summary>
    /// Joins labels to their kept predictions (each prediction takes one label, once: a joined prediction is deleted), adds them to the performance of
    /// their windows, and feeds their errors, in order of prediction time, to the version's detectors — all in one
    /// transaction, so a batch counts whole or not at all. A drift of a watched version is announced.
    /// </summary>
    public async Task<LabelOutcome> ApplyLabelsAsync(StoredReference reference, IReadOnlyList<(string RequestId, double Label)> labels, CancellationToken cancellationToken)
    {
        var spec = reference.Prediction!;
        var (model, version) = (reference.Model, reference.Version);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var byRequest = new Dictionary<string, double>(labels.Count, StringComparer.Ordinal);
        foreach (var (requestId, label) in labels)
        {
            byRequest.TryAdd(requestId, label);
        }

        var joined = new List<(bool CountWindow, long Key, DateTimeOffset At, string RequestId, double Prediction, double Label, string? Group)>();
        await using (var take = new NpgsqlCommand(
                         """
                         DELETE FROM predictions p USING unnest($3::text[]) AS u(r)
                         WHERE p.model = $1 AND p.version = $2 AND p.request_id = u.r
                         RETURNING p.request_id, p.count_window, p.window_key, p.predicted_at, p.prediction, p.group_key
                         """, connection, transaction))
        {
            take.Parameters.Add(new NpgsqlParameter { Value = model });
            take.Parameters.Add(new NpgsqlParameter { Value = version });
            take.Parameters.Add(new NpgsqlParameter { Value = byRequest.Keys.ToArray() });
            await using var reader = await take.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var requestId = reader.GetString(0);
                joined.Add((reader.GetBoolean(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3), requestId, reader.GetDouble(4), byRequest[requestId],
                    reader.IsDBNull(5) ? null : reader.GetString(5)));
            }
        }

        joined.Sort((a, b) => a.At != b.At ? a.At.CompareTo(b.At) : string.CompareOrdinal(a.RequestId, b.RequestId));
        var errors = new double[joined.Count];
        // Windows in key order, so concurrent label batches lock their rows in one order.
        foreach (var window in joined.Select((j, i) => (j, i)).GroupBy(x => (x.j.CountWindow, x.j.Key)).OrderBy(g => g.Key.Key))
        {
            TaskPerformance performance;
            var key = new DueWindow(model, version, window.Key.CountWindow, window.Key.Key);
            await using (var locked = new NpgsqlCommand(
                             """
                             INSERT INTO window_performance AS w (model, version, count_window, window_key) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (model, version, count_window, window_key) DO UPDATE SET labelled = w.labelled
                             RETURNING performance
                             """, connection, transaction))
            {
                // The upsert locks the row, whether it inserted it or found it.
                AddWindow(locked, key);
                var stored = await locked.ExecuteScalarAsync(cancellationToken);
                performance = stored is byte[] bytes ? PerformanceCodec.Decode(bytes) : TaskPerformance.For(spec.Task, spec.Threshold);
            }

            foreach (var (j, i) in window)
            {
                errors[i] = performance.Add(j.Prediction, j.Label);
            }

            await using var save = new NpgsqlCommand(
                "UPDATE window_performance SET performance = $5, labelled = $6 WHERE model = $1 AND version = $2 AND count_window = $3 AND window_key = $4",
                connection, transaction);
            AddWindow(save, key);
            save.Parameters.Add(new NpgsqlParameter { Value = PerformanceCodec.Encode(performance) });
            save.Parameters.Add(new NpgsqlParameter { Value = performance.Count });
            await save.ExecuteNonQueryAsync(cancellationToken);
        }

        await CountGroupLabelsAsync(connection, transaction, model, version, spec.Threshold,
            joined.Where(j => j.Group is not null).Select(j => (j.CountWindow, j.Key, j.Group!, j.Prediction, j.Label)), cancellationToken);
        var drifts = joined.Count > 0 ? await FeedDetectorsAsync(connection, transaction, reference, joined.Select(j => j.At).ToList(), errors, cancellationToken) : [];
        await transaction.CommitAsync(cancellationToken);
        return new LabelOutcome(joined.Count, labels.Count - joined.Count, drifts);
    }

    /// <summary>Most groups of a window handed to fairness: the largest, by records.</summary>
    public const int MaxReportedGroups = 2000;

    /// <summary>
    /// A window's counts per group of its fairness watch, as they stand (labels joined so far): the
    /// <see cref="MaxReportedGroups"/> largest, and how many smaller ones were left out.
    /// </summary>
    public static async Task<(IReadOnlyList<GroupCounts> Groups, long Omitted)> WindowGroupsAsync(UnitOfWork tx, DueWindow window, CancellationToken cancellationToken)
    {
        await using var select = tx.Command(
            """
            SELECT group_key, records, selected, tn, fp, fn, tp, count(*) OVER () FROM window_groups
            WHERE model = $1 AND version = $2 AND count_window = $3 AND window_key = $4 ORDER BY records DESC, group_key LIMIT $5
            """, window.Model, window.Version, window.CountWindow, window.Key, MaxReportedGroups);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var groups = new List<GroupCounts>();
        long total = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string?>>(reader.GetString(0))!;
            groups.Add(new GroupCounts(values, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6)));
            total = reader.GetInt64(7);
        }

        return (groups, total - groups.Count);
    }

    // The labelled predictions' confusion counts per window and group of a fairness watch, added to what the window holds.
    private static async Task CountGroupLabelsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string model, string version, double threshold,
        IEnumerable<(bool CountWindow, long Key, string Group, double Prediction, double Label)> labelled, CancellationToken cancellationToken)
    {
        var cells = labelled
            .GroupBy(j => (j.CountWindow, j.Key, j.Group))
            .Select(g => (g.Key, Cells: g.Aggregate(new long[4], (sum, j) =>
            {
                sum[(2 * (j.Label >= 0.5 ? 1 : 0)) + (j.Prediction >= threshold ? 1 : 0)]++;
                return sum;
            })))
            .OrderBy(c => c.Key.Key).ThenBy(c => c.Key.Group, StringComparer.Ordinal)
            .ToList();
        if (cells.Count == 0)
        {
            return;
        }

        await using var upsert = new NpgsqlCommand(
            """
            INSERT INTO window_groups (model, version, count_window, window_key, group_key, tn, fp, fn, tp)
            SELECT $1, $2, c, k, g, a, b, d, e FROM unnest($3::boolean[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]) AS u(c, k, g, a, b, d, e)
            ON CONFLICT (model, version, count_window, window_key, group_key)
            DO UPDATE SET tn = window_groups.tn + excluded.tn, fp = window_groups.fp + excluded.fp, fn = window_groups.fn + excluded.fn, tp = window_groups.tp + excluded.tp
            """, connection, transaction);
        foreach (var value in new object[]
                 {
                     model, version, cells.Select(c => c.Key.CountWindow).ToArray(), cells.Select(c => c.Key.Key).ToArray(), cells.Select(c => c.Key.Group).ToArray(),
                     cells.Select(c => c.Cells[0]).ToArray(), cells.Select(c => c.Cells[1]).ToArray(), cells.Select(c => c.Cells[2]).ToArray(), cells.Select(c => c.Cells[3]).ToArray(),
                 })
        {
            upsert.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        await upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<List<string>> FeedDetectorsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, StoredReference reference, IReadOnlyList<DateTimeOffset> at, double[] errors,
        CancellationToken cancellationToken)
    {
        var (model, version) = (reference.Model, reference.Version);
        var names = DetectorsOf(reference.Prediction!.Task);
        await using (var create = new NpgsqlCommand(
                         """
                         INSERT INTO detectors (model, version, detector, state, last_state)
                         SELECT $1, $2, d, '{}', 'Stable' FROM unnest($3::text[]) AS d ON CONFLICT DO NOTHING
                         """, connection, transaction))
        {
            create.Parameters.Add(new NpgsqlParameter { Value = model });
            create.Parameters.Add(new NpgsqlParameter { Value = version });
            create.Parameters.Add(new NpgsqlParameter { Value = names.ToArray() });
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        var detectors = new List<(string Name, IConceptDriftDetector Detector, long Fed, long Drifts, DateTimeOffset? LastDrift, Episode Episode)>();
        await using (var load = new NpgsqlCommand(
                         """
                         SELECT detector, state, fed, drifts, last_drift_at, episode_open, episode_quiet, episodes FROM detectors
                         WHERE model = $1 AND version = $2 AND detector = ANY($3) ORDER BY detector FOR UPDATE
                         """,
                         connection, transaction))
        {
            load.Parameters.Add(new NpgsqlParameter { Value = model });
            load.Parameters.Add(new NpgsqlParameter { Value = version });
            load.Parameters.Add(new NpgsqlParameter { Value = names.ToArray() });
            await using var reader = await load.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var detector = ConceptDriftDetectors.ForErrors(reader.GetString(0));
                var state = reader.GetFieldValue<double[]>(1);
                if (state.Length > 0)
                {
                    detector.Restore(state);
                }

                detectors.Add((reader.GetString(0), detector, reader.GetInt64(2), reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                    new Episode(reader.GetBoolean(5), reader.GetInt64(6), reader.GetInt64(7))));
            }
        }

        var announced = await AnnouncedAsync(connection, transaction, model, version, cancellationToken);
        var drifted = new List<string>();
        var events = new List<IIntegrationEvent>();
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var (name, detector, fed, drifts, lastDrift, first) in detectors)
        {
            var last = Detectors.DetectorState.Stable;
            var signalled = 0;
            DateTimeOffset? driftAt = lastDrift;
            var episode = first;
            for (var i = 0; i < errors.Length; i++)
            {
                last = detector.Update(errors[i]);
                (episode, var opened) = DriftEpisodes.Feed(episode, last);
                if (last == Detectors.DetectorState.Drift)
                {
                    signalled++;
                    driftAt = at[i];
                    // One announcement per episode, however the labels are batched: a signal inside an open episode is counted only.
                    if (opened && announced is not null)
                    {
                        events.Add(new ConceptDriftDetected
                        {
                            Actor = "drift",
                            Model = model,
                            Version = version,
                            Detector = name,
                            Values = fed + i + 1,
                            PredictedAt = at[i],
                            RecentError = errors.Average(),
                        });
                    }
                }
            }

            if (signalled > 0)
            {
                drifted.Add(name);
            }

            var update = new NpgsqlBatchCommand(
                """
                UPDATE detectors SET state = $4, last_state = $5, fed = $6, drifts = $7, last_drift_at = $8, episode_open = $9, episode_quiet = $10, episodes = $11
                WHERE model = $1 AND version = $2 AND detector = $3
                """);
            update.Parameters.Add(new NpgsqlParameter { Value = model });
            update.Parameters.Add(new NpgsqlParameter { Value = version });
            update.Parameters.Add(new NpgsqlParameter { Value = name });
            update.Parameters.Add(new NpgsqlParameter { Value = detector.Save() });
            update.Parameters.Add(new NpgsqlParameter { Value = (signalled > 0 ? Detectors.DetectorState.Drift : last).ToString() });
            update.Parameters.Add(new NpgsqlParameter { Value = fed + errors.Length });
            update.Parameters.Add(new NpgsqlParameter { Value = drifts + signalled });
            update.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz, Value = driftAt is { } d ? d : DBNull.Value });
            update.Parameters.Add(new NpgsqlParameter { Value = episode.Open });
            update.Parameters.Add(new NpgsqlParameter { Value = episode.Quiet });
            update.Parameters.Add(new NpgsqlParameter { Value = episode.Count });
            batch.BatchCommands.Add(update);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
        await transaction.EnqueueAsync(events, cancellationToken);
        return drifted;
    }

    /// <summary>Forgets predictions made before <paramref name="before"/>: their labels will not join any more.</summary>
    public async Task<int> ExpirePredictionsAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM predictions WHERE predicted_at < $1");
        command.Parameters.Add(new NpgsqlParameter { Value = before });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

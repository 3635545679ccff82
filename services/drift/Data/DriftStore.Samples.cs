using Google.Protobuf.WellKnownTypes;
using ModelOps.Drift.Domain;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Data;

namespace ModelOps.Drift.Data;

// The samples of windows an explainability watch keeps.
public sealed partial class DriftStore
{
    /// <summary>
    /// Adds one call's sampled records to their windows' samples and cuts each window back to its <paramref name="rows"/>
    /// records of least priority. Calls and replicas cutting at once may leave a few more (each sees the others'
    /// uncommitted rows late), never fewer: a reader takes the k least.
    /// </summary>
    public static async Task AppendSamplesAsync(
        UnitOfWork tx, string model, string version, bool countWindows, IReadOnlyList<SampledRow> samples, int rows, CancellationToken cancellationToken)
    {
        if (samples.Count == 0)
        {
            return;
        }

        await using var batch = tx.Batch();
        foreach (var sample in samples.OrderBy(s => s.Key).ThenBy(s => s.Priority))
        {
            batch.BatchCommands.Add(Sql.Statement(
                """
                INSERT INTO window_samples (model, version, count_window, window_key, priority, request_id, columns, "values")
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
                """,
                model, version, countWindows, sample.Key, sample.Priority, sample.RequestId, sample.Columns, sample.Values));
        }

        foreach (var key in samples.Select(s => s.Key).Distinct().Order())
        {
            batch.BatchCommands.Add(Sql.Statement(
                """
                DELETE FROM window_samples WHERE model = $1 AND version = $2 AND count_window = $3 AND window_key = $4 AND priority >
                    (SELECT priority FROM window_samples WHERE model = $1 AND version = $2 AND count_window = $3 AND window_key = $4
                     ORDER BY priority OFFSET $5 LIMIT 1)
                """,
                model, version, countWindows, key, (long)rows - 1));
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>How many records the window's sample holds (at most <paramref name="rows"/>).</summary>
    public static async Task<int> SampledAsync(UnitOfWork tx, DueWindow window, int rows, CancellationToken cancellationToken)
    {
        await using var count = tx.Command(
            "SELECT count(*) FROM window_samples WHERE model = $1 AND version = $2 AND count_window = $3 AND window_key = $4",
            window.Model, window.Version, window.CountWindow, window.Key);
        return (int)Math.Min(rows, (long)(await count.ExecuteScalarAsync(cancellationToken))!);
    }

    /// <summary>
    /// The sample of the reported window of a model version at <paramref name="window"/>: its
    /// <paramref name="rows"/> records of least priority, their columns the union of theirs; null without a report or a sample.
    /// </summary>
    public async Task<WindowSample?> GetSampleAsync(string model, string version, WindowAddress window, int rows, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            $"""
            SELECT r.window_end, r.rows, s.request_id, s.columns, s."values", r.window_start FROM window_reports r
            JOIN window_samples s ON s.model = r.model AND s.version = r.version AND s.count_window = r.count_window AND s.window_key = r.window_key
            WHERE r.model = $1 AND r.version = $2 AND {window.Condition("r.", 3)}
            ORDER BY s.priority LIMIT $4
            """, model, version, window.Value, rows);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        WindowSample? sample = null;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var kept = new List<(string RequestId, string[] Columns, double[] Values)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sample ??= new WindowSample
            {
                Model = model, Version = version, WindowStart = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(5)),
                WindowEnd = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(0)), Records = reader.GetInt64(1),
            };
            var columns = reader.GetFieldValue<string[]>(3);
            foreach (var column in columns)
            {
                if (index.TryAdd(column, index.Count))
                {
                    sample.Columns.Add(column);
                }
            }

            kept.Add((reader.GetString(2), columns, reader.GetFieldValue<double[]>(4)));
        }

        foreach (var (requestId, columns, values) in kept)
        {
            var row = new SampleRow { RequestId = requestId };
            var aligned = Enumerable.Repeat(double.NaN, index.Count).ToArray();
            for (var c = 0; c < columns.Length; c++)
            {
                aligned[index[columns[c]]] = values[c];
            }

            row.Values.Add(aligned);
            sample!.Rows.Add(row);
        }

        return sample;
    }

    /// <summary>Deletes the samples kept longer than <paramref name="retention"/>; returns how many.</summary>
    public async Task<int> DeleteOldSamplesAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        await using var delete = dataSource.Command("DELETE FROM window_samples WHERE kept_at < now() - $1::interval", retention);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}

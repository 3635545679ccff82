using ModelOps.Drift.Domain;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Drift.Data;

// The decision logs of models whose policy keeps one.
public sealed partial class DriftStore
{
    private const string DecisionColumns =
        "model, version, request_id, decided_at, columns, \"values\", label_columns, labels, prediction, threshold, expires_at";

    /// <summary>Most values (numbers and labels) one statement of <see cref="AppendDecisionsAsync"/> carries.</summary>
    private const int ValuesPerStatement = 1_000_000;

    /// <summary>
    /// Logs one call's decisions of a model version, each kept until its timestamp plus <paramref name="retention"/>; a
    /// request id the version logged already keeps its first decision. A statement per chunk of rows: each row's values
    /// are a slice of one flat array, since PostgreSQL's unnest cannot yield an array per row, and a chunk's arrays hold
    /// at most <see cref="ValuesPerStatement"/> values, so a flush of wide records does not build one huge parameter.
    /// </summary>
    public static async Task AppendDecisionsAsync(
        UnitOfWork tx, string model, string version, string[] columns, string[] labelColumns, IReadOnlyList<LoggedDecision> decisions, double? threshold,
        TimeSpan retention, CancellationToken cancellationToken)
    {
        if (decisions.Count == 0)
        {
            return;
        }

        // Sorted by request id, so that calls logging the same ids at once lock them in one order.
        var rows = Math.Max(1, ValuesPerStatement / Math.Max(1, columns.Length + labelColumns.Length));
        foreach (var ordered in decisions.OrderBy(d => d.RequestId, StringComparer.Ordinal).Chunk(rows))
        {
            await InsertDecisionsAsync(tx, model, version, columns, labelColumns, ordered, threshold, retention, cancellationToken);
        }
    }

    private static async Task InsertDecisionsAsync(
        UnitOfWork tx, string model, string version, string[] columns, string[] labelColumns, LoggedDecision[] ordered, double? threshold,
        TimeSpan retention, CancellationToken cancellationToken)
    {
        await using var insert = tx.Command(
            """
            INSERT INTO decisions (model, version, request_id, decided_at, columns, "values", label_columns, labels, prediction, threshold, expires_at)
            SELECT $1, $2, r, t, $3::text[], ($7::float8[])[((i - 1) * cardinality($3) + 1):(i * cardinality($3))],
                   $4::text[], ($8::text[])[((i - 1) * cardinality($4) + 1):(i * cardinality($4))], p, $9::float8, t + $10::interval
            FROM unnest($5::text[], $6::timestamptz[], $11::float8[]) WITH ORDINALITY AS u(r, t, p, i)
            ON CONFLICT DO NOTHING
            """,
            model, version, columns, labelColumns, ordered.Select(d => d.RequestId).ToArray(), ordered.Select(d => d.At).ToArray(),
            ordered.SelectMany(d => d.Values).ToArray(), ordered.SelectMany(d => d.Labels).ToArray(), threshold, retention,
            ordered.Select(d => d.Prediction).ToArray());
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The unexpired decisions logged for a request id, one per version, oldest first.</summary>
    public async Task<IReadOnlyList<Decision>> GetDecisionsAsync(string model, string requestId, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            $"SELECT {DecisionColumns} FROM decisions WHERE model = $1 AND request_id = $2 AND expires_at > now() ORDER BY decided_at, version",
            model, requestId);
        return await ReadDecisionsAsync(select, cancellationToken);
    }

    /// <summary>A page of a model version's unexpired decisions, newest first.</summary>
    public async Task<IReadOnlyList<Decision>> ListDecisionsAsync(string model, string version, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            $"""
            SELECT {DecisionColumns} FROM decisions WHERE model = $1 AND version = $2 AND expires_at > now()
            ORDER BY decided_at DESC, request_id LIMIT $3 OFFSET $4
            """,
            model, version, limit, offset);
        return await ReadDecisionsAsync(select, cancellationToken);
    }

    /// <summary>Deletes the decisions past their expiry; returns how many.</summary>
    public async Task<int> DeleteExpiredDecisionsAsync(CancellationToken cancellationToken)
    {
        await using var delete = dataSource.Command("DELETE FROM decisions WHERE expires_at <= now()");
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<IReadOnlyList<Decision>> ReadDecisionsAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        var decisions = new List<Decision>();
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            decisions.Add(DecisionLogs.ToProto(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<string[]>(4),
                reader.GetFieldValue<double[]>(5), reader.GetFieldValue<string[]>(6), reader.GetFieldValue<string[]>(7),
                reader.IsDBNull(8) ? null : reader.GetDouble(8), reader.IsDBNull(9) ? null : reader.GetDouble(9), reader.GetFieldValue<DateTimeOffset>(10)));
        }

        return decisions;
    }
}

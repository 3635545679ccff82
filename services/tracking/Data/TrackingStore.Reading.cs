using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using ModelOps.ServiceDefaults.Data;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.Search;
using ModelOps.Tracking.V1;
using Npgsql;

namespace ModelOps.Tracking.Data;

/// <summary>Reading runs: whole runs by id, searches, and the hashes that seal a run's record.</summary>
public sealed partial class TrackingStore
{
    /// <summary>
    /// The ids of the runs of <paramref name="experimentIds"/> that <paramref name="filter"/> selects (all when null) in
    /// <paramref name="view"/>, ordered by <paramref name="ordering"/> then run id, paged.
    /// </summary>
    public async Task<IReadOnlyList<Guid>> SearchRunIdsAsync(
        IReadOnlyList<long> experimentIds, RunViewType view, FilterNode? filter, IReadOnlyList<OrderKey> ordering, int limit, long offset,
        CancellationToken cancellationToken)
    {
        var query = new RunQuery();
        // One experiment (the common case) as a plain equality, so that the planner can walk its index in order.
        var conditions = new List<string>
        {
            experimentIds.Count == 1
                ? $"r.experiment_id = {query.Parameter(experimentIds[0])}"
                : $"r.experiment_id = ANY({query.Parameter(experimentIds.ToArray())})",
        };
        switch (view)
        {
            case RunViewType.ActiveOnly:
                conditions.Add("r.lifecycle_stage = 'active'");
                break;
            case RunViewType.DeletedOnly:
                conditions.Add("r.lifecycle_stage = 'deleted'");
                break;
        }

        var (joins, orderBy) = query.Ordering(ordering, filter);
        if (filter is not null)
        {
            conditions.Add(query.Condition(filter));
        }

        await using var command = dataSource.CreateCommand(
            $"SELECT r.run_id FROM runs r{joins} WHERE {string.Join(" AND ", conditions)} ORDER BY {orderBy} LIMIT {limit} OFFSET {offset}");
        command.Parameters.AddRange(query.Parameters.ToArray());
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    // One line per row, its columns joined by tabs, numbers in invariant form and doubles in the shortest round-trip
    // form ("key\tstep\ttimestamp\tvalue\n" for the metric history, "path\tsha256\tsize\n" for artifacts): anyone
    // holding the rows can recompute the hash.
    private static async Task<string> LinesSha256Async(UnitOfWork tx, Guid runId, string sql, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var command = tx.Command(sql, runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var line = new StringBuilder();
        while (await reader.ReadAsync(cancellationToken))
        {
            line.Clear();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                line.Append(i > 0 ? "\t" : "").Append(reader.GetValue(i) switch
                {
                    double value => value.ToString("R", CultureInfo.InvariantCulture),
                    IFormattable value => value.ToString(null, CultureInfo.InvariantCulture),
                    var value => value.ToString(),
                });
            }

            hash.AppendData(Encoding.UTF8.GetBytes(line.Append('\n').ToString()));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task<IReadOnlyList<Run>> LoadRunsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, IReadOnlyList<Guid> runIds, CancellationToken cancellationToken)
    {
        var runs = new Dictionary<Guid, Run>();
        if (runIds.Count == 0)
        {
            return [];
        }

        var ids = runIds.ToArray();
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var sql in new[]
                 {
                     "SELECT run_id, experiment_id, run_name, status, lifecycle_stage, author, start_time, end_time, rebuild_of, provenance::text, record_sha256 FROM runs WHERE run_id = ANY($1)",
                     "SELECT run_id, key, value FROM params WHERE run_id = ANY($1)",
                     "SELECT run_id, key, value FROM run_tags WHERE run_id = ANY($1)",
                     "SELECT run_id, key, value, timestamp, step FROM latest_metrics WHERE run_id = ANY($1) ORDER BY key",
                     "SELECT run_id, dataset_id, hash, snapshot_at, feature_groups, range_start, range_end, source_uri, context FROM dataset_inputs WHERE run_id = ANY($1) ORDER BY ordinal",
                 })
        {
            batch.BatchCommands.Add(Sql.Statement(sql, ids));
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var run = new Run
            {
                RunId = RunIds.Format(reader.GetGuid(0)),
                ExperimentId = reader.GetInt64(1).ToString(CultureInfo.InvariantCulture),
                RunName = reader.GetString(2),
                Status = RunStatuses.Parse(reader.GetString(3)),
                LifecycleStage = Lifecycle(reader.GetString(4)),
                Author = reader.GetString(5),
                StartTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))),
                RebuildOf = reader.IsDBNull(8) ? "" : RunIds.Format(reader.GetGuid(8)),
                Provenance = ProtoJsonParser.Parse<Provenance>(reader.GetString(9)),
                RecordSha256 = reader.IsDBNull(10) ? "" : reader.GetString(10),
            };
            if (!reader.IsDBNull(7))
            {
                run.EndTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)));
            }

            runs[reader.GetGuid(0)] = run;
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs[reader.GetGuid(0)].Params[reader.GetString(1)] = reader.GetString(2);
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs[reader.GetGuid(0)].Tags[reader.GetString(1)] = reader.GetString(2);
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs[reader.GetGuid(0)].LatestMetrics.Add(new Metric
            {
                Key = reader.GetString(1), Value = reader.GetDouble(2), Timestamp = reader.GetInt64(3), Step = reader.GetInt64(4),
            });
        }

        await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var input = new DatasetInput
            {
                DatasetId = reader.GetString(1),
                Hash = reader.GetString(2),
                FeatureGroups = { reader.GetFieldValue<string[]>(4) },
                SourceUri = reader.GetString(7),
                Context = reader.GetString(8),
            };
            if (!reader.IsDBNull(3))
            {
                input.SnapshotAt = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(3));
            }

            if (!reader.IsDBNull(5) || !reader.IsDBNull(6))
            {
                input.TimeRange = new TimeRange();
                if (!reader.IsDBNull(5))
                {
                    input.TimeRange.Start = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(5));
                }

                if (!reader.IsDBNull(6))
                {
                    input.TimeRange.End = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(6));
                }
            }

            runs[reader.GetGuid(0)].Inputs.Add(input);
        }

        return runIds.Where(runs.ContainsKey).Select(id => runs[id]).ToList();
    }
}

using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.V1;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Tracking.Data;

/// <summary>
/// The tracking tables: experiments, runs and everything logged to them. SQL lives here and nowhere else; refusals are
/// <see cref="ServiceException"/>s with their reason codes.
/// </summary>
public sealed partial class TrackingStore(NpgsqlDataSource dataSource)
{
    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    private static readonly JsonParser ProtoJsonParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>Begins a unit of work: changes and the events that describe them commit together.</summary>
    public Task<UnitOfWork> BeginAsync(CancellationToken cancellationToken) => UnitOfWork.BeginAsync(dataSource, cancellationToken);

    // ------------------------------------------------------------------ runs

    /// <summary>
    /// Starts a run in <paramref name="tx"/>; the experiment must exist and be active. With a
    /// <paramref name="clientRequestId"/> the start is idempotent: a retry of it finds the run it started, and
    /// <c>Created</c> is false (nothing is written, and no event should be published).
    /// </summary>
    public async Task<(Guid RunId, bool Created)> StartRunAsync(
        UnitOfWork tx, Run run, string clientRequestId, CancellationToken cancellationToken)
    {
        var experimentId = long.Parse(run.ExperimentId, CultureInfo.InvariantCulture);
        if (clientRequestId.Length > 0 && await FindStartedAsync(tx, run.Author, clientRequestId, cancellationToken) is { } earlier)
        {
            return earlier.ExperimentId == experimentId
                ? (earlier.RunId, false)
                : throw ServiceErrors.InvalidArgument("client_request_id", "was used before to start a run in another experiment");
        }

        await using (var experiment = tx.Command("SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1 FOR SHARE", experimentId))
        {
            var stage = (string?)await experiment.ExecuteScalarAsync(cancellationToken);
            if (stage is null)
            {
                throw ServiceErrors.NotFound("experiment", run.ExperimentId);
            }

            if (stage != "active")
            {
                throw ServiceErrors.FailedPrecondition("EXPERIMENT_ARCHIVED",
                    $"Experiment {experimentId} is archived: restore it to start runs in it.", "EXPERIMENT_STATE", run.ExperimentId);
            }
        }

        Guid? rebuildOf = run.RebuildOf.Length > 0 ? Guid.Parse(run.RebuildOf) : null;
        if (rebuildOf is not null)
        {
            await using var original = tx.Command("SELECT 1 FROM runs WHERE run_id = $1", rebuildOf.Value);
            if (await original.ExecuteScalarAsync(cancellationToken) is null)
            {
                throw ServiceErrors.NotFound("run", RunIds.Format(rebuildOf.Value), $"Run {RunIds.Format(rebuildOf.Value)} (rebuild_of) was not found.");
            }
        }

        var runId = Guid.Parse(run.RunId);
        await using var batch = tx.Batch(
            Sql.Statement(
                """
                INSERT INTO runs (run_id, experiment_id, run_name, status, author, start_time, rebuild_of, provenance, client_request_id)
                VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8)
                """,
                runId, experimentId, run.RunName, run.Author, run.StartTime.ToDateTimeOffset().ToUnixTimeMilliseconds(),
                Sql.Typed(rebuildOf, NpgsqlDbType.Uuid), Sql.Jsonb(ProtoJson.Format(run.Provenance ?? new Provenance())),
                Sql.Typed(clientRequestId.Length > 0 ? clientRequestId : null, NpgsqlDbType.Text)),
            Audit(experimentId, runId, run.Author, "run.start", new { run.RunName }));
        if (run.Tags.Count > 0)
        {
            batch.BatchCommands.Add(InsertPairs("run_tags", runId, run.Tags.Keys.ToArray(), run.Tags.Values.ToArray()));
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
        return (runId, true);
    }

    /// <summary>
    /// Writes a batch to a running run, all or nothing. Params and tags are write-once: the same value again is
    /// accepted, another value is refused naming the key. With a <paramref name="batchId"/> the batch is written at
    /// most once: a batch id the run has seen before writes nothing and returns false.
    /// </summary>
    public async Task<bool> LogBatchAsync(Guid runId, LogBatchRequest request, string actor, string batchId, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        var experimentId = await LockRunningAsync(tx, runId, "FOR SHARE", cancellationToken);
        if (batchId.Length > 0)
        {
            await using var claim = tx.Command(
                "INSERT INTO applied_batches (run_id, batch_id, metrics) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                runId, batchId, request.Metrics.Count);
            if (await claim.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return false;
            }
        }

        await CheckWriteOnceAsync(tx, "params", "params", runId, request.Params.Select(p => (p.Key, p.Value)).ToList(), cancellationToken);
        await CheckWriteOnceAsync(tx, "run_tags", "tags", runId, request.Tags.Select(t => (t.Key, t.Value)).ToList(), cancellationToken);

        await using var batch = tx.Batch();
        if (request.Metrics.Count > 0)
        {
            object[] columns =
            [
                runId,
                request.Metrics.Select(m => m.Key).ToArray(),
                request.Metrics.Select(m => m.Step).ToArray(),
                request.Metrics.Select(m => m.Timestamp).ToArray(),
                request.Metrics.Select(m => m.Value).ToArray(),
            ];
            batch.BatchCommands.Add(Sql.Statement(
                "INSERT INTO metrics (run_id, key, step, timestamp, value) SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[])",
                columns));

            // The latest value per key: highest step, then timestamp, then value (MLflow's rule).
            batch.BatchCommands.Add(Sql.Statement(
                """
                INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value)
                SELECT DISTINCT ON (key) $1, key, step, timestamp, value
                FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[]) AS m(key, step, timestamp, value)
                ORDER BY key, step DESC, timestamp DESC, value DESC
                ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, value = excluded.value
                WHERE (excluded.step, excluded.timestamp, excluded.value) > (l.step, l.timestamp, l.value)
                """, columns));
        }

        if (request.Params.Count > 0)
        {
            var distinct = request.Params.DistinctBy(p => p.Key).ToList();
            batch.BatchCommands.Add(InsertPairs("params", runId, distinct.Select(p => p.Key).ToArray(), distinct.Select(p => p.Value).ToArray()));
        }

        if (request.Tags.Count > 0)
        {
            var distinct = request.Tags.DistinctBy(t => t.Key).ToList();
            batch.BatchCommands.Add(InsertPairs("run_tags", runId, distinct.Select(t => t.Key).ToArray(), distinct.Select(t => t.Value).ToArray()));
        }

        foreach (var input in request.Inputs)
        {
            batch.BatchCommands.Add(Sql.Statement(
                """
                INSERT INTO dataset_inputs (run_id, ordinal, dataset_id, hash, snapshot_at, feature_groups, range_start, range_end, source_uri, context)
                SELECT $1, coalesce(max(ordinal) + 1, 0), $2, $3, $4, $5, $6, $7, $8, $9 FROM dataset_inputs WHERE run_id = $1
                ON CONFLICT (run_id, dataset_id, hash, context) DO NOTHING
                """,
                runId, input.DatasetId, input.Hash, Timestamptz(input.SnapshotAt), input.FeatureGroups.ToArray(),
                Timestamptz(input.TimeRange?.Start), Timestamptz(input.TimeRange?.End), input.SourceUri, input.Context));
        }

        batch.BatchCommands.Add(Audit(experimentId, runId, actor, "run.log_batch", new
        {
            metrics = request.Metrics.Count,
            @params = request.Params.Count,
            tags = request.Tags.Count,
            inputs = request.Inputs.Count,
            batch_id = batchId,
        }));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The batch ids a run has written, with their metric counts, after <paramref name="after"/> in id order.</summary>
    public async Task<IReadOnlyList<(string BatchId, int Metrics)>> AppliedBatchesAsync(
        Guid runId, string after, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            "SELECT batch_id, metrics FROM applied_batches WHERE run_id = $1 AND batch_id > $2 ORDER BY batch_id COLLATE \"C\" LIMIT $3",
            runId, after, limit);
        var batches = new List<(string, int)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            batches.Add((reader.GetString(0), reader.GetInt32(1)));
        }

        return batches;
    }

    /// <summary>Fills in provenance fields of a running run; a field set before keeps its value or the write is refused.</summary>
    public async Task SetProvenanceAsync(Guid runId, Provenance update, string actor, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        var experimentId = await LockRunningAsync(tx, runId, "FOR UPDATE", cancellationToken);
        Provenance current;
        await using (var read = tx.Command("SELECT provenance::text FROM runs WHERE run_id = $1", runId))
        {
            current = ProtoJsonParser.Parse<Provenance>((string)(await read.ExecuteScalarAsync(cancellationToken))!);
        }

        var merged = ProvenanceMerge.Merge(current, update);
        var json = ProtoJson.Format(merged);
        if (System.Text.Encoding.UTF8.GetByteCount(json) > Limits.MaxProvenanceBytes)
        {
            throw ServiceErrors.InvalidArgument("provenance", $"would make the run's provenance larger than {Limits.MaxProvenanceBytes} bytes as JSON");
        }

        await using var batch = tx.Batch(
            Sql.Statement("UPDATE runs SET provenance = $2 WHERE run_id = $1", runId, Sql.Jsonb(json)),
            Audit(experimentId, runId, actor, "run.set_provenance", JsonDocument.Parse(ProtoJson.Format(update)).RootElement));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Ends a running run in <paramref name="tx"/>: its final record is fixed and hashed. The record is the RFC 8785
    /// canonical JSON of the run (params, tags, latest metrics, inputs, provenance) with the SHA-256 of its whole metric
    /// history and of its artifact list, so that the hash commits to every value and file logged. An end before the
    /// run's start is refused.
    /// </summary>
    public async Task<(Run Run, string Sha256)> EndRunAsync(
        UnitOfWork tx, Guid runId, RunStatus status, DateTimeOffset endTime, string actor, CancellationToken cancellationToken)
    {
        var experimentId = await LockRunningAsync(tx, runId, "FOR UPDATE", cancellationToken);
        var end = endTime.ToUnixTimeMilliseconds();
        await using (var update = tx.Command(
            "UPDATE runs SET status = $2, end_time = $3 WHERE run_id = $1 AND start_time <= $3", runId, RunStatuses.Name(status), end))
        {
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                throw ServiceErrors.InvalidArgument("end_time", "lies before the run's start");
            }
        }

        var run = (await LoadRunsAsync(tx.Connection, tx.Transaction, [runId], cancellationToken)).Single();
        var historySha256 = await LinesSha256Async(tx, runId,
            "SELECT key, step, timestamp, value FROM metrics WHERE run_id = $1 ORDER BY key COLLATE \"C\", step, timestamp, value",
            cancellationToken);
        var artifactsSha256 = await LinesSha256Async(tx, runId, "SELECT path, sha256, size FROM artifacts WHERE run_id = $1 ORDER BY path",
            cancellationToken);
        var sha256 = RunRecord.Sha256(run, historySha256, artifactsSha256);
        await using var seal = tx.Batch(
            Sql.Statement("UPDATE runs SET record_sha256 = $2 WHERE run_id = $1", runId, sha256),
            Audit(experimentId, runId, actor, "run.end", new { status = RunStatuses.Name(status), sha256 }));
        await seal.ExecuteNonQueryAsync(cancellationToken);
        run.RecordSha256 = sha256;
        return (run, sha256);
    }

    /// <summary>
    /// Soft-deletes or restores a run in <paramref name="tx"/>; returns its experiment and whether anything changed
    /// (deleting a deleted run changes nothing).
    /// </summary>
    public async Task<(long ExperimentId, bool Changed)> SetRunDeletedAsync(
        UnitOfWork tx, Guid runId, bool deleted, string actor, CancellationToken cancellationToken)
    {
        var stage = deleted ? "deleted" : "active";
        long experimentId;
        await using (var read = tx.Command("SELECT experiment_id, lifecycle_stage FROM runs WHERE run_id = $1 FOR UPDATE", runId))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw ServiceErrors.NotFound("run", RunIds.Format(runId));
            }

            experimentId = reader.GetInt64(0);
            if (reader.GetString(1) == stage)
            {
                return (experimentId, false);
            }
        }

        await using var update = tx.Batch(
            Sql.Statement("UPDATE runs SET lifecycle_stage = $2 WHERE run_id = $1", runId, stage),
            Audit(experimentId, runId, actor, deleted ? "run.delete" : "run.restore", new { }));
        await update.ExecuteNonQueryAsync(cancellationToken);
        return (experimentId, true);
    }

    /// <summary>Full runs by id, in the order given; unknown ids are left out.</summary>
    public async Task<IReadOnlyList<Run>> GetRunsAsync(IReadOnlyList<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await LoadRunsAsync(connection, null, runIds, cancellationToken);
    }

    /// <summary>Whether the run exists.</summary>
    public async Task<bool> RunExistsAsync(Guid runId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command("SELECT 1 FROM runs WHERE run_id = $1", runId);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>A metric's points in step order (then timestamp), in the ranges asked.</summary>
    public async Task<(List<Metric> Points, long Total)> GetMetricHistoryAsync(
        Guid runId, string key, long? minStep, long? maxStep, long? startMs, long? endMs, int cap, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            """
            SELECT step, timestamp, value, count(*) OVER () FROM metrics
            WHERE run_id = $1 AND key = $2 AND step >= $3 AND step <= $4 AND timestamp >= $5 AND timestamp <= $6
            ORDER BY step, timestamp, value LIMIT $7
            """,
            runId, key, minStep ?? 0L, maxStep ?? long.MaxValue, startMs ?? long.MinValue, endMs ?? long.MaxValue, cap);
        var points = new List<Metric>();
        long total = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            points.Add(new Metric { Key = key, Step = reader.GetInt64(0), Timestamp = reader.GetInt64(1), Value = reader.GetDouble(2) });
            total = reader.GetInt64(3);
        }

        return (points, total);
    }

    // ------------------------------------------------------------------ helpers

    private static async Task<(Guid RunId, long ExperimentId)?> FindStartedAsync(
        UnitOfWork tx, string author, string clientRequestId, CancellationToken cancellationToken)
    {
        await using var command = tx.Command(
            "SELECT run_id, experiment_id FROM runs WHERE author = $1 AND client_request_id = $2", author, clientRequestId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetGuid(0), reader.GetInt64(1)) : null;
    }

    private static async Task<long> LockRunningAsync(UnitOfWork tx, Guid runId, string lockMode, CancellationToken cancellationToken)
    {
        await using var command = tx.Command($"SELECT experiment_id, status FROM runs WHERE run_id = $1 {lockMode}", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw ServiceErrors.NotFound("run", RunIds.Format(runId));
        }

        var status = reader.GetString(1);
        return status == "RUNNING"
            ? reader.GetInt64(0)
            : throw ServiceErrors.FailedPrecondition("RUN_ENDED",
                $"Run {RunIds.Format(runId)} has ended ({status}): it accepts nothing new.", "RUN_STATE", RunIds.Format(runId),
                new Dictionary<string, string> { ["status"] = status });
    }

    private static async Task CheckWriteOnceAsync(
        UnitOfWork tx, string table, string field, Guid runId, List<(string Key, string Value)> pairs, CancellationToken cancellationToken)
    {
        if (pairs.Count == 0)
        {
            return;
        }

        await using var command = tx.Command($"SELECT key, value FROM {table} WHERE run_id = $1 AND key = ANY($2)",
            runId, pairs.Select(p => p.Key).Distinct().ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var key = reader.GetString(0);
            var stored = reader.GetString(1);
            var index = pairs.FindIndex(p => p.Key == key && p.Value != stored);
            if (index >= 0)
            {
                throw new FieldViolations()
                    .Add($"{field}[{index}].value", $"{TextRules.Echo(key)} was logged before with another value: it is write-once")
                    .ToException("The batch was not written.", "WRITE_ONCE");
            }
        }
    }

    private static NpgsqlBatchCommand InsertPairs(string table, Guid runId, string[] keys, string[] values) =>
        // A key already stored holds the same value (checked before), so a conflict changes nothing.
        Sql.Statement($"INSERT INTO {table} (run_id, key, value) SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT (run_id, key) DO NOTHING",
            runId, keys, values);

    private static NpgsqlBatchCommand Audit(long experimentId, Guid? runId, string actor, string action, object detail) =>
        Sql.Statement("INSERT INTO tracking_audit (experiment_id, run_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
            experimentId, Sql.Typed(runId, NpgsqlDbType.Uuid), actor, action, Sql.Jsonb(JsonSerializer.Serialize(detail)));

    private static NpgsqlParameter Timestamptz(Google.Protobuf.WellKnownTypes.Timestamp? value) =>
        Sql.Typed(value?.ToDateTimeOffset(), NpgsqlDbType.TimestampTz);

    private static LifecycleStage Lifecycle(string stage) => stage == "active" ? LifecycleStage.Active : LifecycleStage.Deleted;
}

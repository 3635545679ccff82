using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Contracts;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.V1;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Tracking.Data;

/// <summary>A write refused because of what is stored: the run has ended, a param would change, a name is taken.</summary>
public sealed class ConflictException(string message, string? field = null) : Exception(message)
{
    /// <summary>The request field at fault, when one is.</summary>
    public string? Field { get; } = field;
}

/// <summary>The tracking tables: experiments, runs and everything logged to them.</summary>
public sealed partial class TrackingStore(NpgsqlDataSource dataSource)
{
    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    private static readonly JsonParser ProtoJsonParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    // ------------------------------------------------------------------ experiments

    /// <summary>Creates an experiment; a taken name is a <see cref="ConflictException"/>.</summary>
    public async Task<long> CreateExperimentAsync(
        string name, IReadOnlyDictionary<string, string> tags, string actor, string artifactRoot, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long id;
        try
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO experiments (name, artifact_location, created_by) VALUES ($1, '', $2) RETURNING experiment_id",
                connection, transaction);
            insert.Parameters.Add(new NpgsqlParameter { Value = name });
            insert.Parameters.Add(new NpgsqlParameter { Value = actor });
            id = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new ConflictException($"An experiment named '{name}' exists already.", "name");
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        var location = new NpgsqlBatchCommand("UPDATE experiments SET artifact_location = $2 WHERE experiment_id = $1");
        location.Parameters.Add(new NpgsqlParameter { Value = id });
        location.Parameters.Add(new NpgsqlParameter { Value = $"{artifactRoot.TrimEnd('/')}/{id}" });
        batch.BatchCommands.Add(location);
        if (tags.Count > 0)
        {
            var insertTags = new NpgsqlBatchCommand(
                "INSERT INTO experiment_tags (experiment_id, key, value) SELECT $1, * FROM unnest($2::text[], $3::text[])");
            insertTags.Parameters.Add(new NpgsqlParameter { Value = id });
            insertTags.Parameters.Add(new NpgsqlParameter { Value = tags.Keys.ToArray() });
            insertTags.Parameters.Add(new NpgsqlParameter { Value = tags.Values.ToArray() });
            batch.BatchCommands.Add(insertTags);
        }

        batch.BatchCommands.Add(Audit(id, null, actor, "experiment.create", new { name }));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return id;
    }

    /// <summary>One experiment by id or by name.</summary>
    public async Task<Experiment?> GetExperimentAsync(long? id, string? name, CancellationToken cancellationToken)
    {
        var found = await QueryExperimentsAsync(
            id is not null ? "e.experiment_id = $1" : "e.name = $1", [id is not null ? id.Value : name!], 1, 0, cancellationToken);
        return found.SingleOrDefault();
    }

    /// <summary>Experiments whose name contains <paramref name="nameContains"/>, by id.</summary>
    public Task<IReadOnlyList<Experiment>> SearchExperimentsAsync(
        string nameContains, bool includeArchived, int limit, long offset, CancellationToken cancellationToken) =>
        QueryExperimentsAsync(
            "strpos(lower(e.name), lower($1)) > 0" + (includeArchived ? "" : " AND e.lifecycle_stage = 'active'"),
            [nameContains], limit, offset, cancellationToken);

    /// <summary>Renames, tags, archives or restores an experiment; false when it does not exist.</summary>
    public async Task<bool> UpdateExperimentAsync(
        long id, string actor, string action, string sql, object[] values, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var exists = new NpgsqlCommand("SELECT 1 FROM experiments WHERE experiment_id = $1 FOR UPDATE", connection, transaction))
        {
            exists.Parameters.Add(new NpgsqlParameter { Value = id });
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                return false;
            }
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        var update = new NpgsqlBatchCommand(sql);
        update.Parameters.Add(new NpgsqlParameter { Value = id });
        foreach (var value in values)
        {
            update.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        batch.BatchCommands.Add(update);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("UPDATE experiments SET updated_at = now() WHERE experiment_id = $1")
        {
            Parameters = { new NpgsqlParameter { Value = id } },
        });
        batch.BatchCommands.Add(Audit(id, null, actor, action, values));
        try
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new ConflictException("An experiment with that name exists already.", "new_name");
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private async Task<IReadOnlyList<Experiment>> QueryExperimentsAsync(
        string where, object[] values, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
             SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.created_by, e.created_at, e.updated_at,
                    coalesce((SELECT array_agg(t.key ORDER BY t.key) FROM experiment_tags t WHERE t.experiment_id = e.experiment_id), ARRAY[]::text[]),
                    coalesce((SELECT array_agg(t.value ORDER BY t.key) FROM experiment_tags t WHERE t.experiment_id = e.experiment_id), ARRAY[]::text[])
             FROM experiments e WHERE {where} ORDER BY e.experiment_id LIMIT {limit} OFFSET {offset}
             """);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var experiments = new List<Experiment>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var experiment = new Experiment
            {
                ExperimentId = reader.GetInt64(0).ToString(System.Globalization.CultureInfo.InvariantCulture),
                Name = reader.GetString(1),
                ArtifactLocation = reader.GetString(2),
                LifecycleStage = Stage(reader.GetString(3)),
                CreatedBy = reader.GetString(4),
                CreatedAt = Timestamp.FromDateTime(reader.GetDateTime(5)),
                UpdatedAt = Timestamp.FromDateTime(reader.GetDateTime(6)),
            };
            var keys = reader.GetFieldValue<string[]>(7);
            var tagValues = reader.GetFieldValue<string[]>(8);
            for (var i = 0; i < keys.Length; i++)
            {
                experiment.Tags[keys[i]] = tagValues[i];
            }

            experiments.Add(experiment);
        }

        return experiments;
    }

    // ------------------------------------------------------------------ runs

    /// <summary>Starts a run and announces it, in one transaction; the experiment must exist and be active.</summary>
    public async Task StartRunAsync(Run run, IIntegrationEvent started, CancellationToken cancellationToken)
    {
        var experimentId = long.Parse(run.ExperimentId, System.Globalization.CultureInfo.InvariantCulture);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var experiment = new NpgsqlCommand(
            "SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1 FOR SHARE", connection, transaction))
        {
            experiment.Parameters.Add(new NpgsqlParameter { Value = experimentId });
            var stage = (string?)await experiment.ExecuteScalarAsync(cancellationToken);
            if (stage is null)
            {
                throw new KeyNotFoundException($"Experiment {experimentId}");
            }

            if (stage != "active")
            {
                throw new ConflictException($"Experiment {experimentId} is archived: restore it to start runs in it.");
            }
        }

        Guid? rebuildOf = run.RebuildOf.Length > 0 ? Guid.Parse(run.RebuildOf) : null;
        if (rebuildOf is not null)
        {
            await using var original = new NpgsqlCommand("SELECT 1 FROM runs WHERE run_id = $1", connection, transaction);
            original.Parameters.Add(new NpgsqlParameter { Value = rebuildOf.Value });
            if (await original.ExecuteScalarAsync(cancellationToken) is null)
            {
                throw new KeyNotFoundException($"Run {run.RebuildOf} (rebuild_of)");
            }
        }

        var runId = Guid.Parse(run.RunId);
        await using var batch = new NpgsqlBatch(connection, transaction);
        var insert = new NpgsqlBatchCommand(
            """
            INSERT INTO runs (run_id, experiment_id, run_name, status, author, start_time, rebuild_of, provenance)
            VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7)
            """);
        insert.Parameters.Add(new NpgsqlParameter { Value = runId });
        insert.Parameters.Add(new NpgsqlParameter { Value = experimentId });
        insert.Parameters.Add(new NpgsqlParameter { Value = run.RunName });
        insert.Parameters.Add(new NpgsqlParameter { Value = run.Author });
        insert.Parameters.Add(new NpgsqlParameter { Value = run.StartTime.ToDateTimeOffset().ToUnixTimeMilliseconds() });
        insert.Parameters.Add(new NpgsqlParameter { Value = (object?)rebuildOf ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
        insert.Parameters.Add(new NpgsqlParameter { Value = ProtoJson.Format(run.Provenance ?? new Provenance()), NpgsqlDbType = NpgsqlDbType.Jsonb });
        batch.BatchCommands.Add(insert);
        if (run.Tags.Count > 0)
        {
            batch.BatchCommands.Add(InsertPairs("run_tags", runId, run.Tags.Keys.ToArray(), run.Tags.Values.ToArray()));
        }

        batch.BatchCommands.Add(Audit(experimentId, runId, run.Author, "run.start", new { run.RunName }));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await ModelOps.ServiceDefaults.Messaging.Outbox.EnqueueAsync(transaction, started, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Writes a batch to a running run, all or nothing. Params and tags are write-once: the same value again is
    /// accepted, another value is a <see cref="ConflictException"/> naming the key.
    /// </summary>
    public async Task LogBatchAsync(Guid runId, LogBatchRequest request, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var experimentId = await LockRunningAsync(connection, transaction, runId, "FOR SHARE", cancellationToken);

        await CheckWriteOnceAsync(connection, transaction, "params", "params", runId,
            request.Params.Select(p => (p.Key, p.Value)).ToList(), cancellationToken);
        await CheckWriteOnceAsync(connection, transaction, "run_tags", "tags", runId,
            request.Tags.Select(t => (t.Key, t.Value)).ToList(), cancellationToken);

        await using var batch = new NpgsqlBatch(connection, transaction);
        if (request.Metrics.Count > 0)
        {
            var keys = request.Metrics.Select(m => m.Key).ToArray();
            var steps = request.Metrics.Select(m => m.Step).ToArray();
            var timestamps = request.Metrics.Select(m => m.Timestamp).ToArray();
            var values = request.Metrics.Select(m => m.Value).ToArray();
            var metrics = new NpgsqlBatchCommand(
                "INSERT INTO metrics (run_id, key, step, timestamp, value) SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[])");
            metrics.Parameters.Add(new NpgsqlParameter { Value = runId });
            metrics.Parameters.Add(new NpgsqlParameter { Value = keys });
            metrics.Parameters.Add(new NpgsqlParameter { Value = steps });
            metrics.Parameters.Add(new NpgsqlParameter { Value = timestamps });
            metrics.Parameters.Add(new NpgsqlParameter { Value = values });
            batch.BatchCommands.Add(metrics);

            // The latest value per key: highest step, then timestamp, then value (MLflow's rule).
            var latest = new NpgsqlBatchCommand(
                """
                INSERT INTO latest_metrics AS l (run_id, key, step, timestamp, value)
                SELECT DISTINCT ON (key) $1, key, step, timestamp, value
                FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[]) AS m(key, step, timestamp, value)
                ORDER BY key, step DESC, timestamp DESC, value DESC
                ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, value = excluded.value
                WHERE (excluded.step, excluded.timestamp, excluded.value) > (l.step, l.timestamp, l.value)
                """);
            latest.Parameters.Add(new NpgsqlParameter { Value = runId });
            latest.Parameters.Add(new NpgsqlParameter { Value = keys });
            latest.Parameters.Add(new NpgsqlParameter { Value = steps });
            latest.Parameters.Add(new NpgsqlParameter { Value = timestamps });
            latest.Parameters.Add(new NpgsqlParameter { Value = values });
            batch.BatchCommands.Add(latest);
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
            var insert = new NpgsqlBatchCommand(
                """
                INSERT INTO dataset_inputs (run_id, ordinal, dataset_id, hash, snapshot_at, feature_groups, range_start, range_end, source_uri, context)
                SELECT $1, coalesce(max(ordinal) + 1, 0), $2, $3, $4, $5, $6, $7, $8, $9 FROM dataset_inputs WHERE run_id = $1
                ON CONFLICT (run_id, dataset_id, hash, context) DO NOTHING
                """);
            insert.Parameters.Add(new NpgsqlParameter { Value = runId });
            insert.Parameters.Add(new NpgsqlParameter { Value = input.DatasetId });
            insert.Parameters.Add(new NpgsqlParameter { Value = input.Hash });
            insert.Parameters.Add(Timestamptz(input.SnapshotAt));
            insert.Parameters.Add(new NpgsqlParameter { Value = input.FeatureGroups.ToArray() });
            insert.Parameters.Add(Timestamptz(input.TimeRange?.Start));
            insert.Parameters.Add(Timestamptz(input.TimeRange?.End));
            insert.Parameters.Add(new NpgsqlParameter { Value = input.SourceUri });
            insert.Parameters.Add(new NpgsqlParameter { Value = input.Context });
            batch.BatchCommands.Add(insert);
        }

        batch.BatchCommands.Add(Audit(experimentId, runId, actor, "run.log_batch", new
        {
            metrics = request.Metrics.Count,
            @params = request.Params.Count,
            tags = request.Tags.Count,
            inputs = request.Inputs.Count,
        }));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Fills in provenance fields of a running run; a field set before keeps its value or the write is refused.</summary>
    public async Task SetProvenanceAsync(Guid runId, Provenance update, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var experimentId = await LockRunningAsync(connection, transaction, runId, "FOR UPDATE", cancellationToken);
        Provenance current;
        await using (var read = new NpgsqlCommand("SELECT provenance::text FROM runs WHERE run_id = $1", connection, transaction))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = runId });
            current = ProtoJsonParser.Parse<Provenance>((string)(await read.ExecuteScalarAsync(cancellationToken))!);
        }

        var merged = ProvenanceMerge.Merge(current, update);
        await using var batch = new NpgsqlBatch(connection, transaction);
        var write = new NpgsqlBatchCommand("UPDATE runs SET provenance = $2 WHERE run_id = $1");
        write.Parameters.Add(new NpgsqlParameter { Value = runId });
        write.Parameters.Add(new NpgsqlParameter { Value = ProtoJson.Format(merged), NpgsqlDbType = NpgsqlDbType.Jsonb });
        batch.BatchCommands.Add(write);
        batch.BatchCommands.Add(Audit(experimentId, runId, actor, "run.set_provenance", JsonDocument.Parse(ProtoJson.Format(update)).RootElement));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Ends a running run: its final record is fixed, hashed and announced in the same transaction. The record is
    /// the RFC 8785 canonical JSON of the run (params, tags, latest metrics, inputs, provenance) with the SHA-256 of
    /// its whole metric history and of its artifact list, so that the hash commits to every value and file logged.
    /// </summary>
    public async Task<string> EndRunAsync(
        Guid runId, RunStatus status, DateTimeOffset endTime, string actor, Func<Run, string, IIntegrationEvent> finished,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var experimentId = await LockRunningAsync(connection, transaction, runId, "FOR UPDATE", cancellationToken);
        await using (var end = new NpgsqlCommand("UPDATE runs SET status = $2, end_time = $3 WHERE run_id = $1", connection, transaction))
        {
            end.Parameters.Add(new NpgsqlParameter { Value = runId });
            end.Parameters.Add(new NpgsqlParameter { Value = status.ToString().ToUpperInvariant() });
            end.Parameters.Add(new NpgsqlParameter { Value = endTime.ToUnixTimeMilliseconds() });
            await end.ExecuteNonQueryAsync(cancellationToken);
        }

        var run = (await LoadRunsAsync(connection, transaction, [runId], cancellationToken)).Single();
        var historySha256 = await MetricHistorySha256Async(connection, transaction, runId, cancellationToken);
        var artifactsSha256 = await LinesSha256Async(connection, transaction, runId,
            "SELECT path, sha256, size FROM artifacts WHERE run_id = $1 ORDER BY path", cancellationToken);
        var sha256 = RunRecord.Sha256(run, historySha256, artifactsSha256);
        await using (var seal = new NpgsqlCommand("UPDATE runs SET record_sha256 = $2 WHERE run_id = $1", connection, transaction))
        {
            seal.Parameters.Add(new NpgsqlParameter { Value = runId });
            seal.Parameters.Add(new NpgsqlParameter { Value = sha256 });
            await seal.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var audit = new NpgsqlBatch(connection, transaction) { BatchCommands = { Audit(experimentId, runId, actor, "run.end", new { status = status.ToString().ToUpperInvariant(), sha256 }) } })
        {
            await audit.ExecuteNonQueryAsync(cancellationToken);
        }

        await ModelOps.ServiceDefaults.Messaging.Outbox.EnqueueAsync(transaction, finished(run, sha256), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return sha256;
    }

    /// <summary>Soft-deletes or restores a run; false when it does not exist.</summary>
    public async Task<bool> SetRunLifecycleAsync(Guid runId, bool deleted, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long experimentId;
        await using (var update = new NpgsqlCommand(
            "UPDATE runs SET lifecycle_stage = $2 WHERE run_id = $1 RETURNING experiment_id", connection, transaction))
        {
            update.Parameters.Add(new NpgsqlParameter { Value = runId });
            update.Parameters.Add(new NpgsqlParameter { Value = deleted ? "deleted" : "active" });
            if (await update.ExecuteScalarAsync(cancellationToken) is not long id)
            {
                return false;
            }

            experimentId = id;
        }

        await using (var audit = new NpgsqlBatch(connection, transaction) { BatchCommands = { Audit(experimentId, runId, actor, deleted ? "run.delete" : "run.restore", new { }) } })
        {
            await audit.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>Full runs by id, in the order given; unknown ids are left out.</summary>
    public async Task<IReadOnlyList<Run>> GetRunsAsync(IReadOnlyList<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await LoadRunsAsync(connection, null, runIds, cancellationToken);
    }

    /// <summary>The ids of the runs <paramref name="where"/> selects, ordered and paged.</summary>
    public async Task<IReadOnlyList<Guid>> SearchRunIdsAsync(
        string joins, string where, string orderBy, IReadOnlyList<NpgsqlParameter> parameters, int limit, long offset,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT r.run_id FROM runs r{joins} WHERE {where} ORDER BY {orderBy} LIMIT {limit} OFFSET {offset}");
        command.Parameters.AddRange(parameters.ToArray());
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    /// <summary>A metric's points in step order (then timestamp), in the ranges asked.</summary>
    public async Task<(List<Metric> Points, long Total)> GetMetricHistoryAsync(
        Guid runId, string key, long? minStep, long? maxStep, long? startMs, long? endMs, int cap, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT step, timestamp, value, count(*) OVER () FROM metrics
            WHERE run_id = $1 AND key = $2 AND step >= $3 AND step <= $4 AND timestamp >= $5 AND timestamp <= $6
            ORDER BY step, timestamp, value LIMIT $7
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = runId });
        command.Parameters.Add(new NpgsqlParameter { Value = key });
        command.Parameters.Add(new NpgsqlParameter { Value = minStep ?? 0L });
        command.Parameters.Add(new NpgsqlParameter { Value = maxStep ?? long.MaxValue });
        command.Parameters.Add(new NpgsqlParameter { Value = startMs ?? long.MinValue });
        command.Parameters.Add(new NpgsqlParameter { Value = endMs ?? long.MaxValue });
        command.Parameters.Add(new NpgsqlParameter { Value = cap });
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

    private static async Task<long> LockRunningAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string lockMode, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT experiment_id, status FROM runs WHERE run_id = $1 {lockMode}", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = runId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new KeyNotFoundException($"Run {RunIds.Format(runId)}");
        }

        var status = reader.GetString(1);
        if (status != "RUNNING")
        {
            throw new ConflictException($"Run {RunIds.Format(runId)} has ended ({status}): it accepts nothing new.");
        }

        return reader.GetInt64(0);
    }

    private static async Task CheckWriteOnceAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string table, string field, Guid runId,
        List<(string Key, string Value)> pairs, CancellationToken cancellationToken)
    {
        if (pairs.Count == 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand(
            $"SELECT key, value FROM {table} WHERE run_id = $1 AND key = ANY($2)", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = runId });
        command.Parameters.Add(new NpgsqlParameter { Value = pairs.Select(p => p.Key).Distinct().ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var key = reader.GetString(0);
            var stored = reader.GetString(1);
            var index = pairs.FindIndex(p => p.Key == key && p.Value != stored);
            if (index >= 0)
            {
                throw new ConflictException(
                    $"{field}[{index}] ('{key}') was logged before with another value: it is write-once.", $"{field}[{index}].value");
            }
        }
    }

    private static NpgsqlBatchCommand InsertPairs(string table, Guid runId, string[] keys, string[] values)
    {
        // A key already stored holds the same value (checked before), so a conflict changes nothing.
        var insert = new NpgsqlBatchCommand(
            $"INSERT INTO {table} (run_id, key, value) SELECT $1, * FROM unnest($2::text[], $3::text[]) ON CONFLICT (run_id, key) DO NOTHING");
        insert.Parameters.Add(new NpgsqlParameter { Value = runId });
        insert.Parameters.Add(new NpgsqlParameter { Value = keys });
        insert.Parameters.Add(new NpgsqlParameter { Value = values });
        return insert;
    }

    private static NpgsqlBatchCommand Audit(long experimentId, Guid? runId, string actor, string action, object detail)
    {
        var audit = new NpgsqlBatchCommand("INSERT INTO tracking_audit (experiment_id, run_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)");
        audit.Parameters.Add(new NpgsqlParameter { Value = experimentId });
        audit.Parameters.Add(new NpgsqlParameter { Value = (object?)runId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
        audit.Parameters.Add(new NpgsqlParameter { Value = actor });
        audit.Parameters.Add(new NpgsqlParameter { Value = action });
        audit.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(detail), NpgsqlDbType = NpgsqlDbType.Jsonb });
        return audit;
    }

    private static NpgsqlParameter Timestamptz(Timestamp? value) => new()
    {
        Value = value is null ? DBNull.Value : value.ToDateTimeOffset(),
        NpgsqlDbType = NpgsqlDbType.TimestampTz,
    };

    private static LifecycleStage Stage(string stage) => stage == "active" ? LifecycleStage.Active : LifecycleStage.Deleted;

    private static Task<string> MetricHistorySha256Async(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken) =>
        LinesSha256Async(connection, transaction, runId,
            "SELECT key, step, timestamp, value FROM metrics WHERE run_id = $1 ORDER BY key COLLATE \"C\", step, timestamp, value",
            cancellationToken);

    // One line per row, its columns joined by tabs, numbers in invariant form and doubles in the shortest round-trip
    // form ("key\tstep\ttimestamp\tvalue\n" for the metric history, "path\tsha256\tsize\n" for artifacts): anyone
    // holding the rows can recompute the hash.
    private static async Task<string> LinesSha256Async(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string sql, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = runId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var line = new StringBuilder();
        while (await reader.ReadAsync(cancellationToken))
        {
            line.Clear();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                line.Append(i > 0 ? "\t" : "").Append(reader.GetValue(i) switch
                {
                    double value => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                    IFormattable value => value.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
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
            batch.BatchCommands.Add(new NpgsqlBatchCommand(sql) { Parameters = { new NpgsqlParameter { Value = ids } } });
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var run = new Run
            {
                RunId = RunIds.Format(reader.GetGuid(0)),
                ExperimentId = reader.GetInt64(1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                RunName = reader.GetString(2),
                Status = System.Enum.Parse<RunStatus>(reader.GetString(3), ignoreCase: true),
                LifecycleStage = Stage(reader.GetString(4)),
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

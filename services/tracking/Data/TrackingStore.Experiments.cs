using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.Tracking.V1;
using Npgsql;

namespace ModelOps.Tracking.Data;

/// <summary>Experiments: creation, renaming, tags, archiving, and reading them.</summary>
public sealed partial class TrackingStore
{
    /// <summary>Creates an experiment; a taken name is <c>EXPERIMENT_ALREADY_EXISTS</c>.</summary>
    public async Task<long> CreateExperimentAsync(
        string name, IReadOnlyDictionary<string, string> tags, string actor, string artifactRoot, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        long id;
        try
        {
            await using var insert = tx.Command(
                "INSERT INTO experiments (name, artifact_location, created_by) VALUES ($1, '', $2) RETURNING experiment_id", name, actor);
            id = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw ServiceErrors.AlreadyExists("experiment", name);
        }

        await using var batch = tx.Batch(
            Sql.Statement("UPDATE experiments SET artifact_location = $2 WHERE experiment_id = $1", id, $"{artifactRoot.TrimEnd('/')}/{id}"),
            Audit(id, null, actor, "experiment.create", new { name }));
        if (tags.Count > 0)
        {
            batch.BatchCommands.Add(Sql.Statement(
                "INSERT INTO experiment_tags (experiment_id, key, value) SELECT $1, * FROM unnest($2::text[], $3::text[])",
                id, tags.Keys.ToArray(), tags.Values.ToArray()));
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return id;
    }

    /// <summary>Renames an experiment; another's name is <c>EXPERIMENT_ALREADY_EXISTS</c>.</summary>
    public Task RenameExperimentAsync(long id, string name, string actor, CancellationToken cancellationToken) =>
        UpdateExperimentAsync(id, actor, "experiment.rename", new { name },
            Sql.Statement("UPDATE experiments SET name = $2 WHERE experiment_id = $1", id, name), name, cancellationToken);

    /// <summary>Sets (or replaces) one tag of an experiment.</summary>
    public Task SetExperimentTagAsync(long id, string key, string value, string actor, CancellationToken cancellationToken) =>
        UpdateExperimentAsync(id, actor, "experiment.set_tag", new { key, value },
            Sql.Statement(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                id, key, value), null, cancellationToken);

    /// <summary>Archives an experiment (no new runs, hidden from searches) or restores it.</summary>
    public Task SetExperimentArchivedAsync(long id, bool archived, string actor, CancellationToken cancellationToken) =>
        UpdateExperimentAsync(id, actor, archived ? "experiment.archive" : "experiment.restore", new { },
            Sql.Statement("UPDATE experiments SET lifecycle_stage = $2 WHERE experiment_id = $1", id, archived ? "deleted" : "active"),
            null, cancellationToken);

    /// <summary>One experiment by id or by name.</summary>
    public async Task<Experiment?> GetExperimentAsync(long? id, string? name, CancellationToken cancellationToken)
    {
        var found = await QueryExperimentsAsync(
            id is not null ? "e.experiment_id = $1" : "e.name = $1", id is not null ? id.Value : name!, 1, 0, cancellationToken);
        return found.SingleOrDefault();
    }

    /// <summary>Experiments whose name contains <paramref name="nameContains"/> (case-insensitive), by id.</summary>
    public Task<IReadOnlyList<Experiment>> SearchExperimentsAsync(
        string nameContains, bool includeArchived, int limit, long offset, CancellationToken cancellationToken) =>
        QueryExperimentsAsync(
            "strpos(lower(e.name), lower($1)) > 0" + (includeArchived ? "" : " AND e.lifecycle_stage = 'active'"),
            nameContains, limit, offset, cancellationToken);

    private async Task UpdateExperimentAsync(
        long id, string actor, string action, object detail, NpgsqlBatchCommand change, string? newName, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        await using (var exists = tx.Command("SELECT 1 FROM experiments WHERE experiment_id = $1 FOR UPDATE", id))
        {
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                throw ServiceErrors.NotFound("experiment", id.ToString(CultureInfo.InvariantCulture));
            }
        }

        await using var batch = tx.Batch(
            change,
            Sql.Statement("UPDATE experiments SET updated_at = now() WHERE experiment_id = $1", id),
            Audit(id, null, actor, action, detail));
        try
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UniqueViolation && newName is not null)
        {
            throw ServiceErrors.AlreadyExists("experiment", newName);
        }

        await tx.CommitAsync(cancellationToken);
    }

    private async Task<IReadOnlyList<Experiment>> QueryExperimentsAsync(
        string where, object value, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            $"""
             SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.created_by, e.created_at, e.updated_at,
                    coalesce((SELECT array_agg(t.key ORDER BY t.key) FROM experiment_tags t WHERE t.experiment_id = e.experiment_id), ARRAY[]::text[]),
                    coalesce((SELECT array_agg(t.value ORDER BY t.key) FROM experiment_tags t WHERE t.experiment_id = e.experiment_id), ARRAY[]::text[])
             FROM experiments e WHERE {where} ORDER BY e.experiment_id LIMIT $2 OFFSET $3
             """, value, limit, offset);
        var experiments = new List<Experiment>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var experiment = new Experiment
            {
                ExperimentId = reader.GetInt64(0).ToString(CultureInfo.InvariantCulture),
                Name = reader.GetString(1),
                ArtifactLocation = reader.GetString(2),
                LifecycleStage = Lifecycle(reader.GetString(3)),
                CreatedBy = reader.GetString(4),
                CreatedAt = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(5)),
                UpdatedAt = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(6)),
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
}

using ModelOps.Contracts;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.V1;
using Npgsql;

namespace ModelOps.Tracking.Data;

/// <summary>The artifact records of runs.</summary>
public sealed partial class TrackingStore
{
    private const string ArtifactColumns = "run_id, path, sha256, size, content_type, created_by, created_at";

    /// <summary>
    /// Refuses early what <see cref="RecordArtifactAsync"/> would refuse at the end, before any byte is stored: an
    /// unknown or ended run, and a path already holding other content (when the content is declared).
    /// </summary>
    public async Task CheckArtifactTargetAsync(Guid runId, string path, string? sha256, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await LockRunningAsync(connection, transaction, runId, "", cancellationToken);
        var existing = await ReadArtifactsAsync(connection, transaction, "run_id = $1 AND path = $2", [runId, path], 1, cancellationToken);
        if (existing.Count > 0 && sha256 is not null && existing[0].Sha256 != sha256)
        {
            throw PathTaken(path, existing[0]);
        }
    }

    /// <summary>
    /// Records an artifact whose bytes are stored, and announces it, in one transaction. A path is write-once: the same
    /// content again is accepted (a retried upload) and changes nothing; other content is a <see cref="ConflictException"/>.
    /// </summary>
    public async Task<Artifact> RecordArtifactAsync(
        Artifact artifact, Func<string, IIntegrationEvent> logged, CancellationToken cancellationToken)
    {
        var runId = Guid.Parse(artifact.RunId);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var experimentId = await LockRunningAsync(connection, transaction, runId, "FOR SHARE", cancellationToken);
        var recorded = artifact.Clone();
        await using (var insert = new NpgsqlCommand(
            """
            INSERT INTO artifacts (run_id, path, sha256, size, content_type, created_by) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (run_id, path) DO NOTHING RETURNING created_at
            """, connection, transaction))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = runId });
            insert.Parameters.Add(new NpgsqlParameter { Value = artifact.Path });
            insert.Parameters.Add(new NpgsqlParameter { Value = artifact.Sha256 });
            insert.Parameters.Add(new NpgsqlParameter { Value = artifact.Size });
            insert.Parameters.Add(new NpgsqlParameter { Value = artifact.ContentType });
            insert.Parameters.Add(new NpgsqlParameter { Value = artifact.CreatedBy });
            if (await insert.ExecuteScalarAsync(cancellationToken) is DateTime createdAt)
            {
                recorded.CreatedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.SpecifyKind(createdAt, DateTimeKind.Utc));
            }
            else
            {
                var stored = (await ReadArtifactsAsync(connection, transaction, "run_id = $1 AND path = $2", [runId, artifact.Path], 1, cancellationToken))[0];
                return stored.Sha256 == artifact.Sha256 ? stored : throw PathTaken(artifact.Path, stored);
            }
        }

        await using (var audit = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands = { Audit(experimentId, runId, artifact.CreatedBy, "run.log_artifact", new { artifact.Path, artifact.Sha256, artifact.Size }) },
        })
        {
            await audit.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.EnqueueAsync(logged(experimentId.ToString(System.Globalization.CultureInfo.InvariantCulture)), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return recorded;
    }

    /// <summary>One artifact, or null.</summary>
    public async Task<Artifact?> GetArtifactAsync(Guid runId, string path, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await ReadArtifactsAsync(connection, null, "run_id = $1 AND path = $2", [runId, path], 1, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Artifacts of a run whose path starts with <paramref name="prefix"/> and sorts after <paramref name="after"/>, by path.</summary>
    public async Task<IReadOnlyList<Artifact>> ListArtifactsAsync(
        Guid runId, string prefix, string after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ReadArtifactsAsync(connection, null, "run_id = $1 AND starts_with(path, $2) AND path > $3",
            [runId, prefix, after], limit, cancellationToken);
    }

    /// <summary>Whether the run exists.</summary>
    public async Task<bool> RunExistsAsync(Guid runId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT 1 FROM runs WHERE run_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = runId });
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    private static ConflictException PathTaken(string path, Artifact stored) =>
        new($"'{path}' was logged before with other content (sha256 {stored.Sha256}): an artifact path is write-once.", "header.path");

    private static async Task<List<Artifact>> ReadArtifactsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string where, object[] values, int limit, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT {ArtifactColumns} FROM artifacts WHERE {where} ORDER BY path LIMIT {limit}", connection, transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var artifacts = new List<Artifact>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            artifacts.Add(new Artifact
            {
                RunId = RunIds.Format(reader.GetGuid(0)),
                Path = reader.GetString(1),
                Sha256 = reader.GetString(2),
                Size = reader.GetInt64(3),
                ContentType = reader.GetString(4),
                CreatedBy = reader.GetString(5),
                CreatedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(6)),
            });
        }

        return artifacts;
    }
}

using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.V1;

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
        await using var tx = await BeginAsync(cancellationToken);
        await LockRunningAsync(tx, runId, "", cancellationToken);
        var existing = await ReadArtifactsAsync(tx, "run_id = $1 AND path = $2", [runId, path], 1, cancellationToken);
        if (existing.Count > 0 && sha256 is not null && existing[0].Sha256 != sha256)
        {
            throw PathTaken(path, existing[0]);
        }
    }

    /// <summary>
    /// Records, in <paramref name="tx"/>, an artifact whose bytes are stored. A path is write-once: the same content
    /// again is accepted (a retried upload) and changes nothing (<c>Created</c> is false); other content is refused.
    /// </summary>
    public async Task<(Artifact Artifact, string ExperimentId, bool Created)> RecordArtifactAsync(
        UnitOfWork tx, Artifact artifact, CancellationToken cancellationToken)
    {
        var runId = Guid.Parse(artifact.RunId);
        var experimentId = await LockRunningAsync(tx, runId, "FOR SHARE", cancellationToken);
        var recorded = artifact.Clone();
        await using (var insert = tx.Command(
            """
            INSERT INTO artifacts (run_id, path, sha256, size, content_type, created_by) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (run_id, path) DO NOTHING RETURNING created_at
            """, runId, artifact.Path, artifact.Sha256, artifact.Size, artifact.ContentType, artifact.CreatedBy))
        {
            if (await insert.ExecuteScalarAsync(cancellationToken) is not DateTime createdAt)
            {
                var stored = (await ReadArtifactsAsync(tx, "run_id = $1 AND path = $2", [runId, artifact.Path], 1, cancellationToken))[0];
                return stored.Sha256 == artifact.Sha256
                    ? (stored, experimentId.ToString(CultureInfo.InvariantCulture), false)
                    : throw PathTaken(artifact.Path, stored);
            }

            recorded.CreatedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(createdAt, DateTimeKind.Utc));
        }

        await using var audit = tx.Batch(
            Audit(experimentId, runId, artifact.CreatedBy, "run.log_artifact", new { artifact.Path, artifact.Sha256, artifact.Size }));
        await audit.ExecuteNonQueryAsync(cancellationToken);
        return (recorded, experimentId.ToString(CultureInfo.InvariantCulture), true);
    }

    /// <summary>One artifact, or null.</summary>
    public async Task<Artifact?> GetArtifactAsync(Guid runId, string path, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        return (await ReadArtifactsAsync(tx, "run_id = $1 AND path = $2", [runId, path], 1, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Artifacts of a run whose path starts with <paramref name="prefix"/> and sorts after <paramref name="after"/>, by path.</summary>
    public async Task<IReadOnlyList<Artifact>> ListArtifactsAsync(
        Guid runId, string prefix, string after, int limit, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        return await ReadArtifactsAsync(tx, "run_id = $1 AND starts_with(path, $2) AND path > $3", [runId, prefix, after], limit, cancellationToken);
    }

    private static ServiceException PathTaken(string path, Artifact stored) =>
        new FieldViolations()
            .Add("header.path", $"{TextRules.Echo(path)} was logged before with other content (sha256 {stored.Sha256}): an artifact path is write-once")
            .ToException("Nothing was recorded.", "WRITE_ONCE");

    private static async Task<List<Artifact>> ReadArtifactsAsync(
        UnitOfWork tx, string where, object[] values, int limit, CancellationToken cancellationToken)
    {
        await using var command = tx.Command($"SELECT {ArtifactColumns} FROM artifacts WHERE {where} ORDER BY path LIMIT {limit}", values);
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
                CreatedAt = Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(6)),
            });
        }

        return artifacts;
    }
}

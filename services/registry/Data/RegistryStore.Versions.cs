using System.Text.Json;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using NpgsqlTypes;

namespace ModelOps.Registry.Data;

/// <summary>Model versions, and the integrity sweep's verdicts on their artifacts.</summary>
public sealed partial class RegistryStore
{
    private const string VersionColumns =
        """
        v.model, v.version, v.run_id, v.run_author, v.run_record_sha256, v.artifact_path, v.artifact_uri, v.artifact_sha256,
        v.artifact_size, v.description, v.stage, v.provenance_present, v.metrics::text, v.artifacts::text, v.created_by, v.created_at,
        coalesce((SELECT array_agg(substr(a.target, 7) ORDER BY a.target) FROM assignments a
                  WHERE a.model = v.model AND a.version = v.version AND a.valid_to IS NULL AND a.target LIKE 'alias:%'), ARRAY[]::text[]),
        v.integrity_failed_at, v.integrity_actual_sha256
        """;

    /// <summary>
    /// Registers the next version of the snapshot's model in <paramref name="tx"/>; the number is taken under the model's
    /// row lock, so concurrent registrations get consecutive numbers. With a <paramref name="clientRequestId"/> the
    /// registration is idempotent: a repeat finds the version it registered, and <c>Created</c> is false.
    /// </summary>
    public static async Task<(int Version, bool Created)> CreateVersionAsync(
        UnitOfWork tx, VersionSnapshot snapshot, string runRecordSha256, string provenanceJson, string description, string actor,
        string clientRequestId, CancellationToken cancellationToken)
    {
        if (clientRequestId.Length > 0)
        {
            await using var earlier = tx.Command(
                "SELECT model, version FROM model_versions WHERE created_by = $1 AND client_request_id = $2", actor, clientRequestId);
            await using var reader = await earlier.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                return reader.GetString(0) == snapshot.Model
                    ? (reader.GetInt32(1), false)
                    : throw ServiceErrors.InvalidArgument("client_request_id", "was used before to register a version of another model");
            }
        }

        await using var next = tx.Command(
            "UPDATE registered_models SET latest_version = latest_version + 1, updated_at = now() WHERE name = $1 RETURNING latest_version",
            snapshot.Model);
        if (await next.ExecuteScalarAsync(cancellationToken) is not int version)
        {
            throw ServiceErrors.NotFound("registered_model", snapshot.Model);
        }

        await using var insert = tx.Command(
            """
            INSERT INTO model_versions (model, version, run_id, run_author, run_record_sha256, artifact_path, artifact_uri, artifact_sha256,
                                        artifact_size, description, provenance, provenance_present, metrics, artifacts, created_by, client_request_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            """,
            snapshot.Model, version, snapshot.RunId, snapshot.RunAuthor, runRecordSha256, snapshot.ArtifactPath, snapshot.ArtifactUri,
            snapshot.ArtifactSha256, snapshot.ArtifactSize, description, Sql.Jsonb(provenanceJson), snapshot.ProvenancePresent.ToArray(),
            Sql.Jsonb(JsonSerializer.Serialize(snapshot.Metrics)), Sql.Jsonb(JsonSerializer.Serialize(snapshot.Artifacts)), actor,
            Sql.Typed(clientRequestId.Length > 0 ? clientRequestId : null, NpgsqlDbType.Text));
        await insert.ExecuteNonQueryAsync(cancellationToken);
        return (version, true);
    }

    /// <summary>One version and what its gates look at, or null.</summary>
    public async Task<StoredVersion?> GetVersionAsync(string model, int version, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        return (await QueryVersionsAsync(tx, "v.model = $1 AND v.version = $2", [model, version], 1, 0, cancellationToken)).SingleOrDefault();
    }

    /// <summary>A model's versions, newest first.</summary>
    public async Task<List<ModelVersion>> ListVersionsAsync(string model, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        return (await QueryVersionsAsync(tx, "v.model = $1", [model], limit, offset, cancellationToken)).Select(v => v.Version).ToList();
    }

    /// <summary>Every version that holds a stage or an alias now, i.e. that <c>GetDeployable</c> could serve.</summary>
    public async Task<List<StoredVersion>> ServedVersionsAsync(CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        return await QueryVersionsAsync(tx,
            "EXISTS (SELECT 1 FROM assignments a WHERE a.model = v.model AND a.version = v.version AND a.valid_to IS NULL)", [], 100_000, 0,
            cancellationToken);
    }

    /// <summary>
    /// Records what the integrity sweep found of a version's artifact: intact (clears an earlier failure), or altered or
    /// gone (<paramref name="actualSha256"/> empty). True when the verdict changed.
    /// </summary>
    public static async Task<bool> SetIntegrityAsync(
        UnitOfWork tx, string model, int version, bool intact, string actualSha256, CancellationToken cancellationToken)
    {
        await using var update = intact
            ? tx.Command(
                "UPDATE model_versions SET integrity_failed_at = NULL, integrity_actual_sha256 = NULL WHERE model = $1 AND version = $2 AND integrity_failed_at IS NOT NULL",
                model, version)
            : tx.Command(
                """
                UPDATE model_versions SET integrity_failed_at = clock_timestamp(), integrity_actual_sha256 = $3
                WHERE model = $1 AND version = $2 AND (integrity_failed_at IS NULL OR integrity_actual_sha256 IS DISTINCT FROM $3)
                """, model, version, actualSha256);
        return await update.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    private static async Task<List<StoredVersion>> QueryVersionsAsync(
        UnitOfWork tx, string where, object[] values, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var command = tx.Command(
            $"SELECT {VersionColumns} FROM model_versions v WHERE {where} ORDER BY v.version DESC LIMIT {limit} OFFSET {offset}", values);
        var versions = new List<StoredVersion>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var stage = Targets.ParseStage(reader.GetString(10));
            var present = reader.GetFieldValue<string[]>(11);
            var version = new ModelVersion
            {
                Model = reader.GetString(0),
                Version = reader.GetInt32(1),
                RunId = reader.GetString(2),
                RunAuthor = reader.GetString(3),
                RunRecordSha256 = reader.GetString(4),
                ArtifactPath = reader.GetString(5),
                ArtifactUri = reader.GetString(6),
                ArtifactSha256 = reader.GetString(7),
                ArtifactSize = reader.GetInt64(8),
                Description = reader.GetString(9),
                Stage = stage,
                ProvenancePresent = { present },
                CreatedBy = reader.GetString(14),
                CreatedAt = Time(reader, 15),
                Aliases = { reader.GetFieldValue<string[]>(16) },
            };
            var snapshot = new VersionSnapshot(
                version.Model, version.Version, version.RunId, version.RunAuthor, version.ArtifactPath, version.ArtifactUri,
                version.ArtifactSha256, version.ArtifactSize, stage, present,
                JsonSerializer.Deserialize<Dictionary<string, double>>(reader.GetString(12))!,
                JsonSerializer.Deserialize<List<ArtifactRef>>(reader.GetString(13))!,
                version.RunRecordSha256);
            versions.Add(new StoredVersion(version, snapshot, reader.IsDBNull(17) ? null : reader.GetFieldValue<DateTimeOffset>(17),
                reader.IsDBNull(18) ? null : reader.GetString(18)));
        }

        return versions;
    }
}

/// <summary>A version as stored: what clients see, what its gates look at, and the integrity sweep's last failure, if any.</summary>
/// <param name="Version">The version as the API serves it.</param>
/// <param name="Snapshot">What its gates look at.</param>
/// <param name="IntegrityFailedAt">When its artifact was last found altered or gone; null while intact.</param>
/// <param name="IntegrityActualSha256">What the stored bytes hashed to then; empty when they were gone.</param>
public sealed record StoredVersion(ModelVersion Version, VersionSnapshot Snapshot, DateTimeOffset? IntegrityFailedAt, string? IntegrityActualSha256);

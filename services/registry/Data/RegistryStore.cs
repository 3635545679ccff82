using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Contracts;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Registry.Data;

/// <summary>The registry's tables. Every change commits together with the events that describe it (outbox).</summary>
public sealed partial class RegistryStore(NpgsqlDataSource dataSource)
{
    internal static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    internal static readonly JsonParser ProtoJsonParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    // ------------------------------------------------------------------ models

    /// <summary>Creates a model; a taken name is ALREADY_EXISTS.</summary>
    public async Task CreateModelAsync(RegisteredModel model, string actor, IIntegrationEvent created, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var insert = Command(connection, transaction,
            "INSERT INTO registered_models (name, description, owner, tags, risk_tier, created_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            model.Name, model.Description, model.Owner, Jsonb(JsonSerializer.Serialize(model.Tags)), RiskTiers.Name(model.RiskTier), actor);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            GrpcErrors.AlreadyExists($"A registered model named '{model.Name}' exists already.");
        }

        await transaction.EnqueueAsync(created, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>One model with what its stages and aliases hold now, or null.</summary>
    public async Task<RegisteredModel?> GetModelAsync(string name, CancellationToken cancellationToken)
    {
        var models = await QueryModelsAsync("name = $1", [name], 1, 0, cancellationToken);
        if (models.Count == 0)
        {
            return null;
        }

        var model = models[0];
        await using var current = dataSource.CreateCommand(
            $"SELECT {AssignmentColumns} FROM assignments a WHERE a.model = $1 AND a.valid_to IS NULL ORDER BY a.target, a.valid_from");
        current.Parameters.Add(new NpgsqlParameter { Value = name });
        await using var reader = await current.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            model.Current.Add(ReadAssignment(reader));
        }

        return model;
    }

    /// <summary>Models whose name contains <paramref name="nameContains"/>, by name.</summary>
    public Task<List<RegisteredModel>> ListModelsAsync(string nameContains, int limit, long offset, CancellationToken cancellationToken) =>
        QueryModelsAsync("strpos(lower(name), lower($1)) > 0", [nameContains], limit, offset, cancellationToken);

    /// <summary>Updates a model's descriptive fields; NOT_FOUND when it does not exist.</summary>
    public async Task UpdateModelAsync(UpdateRegisteredModelRequest request, CancellationToken cancellationToken)
    {
        await using var update = dataSource.CreateCommand(
            """
            UPDATE registered_models SET
                description = coalesce($2, description),
                owner = coalesce($3, owner),
                tags = coalesce($4, tags),
                risk_tier = coalesce($5, risk_tier),
                updated_at = now()
            WHERE name = $1
            """);
        update.Parameters.Add(new NpgsqlParameter { Value = request.Name });
        update.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = request.HasDescription ? request.Description : DBNull.Value });
        update.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = request.HasOwner ? request.Owner : DBNull.Value });
        update.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            Value = request.UpdateTags ? JsonSerializer.Serialize(request.Tags) : DBNull.Value,
        });
        update.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Text,
            Value = request.RiskTier != RiskTier.Unspecified ? RiskTiers.Name(request.RiskTier) : DBNull.Value,
        });
        if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            GrpcErrors.NotFound($"Registered model '{request.Name}'");
        }
    }

    private async Task<List<RegisteredModel>> QueryModelsAsync(string where, object[] values, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
             SELECT name, description, owner, tags::text, risk_tier, latest_version, policy_version, created_by, created_at, updated_at
             FROM registered_models WHERE {where} ORDER BY name LIMIT {limit} OFFSET {offset}
             """);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var models = new List<RegisteredModel>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            models.Add(new RegisteredModel
            {
                Name = reader.GetString(0),
                Description = reader.GetString(1),
                Owner = reader.GetString(2),
                Tags = { JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(3))! },
                RiskTier = RiskTiers.Parse(reader.GetString(4)),
                LatestVersion = reader.GetInt32(5),
                PolicyVersion = reader.GetInt32(6),
                CreatedBy = reader.GetString(7),
                CreatedAt = Timestamp.FromDateTime(reader.GetDateTime(8)),
                UpdatedAt = Timestamp.FromDateTime(reader.GetDateTime(9)),
            });
        }

        return models;
    }

    // ------------------------------------------------------------------ versions

    /// <summary>
    /// Registers the next version of the snapshot's model; the number is taken under the model's row lock, so
    /// concurrent registrations get consecutive numbers.
    /// </summary>
    public async Task<int> CreateVersionAsync(
        VersionSnapshot snapshot, string runRecordSha256, string provenanceJson, string description, string actor,
        Func<int, IIntegrationEvent> registered, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var next = Command(connection, transaction,
            "UPDATE registered_models SET latest_version = latest_version + 1, updated_at = now() WHERE name = $1 RETURNING latest_version",
            snapshot.Model);
        if (await next.ExecuteScalarAsync(cancellationToken) is not int version)
        {
            GrpcErrors.NotFound($"Registered model '{snapshot.Model}'");
            return 0;
        }

        await using var insert = Command(connection, transaction,
            """
            INSERT INTO model_versions (model, version, run_id, run_author, run_record_sha256, artifact_path, artifact_uri, artifact_sha256,
                                        artifact_size, description, provenance, provenance_present, metrics, artifacts, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            """,
            snapshot.Model, version, snapshot.RunId, snapshot.RunAuthor, runRecordSha256, snapshot.ArtifactPath, snapshot.ArtifactUri,
            snapshot.ArtifactSha256, snapshot.ArtifactSize, description, Jsonb(provenanceJson), snapshot.ProvenancePresent.ToArray(),
            Jsonb(JsonSerializer.Serialize(snapshot.Metrics)), Jsonb(JsonSerializer.Serialize(snapshot.Artifacts)), actor);
        await insert.ExecuteNonQueryAsync(cancellationToken);
        await transaction.EnqueueAsync(registered(version), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return version;
    }

    /// <summary>One version and what its gates look at, or null.</summary>
    public async Task<(ModelVersion Version, VersionSnapshot Snapshot)?> GetVersionAsync(string model, int version, CancellationToken cancellationToken)
    {
        var found = await QueryVersionsAsync("v.model = $1 AND v.version = $2", [model, version], 1, 0, cancellationToken);
        return found.Count == 0 ? null : found[0];
    }

    /// <summary>A model's versions, newest first.</summary>
    public async Task<List<ModelVersion>> ListVersionsAsync(string model, int limit, long offset, CancellationToken cancellationToken) =>
        (await QueryVersionsAsync("v.model = $1", [model], limit, offset, cancellationToken)).Select(v => v.Version).ToList();

    private async Task<List<(ModelVersion Version, VersionSnapshot Snapshot)>> QueryVersionsAsync(
        string where, object[] values, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
             SELECT v.model, v.version, v.run_id, v.run_author, v.run_record_sha256, v.artifact_path, v.artifact_uri, v.artifact_sha256,
                    v.artifact_size, v.description, v.stage, v.provenance_present, v.metrics::text, v.artifacts::text, v.created_by, v.created_at,
                    coalesce((SELECT array_agg(substr(a.target, 7) ORDER BY a.target) FROM assignments a
                              WHERE a.model = v.model AND a.version = v.version AND a.valid_to IS NULL AND a.target LIKE 'alias:%'), ARRAY[]::text[])
             FROM model_versions v WHERE {where} ORDER BY v.version DESC LIMIT {limit} OFFSET {offset}
             """);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var versions = new List<(ModelVersion, VersionSnapshot)>();
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
                CreatedAt = Timestamp.FromDateTime(reader.GetDateTime(15)),
                Aliases = { reader.GetFieldValue<string[]>(16) },
            };
            var snapshot = new VersionSnapshot(
                version.Model, version.Version, version.RunId, version.RunAuthor, version.ArtifactPath, version.ArtifactUri,
                version.ArtifactSha256, version.ArtifactSize, stage, present,
                JsonSerializer.Deserialize<Dictionary<string, double>>(reader.GetString(12))!,
                JsonSerializer.Deserialize<List<ArtifactRef>>(reader.GetString(13))!);
            versions.Add((version, snapshot));
        }

        return versions;
    }

    // ------------------------------------------------------------------ policies

    /// <summary>Stores the next version of a model's policy; returns its number.</summary>
    public async Task<int> SetPolicyAsync(string model, Policy policy, string actor, Func<int, IIntegrationEvent> changed, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var next = Command(connection, transaction,
            "UPDATE registered_models SET policy_version = policy_version + 1, updated_at = now() WHERE name = $1 RETURNING policy_version", model);
        if (await next.ExecuteScalarAsync(cancellationToken) is not int version)
        {
            GrpcErrors.NotFound($"Registered model '{model}'");
            return 0;
        }

        policy.Model = model;
        policy.Version = version;
        await using var insert = Command(connection, transaction,
            "INSERT INTO policies (model, version, policy, reason, created_by) VALUES ($1, $2, $3, $4, $5)",
            model, version, Jsonb(ProtoJson.Format(policy)), policy.Reason, actor);
        await insert.ExecuteNonQueryAsync(cancellationToken);
        await transaction.EnqueueAsync(changed(version), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return version;
    }

    /// <summary>A stored policy version (0: the one in effect); null when the model has none stored.</summary>
    public async Task<Policy?> GetPolicyAsync(string model, int version, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(version > 0
            ? "SELECT policy::text, created_by, created_at FROM policies WHERE model = $1 AND version = $2"
            : "SELECT policy::text, created_by, created_at FROM policies WHERE model = $1 ORDER BY version DESC LIMIT 1");
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        if (version > 0)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = version });
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var policy = ProtoJsonParser.Parse<Policy>(reader.GetString(0));
        policy.CreatedBy = reader.GetString(1);
        policy.CreatedAt = Timestamp.FromDateTime(reader.GetDateTime(2));
        return policy;
    }

    // ------------------------------------------------------------------ helpers

    internal static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, params object?[] values)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value ?? DBNull.Value });
        }

        return command;
    }

    internal static NpgsqlParameter Jsonb(string json) => new() { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = json };
}

using System.Text.Json;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Registry.Data;

/// <summary>Registered models.</summary>
public sealed partial class RegistryStore
{
    /// <summary>Creates a model in <paramref name="tx"/>; a taken name is <c>REGISTERED_MODEL_ALREADY_EXISTS</c>.</summary>
    public static async Task CreateModelAsync(UnitOfWork tx, RegisteredModel model, string actor, CancellationToken cancellationToken)
    {
        await using var insert = tx.Command(
            "INSERT INTO registered_models (name, description, owner, tags, risk_tier, created_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            model.Name, model.Description, model.Owner, Sql.Jsonb(JsonSerializer.Serialize(model.Tags)), RiskTiers.Name(model.RiskTier), actor);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            throw ServiceErrors.AlreadyExists("registered_model", model.Name);
        }
    }

    /// <summary>One model with what its stages and aliases hold now, or null.</summary>
    public async Task<RegisteredModel?> GetModelAsync(string name, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        var models = await QueryModelsAsync(tx, "name = $1", name, 1, 0, cancellationToken);
        if (models.Count == 0)
        {
            return null;
        }

        var model = models[0];
        await using var current = tx.Command(
            $"SELECT {AssignmentColumns} FROM assignments a WHERE a.model = $1 AND a.valid_to IS NULL ORDER BY a.target, a.valid_from", name);
        await using var reader = await current.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            model.Current.Add(ReadAssignment(reader));
        }

        return model;
    }

    /// <summary>Models whose name contains <paramref name="nameContains"/>, by name.</summary>
    public async Task<List<RegisteredModel>> ListModelsAsync(string nameContains, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        return await QueryModelsAsync(tx, "strpos(lower(name), lower($1)) > 0", nameContains, limit, offset, cancellationToken);
    }

    /// <summary>
    /// The model's row, locked in <paramref name="tx"/>: every change of a model, and every stage change of its versions,
    /// is serialized by it. <c>REGISTERED_MODEL_NOT_FOUND</c> when there is none.
    /// </summary>
    public static async Task<RegisteredModel> LockModelAsync(UnitOfWork tx, string name, CancellationToken cancellationToken) =>
        (await QueryModelsAsync(tx, "name = $1", name, 1, 0, cancellationToken, forUpdate: true)).SingleOrDefault()
        ?? throw ServiceErrors.NotFound("registered_model", name);

    /// <summary>Writes a model's descriptive and governing fields, as <paramref name="model"/> holds them now.</summary>
    public static async Task UpdateModelAsync(UnitOfWork tx, RegisteredModel model, CancellationToken cancellationToken)
    {
        await using var update = tx.Command(
            "UPDATE registered_models SET description = $2, owner = $3, tags = $4, risk_tier = $5, updated_at = now() WHERE name = $1",
            model.Name, model.Description, model.Owner, Sql.Jsonb(JsonSerializer.Serialize(model.Tags)), RiskTiers.Name(model.RiskTier));
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<List<RegisteredModel>> QueryModelsAsync(
        UnitOfWork tx, string where, object value, int limit, long offset, CancellationToken cancellationToken, bool forUpdate = false)
    {
        await using var command = tx.Command(
            $"""
             SELECT name, description, owner, tags::text, risk_tier, latest_version, policy_version, created_by, created_at, updated_at
             FROM registered_models WHERE {where} ORDER BY name LIMIT $2 OFFSET $3{(forUpdate ? " FOR UPDATE" : "")}
             """, value, limit, offset);
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
                CreatedAt = Time(reader, 8),
                UpdatedAt = Time(reader, 9),
            });
        }

        return models;
    }
}

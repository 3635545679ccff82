using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Registry.Data;

/// <summary>Versioned promotion policies.</summary>
public sealed partial class RegistryStore
{
    /// <summary>Stores the next version of a model's policy in <paramref name="tx"/>; returns its number.</summary>
    public static async Task<int> SetPolicyAsync(UnitOfWork tx, string model, Policy policy, string actor, CancellationToken cancellationToken)
    {
        await using var next = tx.Command(
            "UPDATE registered_models SET policy_version = policy_version + 1, updated_at = now() WHERE name = $1 RETURNING policy_version", model);
        if (await next.ExecuteScalarAsync(cancellationToken) is not int version)
        {
            throw ServiceErrors.NotFound("registered_model", model);
        }

        policy.Model = model;
        policy.Version = version;
        await using var insert = tx.Command(
            "INSERT INTO policies (model, version, policy, reason, created_by) VALUES ($1, $2, $3, $4, $5)",
            model, version, Sql.Jsonb(ProtoJson.Format(policy)), policy.Reason, actor);
        await insert.ExecuteNonQueryAsync(cancellationToken);
        return version;
    }

    /// <summary>A stored policy version (0: the newest); null when the model has none stored.</summary>
    public async Task<Policy?> GetPolicyAsync(string model, int version, CancellationToken cancellationToken)
    {
        await using var command = version > 0
            ? dataSource.Command("SELECT policy::text, created_by, created_at FROM policies WHERE model = $1 AND version = $2", model, version)
            : dataSource.Command("SELECT policy::text, created_by, created_at FROM policies WHERE model = $1 ORDER BY version DESC LIMIT 1", model);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var policy = ProtoJsonParser.Parse<Policy>(reader.GetString(0));
        policy.CreatedBy = reader.GetString(1);
        policy.CreatedAt = Time(reader, 2);
        return policy;
    }
}

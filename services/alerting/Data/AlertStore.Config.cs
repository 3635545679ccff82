using ModelOps.Alerting.Domain;
using ModelOps.Contracts.Alerting.V1;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Alerting.Data;

public sealed partial class AlertStore
{
    /// <summary>The latest configuration version, or null on a new database.</summary>
    public async Task<ActiveConfig?> LatestConfigAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command("SELECT version, yaml FROM config_versions ORDER BY version DESC LIMIT 1");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ActiveConfig.Parse(reader.GetInt32(0), reader.GetString(1)) : null;
    }

    /// <summary>Who stored <paramref name="version"/>, why and when.</summary>
    public async Task<(string Author, string Comment, DateTimeOffset CreatedAt)> ConfigVersionInfoAsync(int version, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command("SELECT author, comment, created_at FROM config_versions WHERE version = $1", version);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2))
            : throw new InvalidOperationException($"Configuration version {version} is not stored.");
    }

    /// <summary>The number of the latest version (0 when there is none): a cheap check for a newer one.</summary>
    public async Task<int> LatestVersionAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command("SELECT coalesce(max(version), 0) FROM config_versions");
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Stores <paramref name="yaml"/> as a new version unless it is the latest already, re-routes every alert still in
    /// a group under it, and announces the change; returns the version in force. The text is validated first:
    /// <see cref="ConfigException"/> leaves nothing written.
    /// </summary>
    public async Task<(ActiveConfig Config, bool Changed)> SaveConfigAsync(string yaml, string author, string comment, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ConfigLoader.Load(yaml);
        var hash = ActiveConfig.Hash(yaml);
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        // One writer of versions at a time; readers are not blocked.
        await using (var serialize = work.Command("LOCK TABLE config_versions IN SHARE ROW EXCLUSIVE MODE"))
        {
            await serialize.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var latest = work.Command("SELECT version, yaml, sha256 FROM config_versions ORDER BY version DESC LIMIT 1"))
        await using (var reader = await latest.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken) && reader.GetString(2) == hash)
            {
                return (ActiveConfig.Parse(reader.GetInt32(0), reader.GetString(1)), false);
            }
        }

        int version;
        await using (var insert = work.Command(
                         "INSERT INTO config_versions (version, yaml, sha256, author, comment, created_at) SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4, $5 FROM config_versions RETURNING version",
                         yaml, hash, author, comment, now))
        {
            version = (int)(await insert.ExecuteScalarAsync(cancellationToken))!;
        }

        var config = ActiveConfig.Parse(version, yaml);
        await RerouteAsync(work.Transaction, config, now, cancellationToken);
        work.Publish(new AlertingConfigChanged { Actor = author, Version = version, Sha256 = hash, Comment = comment });
        await work.CommitAsync(cancellationToken);
        return (config, true);
    }

    // Groups are the new tree's: every alert still in a group joins the groups the new routes give it (flushed after
    // their group_wait, as Alertmanager's groups are after a reload); groups of routes that are gone are dropped. The
    // notification log stays, so an unchanged group is not notified again.
    private async Task RerouteAsync(NpgsqlTransaction transaction, ActiveConfig config, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var connection = transaction.Connection!;
        await using (var lockGroups = connection.Command(transaction, "SELECT count(*) FROM (SELECT 1 FROM alert_groups ORDER BY group_id FOR UPDATE) AS locked"))
        {
            await lockGroups.ExecuteScalarAsync(cancellationToken);
        }

        List<Alert> alerts = [];
        await using (var command = connection.Command(transaction,
                         """
                         SELECT fingerprint, labels, annotations, starts_at, ends_at, timeout, generator_url, updated_at FROM alerts a
                         WHERE EXISTS (SELECT 1 FROM group_alerts ga WHERE ga.fingerprint = a.fingerprint) ORDER BY fingerprint FOR UPDATE
                         """))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                alerts.Add(ReadAlert(reader));
            }
        }

        await using (var clear = connection.Command(transaction, "DELETE FROM alert_groups"))
        {
            await clear.ExecuteNonQueryAsync(cancellationToken);
        }

        var memberships = Memberships(alerts, config);
        await UpsertGroupsAsync(transaction, memberships, config, now, cancellationToken);
        await JoinGroupsAsync(transaction, memberships, cancellationToken);
    }
}

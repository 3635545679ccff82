using System.Security.Cryptography;
using Google.Protobuf;
using ModelOps.Contracts;
using ModelOps.Contracts.Explainability.V1;
using ModelOps.Explainability.V1;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Explainability.Data;

/// <summary>The explainability service's tables: importance reports and feature dictionaries, each stored with the event that records it.</summary>
public sealed class ExplainabilityStore(NpgsqlDataSource dataSource)
{
    /// <summary>Stores a report and publishes <paramref name="recorded"/> in the same transaction.</summary>
    public async Task SaveImportanceAsync(ImportanceReport report, IIntegrationEvent recorded, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var insert = work.Command(
                         "INSERT INTO importance_reports (id, model, version, model_sha256, run_id, dataset_sha256, created_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                         Guid.Parse(report.Id), report.Model.Model, report.Model.Version, report.ModelSha256, report.Dataset.RunId.ToLowerInvariant(),
                         report.DatasetSha256, report.CreatedAt.ToDateTimeOffset(), report.ToByteArray()))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        work.Publish(recorded);
        await work.CommitAsync(cancellationToken);
    }

    /// <summary>The report, or null.</summary>
    public async Task<ImportanceReport?> GetImportanceAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command("SELECT body FROM importance_reports WHERE id = $1", id);
        return await select.ExecuteScalarAsync(cancellationToken) is byte[] body ? ImportanceReport.Parser.ParseFrom(body) : null;
    }

    /// <summary>A model version's reports, newest first.</summary>
    public async Task<IReadOnlyList<ImportanceReport>> ListImportanceAsync(string model, int version, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            "SELECT body FROM importance_reports WHERE model = $1 AND version = $2 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4", model, version, limit, offset);
        return await ReportsAsync(select, cancellationToken);
    }

    /// <summary>
    /// The newest pair of reports of two versions of a model on the same dataset (the candidate's newest first), or null;
    /// when <paramref name="datasetSha256"/> is given, on that dataset only.
    /// </summary>
    public async Task<(ImportanceReport Candidate, ImportanceReport Incumbent)?> PairOnSameDataAsync(string model, int candidate, int incumbent, string? datasetSha256,
        CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            """
            SELECT c.body, i.body FROM importance_reports c
            JOIN LATERAL (SELECT body FROM importance_reports
                          WHERE model = c.model AND version = $3 AND dataset_sha256 = c.dataset_sha256 ORDER BY created_at DESC, id DESC LIMIT 1) i ON true
            WHERE c.model = $1 AND c.version = $2 AND ($4::text IS NULL OR c.dataset_sha256 = $4)
            ORDER BY c.created_at DESC, c.id DESC LIMIT 1
            """, model, candidate, incumbent, Sql.Typed(datasetSha256?.ToLowerInvariant(), NpgsqlTypes.NpgsqlDbType.Text));
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (ImportanceReport.Parser.ParseFrom(reader.GetFieldValue<byte[]>(0)), ImportanceReport.Parser.ParseFrom(reader.GetFieldValue<byte[]>(1)))
            : null;
    }

    /// <summary>The latest report of every model version that has one (at most <paramref name="limit"/> versions, the most recent).</summary>
    public async Task<IReadOnlyList<ImportanceReport>> LatestReportsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            """
            SELECT body FROM (SELECT DISTINCT ON (model, version) body, created_at FROM importance_reports ORDER BY model, version, created_at DESC, id DESC) latest
            ORDER BY created_at DESC LIMIT $1
            """, limit);
        return await ReportsAsync(select, cancellationToken);
    }

    /// <summary>Replaces a model's dictionary and publishes its change in the same transaction.</summary>
    public async Task SaveDictionaryAsync(FeatureDictionary dictionary, string actor, CancellationToken cancellationToken)
    {
        var body = dictionary.ToByteArray();
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var upsert = work.Command(
                         "INSERT INTO feature_dictionaries (model, updated_at, body) VALUES ($1, $2, $3) ON CONFLICT (model) DO UPDATE SET updated_at = $2, body = $3",
                         dictionary.Model, dictionary.UpdatedAt.ToDateTimeOffset(), body))
        {
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }

        work.Publish(new FeatureDictionaryChanged
        {
            Actor = actor, Model = dictionary.Model, Entries = dictionary.Entries.Count, Sha256 = Convert.ToHexStringLower(SHA256.HashData(body)),
        });
        await work.CommitAsync(cancellationToken);
    }

    /// <summary>A model's dictionary, or null.</summary>
    public async Task<FeatureDictionary?> GetDictionaryAsync(string model, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command("SELECT body FROM feature_dictionaries WHERE model = $1", model);
        return await select.ExecuteScalarAsync(cancellationToken) is byte[] body ? FeatureDictionary.Parser.ParseFrom(body) : null;
    }

    /// <summary>A model version's latest importance report, or null.</summary>
    public async Task<ImportanceReport?> LatestImportanceAsync(string model, int version, CancellationToken cancellationToken) =>
        (await ListImportanceAsync(model, version, 1, 0, cancellationToken)).FirstOrDefault();

    /// <summary>Stores a judged production window in <paramref name="transaction"/>; false when it was stored already.</summary>
    public async Task<bool> InsertWindowAsync(NpgsqlTransaction transaction, AttributionWindow window, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var insert = transaction.Connection!.Command(transaction,
            "INSERT INTO attribution_windows (model, version, window_start, count_window, created_at, body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            window.Model.Model, window.Model.Version, window.WindowStart.ToDateTimeOffset(), window.HasCountWindow ? window.CountWindow : -1L, at, window.ToByteArray());
        return await insert.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>
    /// The state last announced for a version (null: never judged), locked, and whether a window later than the one at
    /// <paramref name="start"/> (and count window <paramref name="countWindow"/>, -1 for a time window) is stored.
    /// </summary>
    public async Task<(bool? Drifting, bool Newer)> AttributionStateAsync(NpgsqlTransaction transaction, string model, int version, DateTimeOffset start,
        long countWindow, CancellationToken cancellationToken)
    {
        await using var state = transaction.Connection!.Command(transaction,
            "SELECT drifting FROM attribution_states WHERE model = $1 AND version = $2 FOR UPDATE", model, version);
        var drifting = await state.ExecuteScalarAsync(cancellationToken) as bool?;
        await using var newer = transaction.Connection!.Command(transaction,
            "SELECT EXISTS (SELECT 1 FROM attribution_windows WHERE model = $1 AND version = $2 AND (window_start, count_window) > ($3, $4))", model, version, start, countWindow);
        return (drifting, (bool)(await newer.ExecuteScalarAsync(cancellationToken))!);
    }

    /// <summary>Records the state announced for a version.</summary>
    public async Task SetAttributionStateAsync(NpgsqlTransaction transaction, string model, int version, bool drifting, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var save = transaction.Connection!.Command(transaction,
            """
            INSERT INTO attribution_states (model, version, drifting, changed_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (model, version) DO UPDATE SET drifting = excluded.drifting,
                changed_at = CASE WHEN attribution_states.drifting = excluded.drifting THEN attribution_states.changed_at ELSE excluded.changed_at END
            """, model, version, drifting, at);
        await save.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A model version's production windows, newest first.</summary>
    public async Task<IReadOnlyList<AttributionWindow>> ListWindowsAsync(string model, int version, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            "SELECT body FROM attribution_windows WHERE model = $1 AND version = $2 ORDER BY window_start DESC, count_window DESC LIMIT $3 OFFSET $4", model, version, limit, offset);
        return await WindowsAsync(select, cancellationToken);
    }

    /// <summary>The latest production window of every model version that has one (at most <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<AttributionWindow>> LatestWindowsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            """
            SELECT body FROM (SELECT DISTINCT ON (model, version) body, window_start FROM attribution_windows ORDER BY model, version, window_start DESC, count_window DESC) latest
            ORDER BY window_start DESC LIMIT $1
            """, limit);
        return await WindowsAsync(select, cancellationToken);
    }

    private static async Task<IReadOnlyList<AttributionWindow>> WindowsAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var windows = new List<AttributionWindow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            windows.Add(AttributionWindow.Parser.ParseFrom(reader.GetFieldValue<byte[]>(0)));
        }

        return windows;
    }

    private static async Task<IReadOnlyList<ImportanceReport>> ReportsAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var reports = new List<ImportanceReport>();
        while (await reader.ReadAsync(cancellationToken))
        {
            reports.Add(ImportanceReport.Parser.ParseFrom(reader.GetFieldValue<byte[]>(0)));
        }

        return reports;
    }
}

using Google.Protobuf;
using ModelOps.Contracts;
using ModelOps.Fairness.V1;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Fairness.Data;

/// <summary>The fairness service's tables: reports and mitigations, each stored with the event that records it.</summary>
public sealed class FairnessStore(NpgsqlDataSource dataSource)
{
    /// <summary>Stores a report and publishes <paramref name="recorded"/> in the same transaction.</summary>
    public async Task SaveReportAsync(FairnessReport report, IIntegrationEvent recorded, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var insert = work.Command(
                         "INSERT INTO reports (id, model, version, run_id, dataset_sha256, created_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         Guid.Parse(report.Id), report.Model, report.Version, report.Dataset.RunId.ToLowerInvariant(), report.DatasetSha256,
                         report.CreatedAt.ToDateTimeOffset(), report.ToByteArray()))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        work.Publish(recorded);
        await work.CommitAsync(cancellationToken);
    }

    /// <summary>The report, or null.</summary>
    public async Task<FairnessReport?> GetReportAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command("SELECT body FROM reports WHERE id = $1", id);
        return await select.ExecuteScalarAsync(cancellationToken) is byte[] body ? FairnessReport.Parser.ParseFrom(body) : null;
    }

    /// <summary>A model version's latest report of a dataset of run <paramref name="runId"/> (of any run when null), or null.</summary>
    public async Task<FairnessReport?> LatestReportAsync(string model, string version, string? runId, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            "SELECT body FROM reports WHERE model = $1 AND version = $2 AND ($3::text IS NULL OR run_id = $3) ORDER BY created_at DESC, id DESC LIMIT 1",
            model, version, Sql.Typed(runId?.ToLowerInvariant(), NpgsqlTypes.NpgsqlDbType.Text));
        return await select.ExecuteScalarAsync(cancellationToken) is byte[] body ? FairnessReport.Parser.ParseFrom(body) : null;
    }

    /// <summary>A model version's reports, newest first.</summary>
    public async Task<IReadOnlyList<FairnessReport>> ListReportsAsync(string model, string version, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            "SELECT body FROM reports WHERE model = $1 AND version = $2 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4", model, version, limit, offset);
        return await ReportsAsync(select, cancellationToken);
    }

    /// <summary>The latest report of every model version that has one (at most <paramref name="limit"/> versions, the most recent).</summary>
    public async Task<IReadOnlyList<FairnessReport>> LatestReportsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            """
            SELECT body FROM (SELECT DISTINCT ON (model, version) body, created_at FROM reports ORDER BY model, version, created_at DESC, id DESC) latest
            ORDER BY created_at DESC LIMIT $1
            """, limit);
        return await ReportsAsync(select, cancellationToken);
    }

    /// <summary>A model version's production window reports, newest first.</summary>
    public async Task<IReadOnlyList<FairnessReport>> ListWindowReportsAsync(string model, string version, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            "SELECT body FROM window_reports WHERE model = $1 AND version = $2 ORDER BY window_start DESC, count_window DESC LIMIT $3 OFFSET $4", model, version, limit, offset);
        return await ReportsAsync(select, cancellationToken);
    }

    /// <summary>The latest production window report of every model version that has one (at most <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<FairnessReport>> LatestWindowReportsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command(
            """
            SELECT body FROM (SELECT DISTINCT ON (model, version) body, window_start FROM window_reports ORDER BY model, version, window_start DESC, count_window DESC) latest
            ORDER BY window_start DESC LIMIT $1
            """, limit);
        return await ReportsAsync(select, cancellationToken);
    }

    /// <summary>Stores a mitigation and publishes <paramref name="recorded"/> in the same transaction.</summary>
    public async Task SaveMitigationAsync(Mitigation mitigation, IIntegrationEvent recorded, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var insert = work.Command(
                         "INSERT INTO mitigations (id, model, version, created_at, body) VALUES ($1, $2, $3, $4, $5)",
                         Guid.Parse(mitigation.Id), mitigation.Model, mitigation.Version, mitigation.CreatedAt.ToDateTimeOffset(), mitigation.ToByteArray()))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        work.Publish(recorded);
        await work.CommitAsync(cancellationToken);
    }

    private static async Task<IReadOnlyList<FairnessReport>> ReportsAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        var reports = new List<FairnessReport>();
        while (await reader.ReadAsync(cancellationToken))
        {
            reports.Add(FairnessReport.Parser.ParseFrom(reader.GetFieldValue<byte[]>(0)));
        }

        return reports;
    }

    /// <summary>The mitigation, or null.</summary>
    public async Task<Mitigation?> GetMitigationAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var select = dataSource.Command("SELECT body FROM mitigations WHERE id = $1", id);
        return await select.ExecuteScalarAsync(cancellationToken) is byte[] body ? Mitigation.Parser.ParseFrom(body) : null;
    }
}

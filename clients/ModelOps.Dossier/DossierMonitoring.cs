using Grpc.Core;
using ModelOps.Alerting.V1;
using ModelOps.Drift.V1;
using ModelOps.Explainability.V1;
using ModelOps.Fairness.V1;

namespace ModelOps.Dossier;

/// <summary>How a version has behaved since it was deployed: drift, concept drift, fairness, explanations and alerts.</summary>
public sealed record MonitoringFacts(
    IReadOnlyList<DriftWindowFacts> DriftWindows,
    IReadOnlyList<DetectorFacts> Detectors,
    IReadOnlyList<FairnessFacts> Fairness,
    ImportanceFacts? Importance,
    IReadOnlyList<AttributionWindowFacts> AttributionWindows,
    IReadOnlyList<AlertFacts> Alerts);

/// <summary>One production window as drift judged it: the share of drifted columns, and the accuracy on its labelled rows.</summary>
public sealed record DriftWindowFacts(
    DateTimeOffset? Start, DateTimeOffset? End, long Rows, double DriftShare, bool Drifted, IReadOnlyList<string> DriftedColumns,
    long Labelled, double? Accuracy);

/// <summary>A concept-drift detector's state over the version's labelled errors.</summary>
public sealed record DetectorFacts(string Detector, string State, long Drifts, DateTimeOffset? LastDriftAt);

/// <summary>A fairness report (of a dataset, or of a production window) and its disparities with bootstrap intervals.</summary>
public sealed record FairnessFacts(
    string ReportId, DateTimeOffset? CreatedAt, DateTimeOffset? WindowStart, DateTimeOffset? WindowEnd, long Rows, bool Biased,
    IReadOnlyList<DisparityFacts> Disparities);

/// <summary>One disparity between groups, with its percentile bootstrap interval.</summary>
public sealed record DisparityFacts(string Grouping, string Name, double? Value, double? Lower, double? Upper, int Resamples);

/// <summary>The latest global importance of the version's features (mean |SHAP|).</summary>
public sealed record ImportanceFacts(string ReportId, DateTimeOffset? CreatedAt, long Rows, IReadOnlyList<FeatureFacts> Features);

/// <summary>One feature's importance.</summary>
public sealed record FeatureFacts(string Feature, string DisplayName, int Rank, double MeanAbs);

/// <summary>One production window's attribution drift: how far the drivers of predictions moved from the reference.</summary>
public sealed record AttributionWindowFacts(
    DateTimeOffset? Start, DateTimeOffset? End, long Records, bool Judged, double Shift, double Overlap, bool Drifted, string Reason);

/// <summary>An alert about the version.</summary>
public sealed record AlertFacts(string Name, string Severity, DateTimeOffset? StartsAt, DateTimeOffset? EndsAt, string Summary);

/// <summary>The services that watch a deployed version; the dossier asks each about the version, as the caller.</summary>
public sealed record MonitoringClients(
    DriftService.DriftServiceClient Drift,
    FairnessService.FairnessServiceClient Fairness,
    ExplainabilityService.ExplainabilityServiceClient Explainability,
    AlertingService.AlertingServiceClient Alerting)
{
    /// <summary>At most this many windows of each kind are gathered (the newest).</summary>
    public const int MaxWindows = 500;

    /// <summary>What the services know of <paramref name="model"/> version <paramref name="version"/>.</summary>
    public async Task<MonitoringFacts> GatherAsync(string model, int version, Func<CallOptions> call)
    {
        var v = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var drift = GatherDriftAsync(model, v, call);
        var detectors = GatherDetectorsAsync(model, v, call);
        var fairness = GatherFairnessAsync(model, v, call);
        var importance = GatherImportanceAsync(model, version, call);
        var attribution = GatherAttributionAsync(model, version, call);
        var alerts = GatherAlertsAsync(model, v, call);
        return new MonitoringFacts(await drift, await detectors, await fairness, await importance, await attribution, await alerts);
    }

    private async Task<IReadOnlyList<DriftWindowFacts>> GatherDriftAsync(string model, string version, Func<CallOptions> call)
    {
        var windows = new List<DriftWindowFacts>();
        var request = new ListWindowReportsRequest { Model = model, Version = version, PageSize = 100 };
        do
        {
            var page = await OrEmpty(Drift.ListWindowReportsAsync(request, call()).ResponseAsync, new ListWindowReportsResponse());
            windows.AddRange(page.Reports.Select(r => new DriftWindowFacts(
                Names.At(r.WindowStart), Names.At(r.WindowEnd), r.Rows, r.DriftShare, r.DatasetDrifted,
                [.. r.Columns.Where(c => c.Drifted).Select(c => c.Column)], r.Performance?.Labelled ?? 0,
                r.Performance?.Classification is { } c && r.Performance.Labelled > 0 ? c.Accuracy : null)));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0 && windows.Count < MaxWindows);

        return [.. windows.OrderBy(w => w.Start)];
    }

    private async Task<IReadOnlyList<DetectorFacts>> GatherDetectorsAsync(string model, string version, Func<CallOptions> call)
    {
        var request = new GetStatusRequest { IncludeUnwatched = true, PageSize = 500 };
        do
        {
            var page = await OrEmpty(Drift.GetStatusAsync(request, call()).ResponseAsync, new GetStatusResponse());
            if (page.Models.FirstOrDefault(m => m.Model == model && m.Version == version) is { } status)
            {
                return [.. status.Detectors.Select(d => new DetectorFacts(d.Detector, Names.Of(d.State), d.Drifts, Names.At(d.LastDriftAt)))];
            }

            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        return [];
    }

    private async Task<IReadOnlyList<FairnessFacts>> GatherFairnessAsync(string model, string version, Func<CallOptions> call)
    {
        var reports = new List<FairnessReport>();
        foreach (var windows in new[] { false, true })
        {
            var request = new ListReportsRequest { Model = model, Version = version, PageSize = 100 };
            do
            {
                var pending = windows ? Fairness.ListWindowReportsAsync(request, call()) : Fairness.ListReportsAsync(request, call());
                var page = await OrEmpty(pending.ResponseAsync, new ListReportsResponse());
                reports.AddRange(page.Reports);
                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0 && reports.Count < MaxWindows);
        }

        return [.. reports.OrderBy(r => r.Window?.Start?.ToDateTimeOffset() ?? r.CreatedAt?.ToDateTimeOffset()).Select(r => new FairnessFacts(
            r.Id, Names.At(r.CreatedAt), Names.At(r.Window?.Start), Names.At(r.Window?.End), r.Rows, r.Window?.Biased ?? false,
            [.. r.Groupings.SelectMany(g => g.Disparities.Select(d => new DisparityFacts(
                g.Name, d.Name, d.HasValue ? d.Value : null, d.HasLower ? d.Lower : null, d.HasUpper ? d.Upper : null, d.Resamples)))]))];
    }

    private async Task<ImportanceFacts?> GatherImportanceAsync(string model, int version, Func<CallOptions> call)
    {
        var page = await OrEmpty(Explainability.ListImportanceAsync(
            new ListImportanceRequest { Model = model, Version = version, PageSize = 1 }, call()).ResponseAsync, new ListImportanceResponse());
        return page.Reports.FirstOrDefault() is { } latest
            ? new ImportanceFacts(latest.Id, Names.At(latest.CreatedAt), latest.Rows,
                [.. latest.Features.OrderBy(f => f.Rank).Select(f => new FeatureFacts(f.Feature, f.DisplayName, f.Rank, f.MeanAbs))])
            : null;
    }

    private async Task<IReadOnlyList<AttributionWindowFacts>> GatherAttributionAsync(string model, int version, Func<CallOptions> call)
    {
        var windows = new List<AttributionWindowFacts>();
        var request = new ListImportanceRequest { Model = model, Version = version, PageSize = 100 };
        do
        {
            var page = await OrEmpty(Explainability.ListAttributionWindowsAsync(request, call()).ResponseAsync, new ListAttributionWindowsResponse());
            windows.AddRange(page.Windows.Select(w => new AttributionWindowFacts(
                Names.At(w.WindowStart), Names.At(w.WindowEnd), w.Records, w.Judged, w.Shift, w.Overlap, w.Drifted, w.Reason)));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0 && windows.Count < MaxWindows);

        return [.. windows.OrderBy(w => w.Start)];
    }

    private async Task<IReadOnlyList<AlertFacts>> GatherAlertsAsync(string model, string version, Func<CallOptions> call)
    {
        var alerts = new List<AlertFacts>();
        var request = new ListAlertsRequest { Filter = { $"model=\"{Escape(model)}\"", $"version=\"{version}\"" }, PageSize = 1000 };
        do
        {
            var page = await OrEmpty(Alerting.ListAlertsAsync(request, call()).ResponseAsync, new ListAlertsResponse());
            alerts.AddRange(page.Alerts.Select(a => new AlertFacts(
                a.Labels.GetValueOrDefault("alertname", ""), a.Labels.GetValueOrDefault("severity", ""), Names.At(a.StartsAt), Names.At(a.EndsAt),
                a.Annotations.GetValueOrDefault("summary", ""))));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0 && alerts.Count < MaxWindows);

        return [.. alerts.OrderBy(a => a.StartsAt)];
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    // A version nothing has watched yet is not an error: its monitoring is empty. Every other failure is the caller's to see.
    private static async Task<T> OrEmpty<T>(Task<T> call, T empty)
    {
        try
        {
            return await call;
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            return empty;
        }
    }
}

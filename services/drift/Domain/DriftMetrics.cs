using System.Diagnostics.Metrics;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>
/// The latest window of every model version as Prometheus gauges (on <c>/metrics</c>): each column's score and whether
/// it drifted, and the version's drift share — so existing Prometheus and Grafana set-ups chart and alert on drift.
/// Every replica refreshes them from the stored reports, so any replica scraped tells the same.
/// </summary>
public sealed class DriftMetrics
{
    private volatile IReadOnlyList<WindowReport> _latest = [];

    /// <summary>Creates the gauges on the service's meter (<c>ModelOps.Drift</c>).</summary>
    public DriftMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ModelOps.Drift");
        meter.CreateObservableGauge("modelops.drift.score", () => Columns(c => c.Statistic), description: "The latest window's drift statistic of a column (a distance, or a test's statistic)");
        meter.CreateObservableGauge("modelops.drift.p_value", () => Columns(c => c.HasPValue ? c.PValue : double.NaN).Where(m => !double.IsNaN(m.Value)),
            description: "The latest window's p-value of a column measured by a test");
        meter.CreateObservableGauge("modelops.drift.drifted", () => Columns(c => c.Drifted ? 1 : 0), description: "1 when the column drifted in the latest window");
        meter.CreateObservableGauge("modelops.drift.share", () => _latest.Select(r => new Measurement<double>(r.DriftShare, Version(r))),
            description: "Share of a model version's columns that drifted in its latest window");
    }

    /// <summary>Replaces what the gauges report with these latest reports.</summary>
    public void Update(IReadOnlyList<WindowReport> latest) => _latest = latest;

    private IEnumerable<Measurement<double>> Columns(Func<ColumnReport, double> value) =>
        _latest.SelectMany(r => r.Columns.Select(c => new Measurement<double>(value(c),
        [
            new("model", r.Model), new("version", r.Version), new("column", c.Column), new("method", c.Method.ToString()),
        ])));

    private static KeyValuePair<string, object?>[] Version(WindowReport report) => [new("model", report.Model), new("version", report.Version)];
}

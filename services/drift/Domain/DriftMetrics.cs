using System.Diagnostics.Metrics;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>
/// Every model version's latest window as Prometheus gauges (on <c>/metrics</c>): each column's score and whether it
/// drifted, the drift share, whether the model's output drifted, the performance from the labels joined so far, and
/// its concept-drift detectors — so existing Prometheus and Grafana set-ups chart and alert on them. Every replica
/// refreshes them from the stored state, so any replica scraped tells the same.
/// </summary>
public sealed class DriftMetrics
{
    private volatile IReadOnlyList<ModelStatus> _statuses = [];

    /// <summary>Creates the gauges on the service's meter (<c>ModelOps.Drift</c>).</summary>
    public DriftMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ModelOps.Drift");
        meter.CreateObservableGauge("modelops.drift.score", () => Columns(c => c.Statistic), description: "The latest window's drift statistic of a column (a distance, or a test's statistic)");
        meter.CreateObservableGauge("modelops.drift.p_value", () => Columns(c => c.HasPValue ? c.PValue : double.NaN).Where(m => !double.IsNaN(m.Value)),
            description: "The latest window's p-value of a column measured by a test");
        meter.CreateObservableGauge("modelops.drift.drifted", () => Columns(c => c.Drifted ? 1 : 0), description: "1 when the column drifted in the latest window");
        meter.CreateObservableGauge("modelops.drift.share", () => Latest().Select(r => new Measurement<double>(r.DriftShare, Version(r.Model, r.Version))),
            description: "Share of a model version's columns that drifted in its latest window");
        meter.CreateObservableGauge("modelops.drift.prediction_drifted",
            () => Latest().Where(r => r.Prediction is not null).Select(r => new Measurement<int>(r.Prediction.Drifted ? 1 : 0, Version(r.Model, r.Version))),
            description: "1 when the model's output drifted in the latest window");
        meter.CreateObservableGauge("modelops.drift.performance", Performance,
            description: "The latest window's performance from the labels joined so far (accuracy, auc, f1, log_loss; rmse, mae)");
        meter.CreateObservableGauge("modelops.drift.watched", () => _statuses.Select(s => new Measurement<int>(s.Watched ? 1 : 0, Version(s.Model, s.Version))),
            description: "1 while the version is watched (in Production)");
        meter.CreateObservableGauge("modelops.drift.concept_drifts",
            () => _statuses.SelectMany(s => s.Detectors.Select(d => new Measurement<long>(d.Drifts, [.. Version(s.Model, s.Version), new("detector", d.Detector)]))),
            description: "Drifts a concept-drift detector has signalled on the version's error stream");
        meter.CreateObservableGauge("modelops.drift.concept_drift_episodes",
            () => _statuses.SelectMany(s => s.Detectors.Select(d => new Measurement<long>(d.Episodes, [.. Version(s.Model, s.Version), new("detector", d.Detector)]))),
            description: "Episodes of drift (changes, each announced once) a concept-drift detector has found on the version's error stream");
    }

    /// <summary>Replaces what the gauges report with these statuses.</summary>
    public void Update(IReadOnlyList<ModelStatus> statuses) => _statuses = statuses;

    private IEnumerable<WindowReport> Latest() => _statuses.Where(s => s.Latest is not null).Select(s => s.Latest);

    private IEnumerable<Measurement<double>> Columns(Func<ColumnReport, double> value) =>
        Latest().SelectMany(r => r.Columns.Select(c => new Measurement<double>(value(c),
        [
            new("model", r.Model), new("version", r.Version), new("column", c.Column), new("method", c.Method.ToString()),
        ])));

    private IEnumerable<Measurement<double>> Performance()
    {
        foreach (var report in Latest())
        {
            if (report.Performance is not { Labelled: > 0 } performance)
            {
                continue;
            }

            var metrics = performance.TaskCase == WindowPerformance.TaskOneofCase.Classification
                ? new (string, double)[]
                {
                    ("accuracy", performance.Classification.Accuracy), ("auc", performance.Classification.Auc), ("f1", performance.Classification.F1),
                    ("log_loss", performance.Classification.LogLoss),
                }
                : [("rmse", performance.Regression.Rmse), ("mae", performance.Regression.Mae)];
            foreach (var (name, value) in metrics.Where(m => double.IsFinite(m.Item2)))
            {
                yield return new Measurement<double>(value, [.. Version(report.Model, report.Version), new("metric", name)]);
            }
        }
    }

    private static KeyValuePair<string, object?>[] Version(string model, string version) => [new("model", model), new("version", version)];
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ModelOps.Explainability.Data;
using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>
/// Every model version's latest importance report as Prometheus gauges (on <c>/metrics</c>): the mean |SHAP| of its
/// <see cref="ChartedFeatures"/> most important features, labelled by model, version and feature. Every replica refreshes
/// them from the stored reports (<see cref="Refresher"/>), so any replica scraped tells the same.
/// </summary>
public sealed partial class ExplainabilityMetrics
{
    /// <summary>Features per version charted (the most important).</summary>
    public const int ChartedFeatures = 20;

    private readonly ConcurrentDictionary<(string Model, int Version), ImportanceReport> _latest = new();
    private readonly ConcurrentDictionary<(string Model, int Version), AttributionWindow> _windows = new();

    /// <summary>Creates the gauges on the service's meter (<c>ModelOps.Explainability</c>).</summary>
    public ExplainabilityMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ModelOps.Explainability");
        meter.CreateObservableGauge("modelops.explainability.importance",
            () => _latest.Values.SelectMany(r => r.Features.Take(ChartedFeatures).Select(f => new Measurement<double>(f.MeanAbs,
            [
                new("model", r.Model.Model), new("version", r.Model.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)), new("feature", f.Feature),
            ]))),
            description: "Mean |SHAP value| of a feature in the latest importance report of a model version (its margin space)");
        meter.CreateObservableGauge("modelops.explainability.attribution_shift",
            () => _windows.Values.Where(w => w.Judged).Select(w => new Measurement<double>(w.Shift, Labels(w))),
            description: "Importance shift of the latest judged production window of a model version from its reference importance (0: the same, 1: disjoint)");
        meter.CreateObservableGauge("modelops.explainability.attribution_drifted",
            () => _windows.Values.Where(w => w.Judged).Select(w => new Measurement<int>(w.Drifted ? 1 : 0, Labels(w))),
            description: "1 when the latest judged production window of a model version crossed its explainability watch's limits");
    }

    private static KeyValuePair<string, object?>[] Labels(AttributionWindow window) =>
        [new("model", window.Model.Model), new("version", window.Model.Version.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>Makes <paramref name="window"/> its version's latest, unless a later one is known.</summary>
    public void Record(AttributionWindow window) => _windows.AddOrUpdate((window.Model.Model, window.Model.Version), window,
        (_, known) => known.WindowStart.ToDateTimeOffset() > window.WindowStart.ToDateTimeOffset() ? known : window);

    /// <summary>Makes <paramref name="report"/> its version's latest, unless a newer one is known.</summary>
    public void Record(ImportanceReport report) => _latest.AddOrUpdate((report.Model.Model, report.Model.Version), report,
        (_, known) => known.CreatedAt.ToDateTimeOffset() > report.CreatedAt.ToDateTimeOffset() ? known : report);

    /// <summary>Loads every version's latest report every 30 seconds (reports made by other replicas included).</summary>
    public sealed partial class Refresher(ExplainabilityStore store, ExplainabilityMetrics metrics, ILogger<Refresher> logger) : BackgroundService
    {
        /// <summary>Most model versions charted.</summary>
        public const int MaxVersions = 1000;

        /// <inheritdoc />
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(30));
            do
            {
                try
                {
                    foreach (var report in await store.LatestReportsAsync(MaxVersions, stoppingToken))
                    {
                        metrics.Record(report);
                    }

                    foreach (var window in await store.LatestWindowsAsync(MaxVersions, stoppingToken))
                    {
                        metrics.Record(window);
                    }
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRefreshFailed(logger, exception);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "The explainability gauges could not be refreshed; they are retried in 30 s")]
        private static partial void LogRefreshFailed(ILogger logger, Exception exception);
    }
}

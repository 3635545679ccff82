using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using ModelOps.Fairness.Data;
using ModelOps.Fairness.V1;

namespace ModelOps.Fairness.Domain;

/// <summary>
/// Every model version's latest report as Prometheus gauges (on <c>/metrics</c>), of its evaluation dataset
/// (<c>source="dataset"</c>) and of its production traffic (<c>source="production"</c>, the latest window): each
/// grouping's disparities, each judged group's selection rate, TPR and FPR (groups of one sensitive column), and whether
/// the latest window is biased,
/// labelled by model, version, grouping (the sensitive column or combination) and metric. Every replica refreshes them from the stored reports (<see cref="Refresher"/>), so any
/// replica scraped tells the same.
/// </summary>
public sealed partial class FairnessMetrics
{
    private readonly ConcurrentDictionary<(string Model, string Version, string Source), FairnessReport> _latest = new();

    /// <summary>Creates the gauges on the service's meter (<c>ModelOps.Fairness</c>).</summary>
    public FairnessMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ModelOps.Fairness");
        meter.CreateObservableGauge("modelops.fairness.disparity", Disparities,
            description: "A disparity of the latest report of a model version, per grouping of its sensitive columns (ratios: 1 is parity; differences: 0 is parity)");
        meter.CreateObservableGauge("modelops.fairness.group_rate", GroupRates,
            description: "A judged group's selection rate, true-positive rate or false-positive rate in the latest report of a model version");
        meter.CreateObservableGauge("modelops.fairness.biased",
            () => _latest.Where(l => l.Key.Source == Production).Select(l => new Measurement<int>(l.Value.Window.Biased ? 1 : 0,
                [new("model", l.Key.Model), new("version", l.Key.Version)])),
            description: "1 when the latest production window of a model version crossed its fairness watch's limits");
    }

    private const string Production = "production";

    private static string Source(FairnessReport report) => report.Window is null ? "dataset" : Production;

    /// <summary>Makes <paramref name="report"/> its version's latest, unless a newer one is known.</summary>
    public void Record(FairnessReport report) => _latest.AddOrUpdate((report.Model, report.Version, Source(report)), report,
        (_, known) => When(known) > When(report) ? known : report);

    // Dataset reports by creation, windows by their start.
    private static DateTimeOffset When(FairnessReport report) => (report.Window?.Start ?? report.CreatedAt).ToDateTimeOffset();

    private IEnumerable<Measurement<double>> Disparities() =>
        _latest.Values.SelectMany(r => r.Groupings.SelectMany(g => g.Disparities.Where(d => d.HasValue).Select(d => new Measurement<double>(d.Value,
        [
            new("model", r.Model), new("version", r.Version), new("source", Source(r)), new("grouping", g.Name), new("metric", d.Name),
        ]))));

    private IEnumerable<Measurement<double>> GroupRates()
    {
        foreach (var report in _latest.Values)
        {
            // One column's groups only: their intersections would multiply the series.
            foreach (var grouping in report.Groupings.Where(g => g.Columns.Count == 1))
            {
                foreach (var group in grouping.Groups.Where(g => !g.TooSmall))
                {
                    foreach (var (metric, has, value) in new[]
                             {
                                 ("selection_rate", group.HasSelectionRate, group.SelectionRate), ("true_positive_rate", group.HasTruePositiveRate, group.TruePositiveRate),
                                 ("false_positive_rate", group.HasFalsePositiveRate, group.FalsePositiveRate),
                             })
                    {
                        if (has)
                        {
                            yield return new Measurement<double>(value,
                            [
                                new("model", report.Model), new("version", report.Version), new("source", Source(report)), new("grouping", grouping.Name),
                                new("group", group.Label), new("metric", metric),
                            ]);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Loads every version's latest report every 30 seconds (reports made by other replicas included).</summary>
    public sealed partial class Refresher(FairnessStore store, FairnessMetrics metrics, ILogger<Refresher> logger) : BackgroundService
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
                    foreach (var report in (await store.LatestReportsAsync(MaxVersions, stoppingToken)).Concat(await store.LatestWindowReportsAsync(MaxVersions, stoppingToken)))
                    {
                        metrics.Record(report);
                    }
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRefreshFailed(logger, exception);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "The fairness gauges could not be refreshed; they are retried in 30 s")]
        private static partial void LogRefreshFailed(ILogger logger, Exception exception);
    }
}

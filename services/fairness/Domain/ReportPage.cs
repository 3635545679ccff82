using System.Globalization;
using System.Net;
using System.Text;
using ModelOps.Fairness.V1;

namespace ModelOps.Fairness.Domain;

/// <summary>
/// A fairness report as one self-contained HTML page (no script, no external file; charts are inline SVG): every
/// disparity against parity and the conventional line (four-fifths for ratios, 0.1 for differences) with its bootstrap
/// interval, and per grouping each group's selection rate, TPR and FPR as bars with 95 % Wilson score intervals, its
/// counts, and its calibration curve when the model gave scores; then the version's production windows over time (the
/// demographic parity ratio and equalized odds difference of each grouping, against the watch's limits).
/// </summary>
public static class ReportPage
{
    private const int ChartWidth = 560;
    private const int RowHeight = 18;
    private const double Z95 = 1.959963984540054;

    /// <summary>Most groups of one grouping drawn (the largest): every group stays in its table.</summary>
    public const int MaxChartedGroups = 40;

    /// <summary>How many of a version's production windows the page charts (the newest).</summary>
    public const int HistoryWindows = 100;

    /// <summary>The page of <paramref name="report"/>, with the version's production <paramref name="windows"/> (any order).</summary>
    public static string Render(FairnessReport report, IReadOnlyList<FairnessReport> windows)
    {
        var html = new StringBuilder();
        var title = $"Fairness of {report.Model} {report.Version}";
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>").Append(Encode(title)).Append("</title>");
        html.Append("<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:.5rem 0}")
            .Append("td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}.bad{color:#b00020;font-weight:600}.muted{color:#888}")
            .Append("section{margin:2rem 0;padding-top:1rem;border-top:2px solid #eee}.bar{fill:#7a9cc6}.tpr{fill:#e08a3c}.fpr{fill:#8cb77a}")
            .Append(".ci{stroke:#222;stroke-width:1.5}.line{stroke:#b00020;stroke-dasharray:4 3}</style></head><body>");
        html.Append("<h1>").Append(Encode(title)).Append("</h1>");
        var dataset = report.Dataset;
        html.Append(CultureInfo.InvariantCulture, $"<p>{report.Rows:N0} rows of <code>{Encode(dataset.ArtifactPath)}</code> (tracking run {Encode(dataset.RunId)}, sha256 <code>{Encode(report.DatasetSha256)}</code>); ")
            .Append(CultureInfo.InvariantCulture, $"label <code>{Encode(dataset.LabelColumn)}</code>, ")
            .Append(dataset.ScoreColumn.Length > 0
                ? $"score <code>{Encode(dataset.ScoreColumn)}</code> ≥ {dataset.Threshold.ToString("G4", CultureInfo.InvariantCulture)}"
                : $"prediction <code>{Encode(dataset.PredictionColumn)}</code>")
            .Append(CultureInfo.InvariantCulture, $". Groups under {report.Settings.MinGroupSize} rows are too small and never judged; intervals: {report.Settings.Resamples} bootstrap resamples at {report.Settings.Confidence:P0}, seed {report.Settings.Seed}.</p>");
        if (report.Overall is { } overall)
        {
            html.Append("<p>Overall: ").Append(Rates(overall)).Append("</p>");
        }

        html.Append("<h2>Disparities</h2><table><thead><tr><th>grouping</th><th>measure</th><th>value</th><th>interval</th><th>groups compared</th><th>chart</th></tr></thead><tbody>");
        foreach (var grouping in report.Groupings)
        {
            foreach (var disparity in grouping.Disparities)
            {
                var bad = disparity.HasValue && Beyond(disparity);
                html.Append("<tr><td>").Append(Encode(grouping.Name)).Append("</td><td title=\"").Append(Encode(disparity.Formula)).Append("\">")
                    .Append(Encode(disparity.Name)).Append(" <span class=\"muted\">(").Append(Encode(disparity.Anchor)).Append(")</span></td>");
                html.Append(disparity.HasValue
                    ? $"<td class=\"{(bad ? "bad" : "")}\">{Number(disparity.Value)}</td>"
                    : $"<td class=\"muted\">undefined: {Encode(disparity.Undefined)}</td>");
                html.Append("<td>").Append(disparity.HasLower ? $"[{Number(disparity.Lower)}, {Number(disparity.Upper)}]" : "").Append("</td>");
                html.Append("<td>").Append(Encode(string.Join(" vs ", disparity.Groups))).Append("</td><td>");
                if (disparity.HasValue)
                {
                    DisparityBar(html, disparity);
                }

                html.Append("</td></tr>");
            }
        }

        html.Append("</tbody></table><p class=\"muted\">The dashed line is the conventional limit: 0.8 for a ratio (the four-fifths rule), 0.1 for a difference. A registry gate sets its own.</p>");
        foreach (var grouping in report.Groupings)
        {
            Grouping(html, grouping);
        }

        History(html, [.. windows.Where(w => w.Window is not null).OrderBy(w => w.Window.Start.ToDateTimeOffset())]);
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static void Grouping(StringBuilder html, Grouping grouping)
    {
        html.Append("<section><h2>").Append(Encode(grouping.Name)).Append("</h2>");
        if (grouping.Privileged.Length > 0)
        {
            html.Append("<p>Privileged group (AIF360's measures): ").Append(Encode(grouping.Privileged))
                .Append(grouping.PrivilegedNamed ? " (named)" : " (the highest selection rate)").Append(".</p>");
        }

        var classification = grouping.Groups.Any(g => g.HasSelectionRate);
        html.Append("<table><thead><tr><th>group</th><th>rows</th>");
        html.Append(classification
            ? "<th>selection rate</th><th>base rate</th><th>TPR</th><th>FPR</th><th>FNR</th><th>precision</th><th>NPV</th><th>accuracy</th>"
            : "<th>mean prediction</th><th>MAE</th><th>RMSE</th>");
        html.Append("</tr></thead><tbody>");
        foreach (var group in grouping.Groups)
        {
            html.Append("<tr").Append(group.TooSmall ? " class=\"muted\"" : "").Append("><td>").Append(Encode(group.Label))
                .Append(group.TooSmall ? " (too small)" : "").Append(CultureInfo.InvariantCulture, $"</td><td>{group.Count:N0}</td>");
            var cells = classification
                ? new[]
                {
                    Optional(group.HasSelectionRate, group.SelectionRate), Optional(group.HasBaseRate, group.BaseRate),
                    Optional(group.HasTruePositiveRate, group.TruePositiveRate), Optional(group.HasFalsePositiveRate, group.FalsePositiveRate),
                    Optional(group.HasFalseNegativeRate, group.FalseNegativeRate), Optional(group.HasPrecision, group.Precision),
                    Optional(group.HasNegativePredictiveValue, group.NegativePredictiveValue), Optional(group.HasAccuracy, group.Accuracy),
                }
                : [Optional(group.HasMeanPrediction, group.MeanPrediction), Optional(group.HasMeanAbsoluteError, group.MeanAbsoluteError),
                    Optional(group.HasRootMeanSquaredError, group.RootMeanSquaredError)];
            foreach (var cell in cells)
            {
                html.Append("<td>").Append(cell).Append("</td>");
            }

            html.Append("</tr>");
        }

        html.Append("</tbody></table>");
        if (classification)
        {
            RateBars(html, grouping);
            Calibration(html, grouping);
        }

        html.Append("</section>");
    }

    // Per group three bars (selection rate, TPR, FPR), each with its 95 % Wilson score interval.
    private static void RateBars(StringBuilder html, Grouping grouping)
    {
        var groups = grouping.Groups.OrderByDescending(g => g.Count).Take(MaxChartedGroups).ToList();
        const int label = 200;
        var height = (groups.Count * ((3 * RowHeight) + 8)) + 24;
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{label + ChartWidth + 20}\" height=\"{height}\" role=\"img\" aria-label=\"rates per group\">");
        var y = 4;
        foreach (var group in groups)
        {
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + RowHeight + 4}\" font-size=\"12\">{Encode(Clip(group.Label, 32))}{(group.TooSmall ? " (too small)" : "")}</text>");
            foreach (var (css, name, successes, trials) in new[]
                     {
                         ("bar", "selection", group.TruePositives + group.FalsePositives, group.Count),
                         ("tpr", "TPR", group.TruePositives, group.TruePositives + group.FalseNegatives),
                         ("fpr", "FPR", group.FalsePositives, group.FalsePositives + group.TrueNegatives),
                     })
            {
                if (trials > 0)
                {
                    var rate = (double)successes / trials;
                    var (low, high) = Wilson(successes, trials);
                    html.Append(CultureInfo.InvariantCulture, $"<rect class=\"{css}\" x=\"{label}\" y=\"{y}\" width=\"{rate * ChartWidth:F1}\" height=\"{RowHeight - 4}\"><title>{name} {Number(rate)} [{Number(low)}, {Number(high)}]</title></rect>")
                        .Append(CultureInfo.InvariantCulture, $"<line class=\"ci\" x1=\"{label + (low * ChartWidth):F1}\" x2=\"{label + (high * ChartWidth):F1}\" y1=\"{y + 7}\" y2=\"{y + 7}\"/>")
                        .Append(CultureInfo.InvariantCulture, $"<text x=\"{label + ChartWidth + 4}\" y=\"{y + 12}\" font-size=\"10\">{name}</text>");
                }

                y += RowHeight;
            }

            y += 8;
        }

        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{label}\" y=\"{height - 4}\" font-size=\"10\">0</text><text x=\"{label + ChartWidth - 8}\" y=\"{height - 4}\" font-size=\"10\">1</text></svg>");
    }

    // Mean score against the observed rate per score bin, one line per judged group, over the diagonal of perfect calibration.
    private static void Calibration(StringBuilder html, Grouping grouping)
    {
        var groups = grouping.Groups.Where(g => !g.TooSmall && g.Calibration.Count > 0).OrderByDescending(g => g.Count).Take(8).ToList();
        if (groups.Count == 0)
        {
            return;
        }

        const int size = 240;
        string[] colours = ["#7a9cc6", "#e08a3c", "#8cb77a", "#b07aa1", "#d4a017", "#5f9ea0", "#c0504d", "#666"];
        html.Append("<h3>Calibration</h3>");
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size + 220}\" height=\"{size + 20}\" role=\"img\" aria-label=\"calibration per group\">");
        html.Append(CultureInfo.InvariantCulture, $"<rect x=\"0\" y=\"0\" width=\"{size}\" height=\"{size}\" fill=\"none\" stroke=\"#ccc\"/><line class=\"line\" x1=\"0\" y1=\"{size}\" x2=\"{size}\" y2=\"0\"/>");
        for (var i = 0; i < groups.Count; i++)
        {
            var points = groups[i].Calibration.Where(b => b.HasMeanScore)
                .Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.MeanScore * size:F1},{(1 - b.ObservedRate) * size:F1}"));
            html.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{colours[i]}\" stroke-width=\"2\" points=\"{string.Join(' ', points)}\"/>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{size + 10}\" y=\"{14 + (i * 16)}\" font-size=\"11\" fill=\"{colours[i]}\">{Encode(Clip(groups[i].Label, 32))}</text>");
        }

        html.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{size + 14}\" font-size=\"10\">mean score → ; observed rate ↑</text></svg>");
    }

    // Per grouping of the production windows, the demographic parity ratio (blue) and equalized odds difference (orange)
    // over time, with the watch's limits dashed; biased windows marked red.
    private static void History(StringBuilder html, IReadOnlyList<FairnessReport> windows)
    {
        html.Append("<section><h2>In production</h2>");
        if (windows.Count == 0)
        {
            html.Append("<p class=\"muted\">No production window of this version has been judged: its traffic is judged once it is watched and its monitoring policy names sensitive columns.</p></section>");
            return;
        }

        var biased = windows.Count(w => w.Window.Biased);
        html.Append(CultureInfo.InvariantCulture, $"<p>{windows.Count} windows, from {Time(windows[0].Window.Start)} to {Time(windows[^1].Window.End)}; ")
            .Append(biased > 0 ? $"<span class=\"bad\">{biased} crossed the limits</span>" : "none crossed the limits")
            .Append(CultureInfo.InvariantCulture, $" (demographic parity ratio ≥ {windows[^1].Window.MinRatio:0.##}, equalized odds difference ≤ {windows[^1].Window.MaxDifference:0.##}).</p>");
        const int width = 560, height = 140;
        foreach (var name in windows[^1].Groupings.Select(g => g.Name))
        {
            html.Append("<h3>").Append(Encode(name)).Append("</h3>");
            html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width + 40}\" height=\"{height + 20}\" role=\"img\" aria-label=\"{Encode(name)} over time\">");
            double X(int i) => windows.Count == 1 ? width / 2.0 : i * width / (double)(windows.Count - 1);
            double Y(double v) => (1 - Math.Clamp(v, 0, 1)) * height;
            html.Append(CultureInfo.InvariantCulture, $"<line class=\"line\" x1=\"0\" x2=\"{width}\" y1=\"{Y(windows[^1].Window.MinRatio):F1}\" y2=\"{Y(windows[^1].Window.MinRatio):F1}\"/>")
                .Append(CultureInfo.InvariantCulture, $"<line class=\"line\" x1=\"0\" x2=\"{width}\" y1=\"{Y(windows[^1].Window.MaxDifference):F1}\" y2=\"{Y(windows[^1].Window.MaxDifference):F1}\"/>");
            foreach (var (metric, colour) in new[] { ("demographic_parity_ratio", "#3a6ea5"), ("equalized_odds_difference", "#e08a3c") })
            {
                var points = windows.Select((w, i) => (i, Value: w.Groupings.FirstOrDefault(g => g.Name == name)?.Disparities.FirstOrDefault(d => d.Name == metric)))
                    .Where(p => p.Value is { HasValue: true }).Select(p => (p.i, p.Value!.Value)).ToList();
                html.Append(CultureInfo.InvariantCulture,
                    $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{string.Join(' ', points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{X(p.i):F1},{Y(p.Item2):F1}")))}\"><title>{metric}</title></polyline>");
                foreach (var (i, value) in points)
                {
                    html.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(i):F1}\" cy=\"{Y(value):F1}\" r=\"3\" fill=\"{(windows[i].Window.Biased ? "#b00020" : colour)}\"><title>{Time(windows[i].Window.Start)} {metric} {Number(value)}</title></circle>");
                }
            }

            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{width + 4}\" y=\"{Y(1) + 10:F1}\" font-size=\"10\">1</text><text x=\"{width + 4}\" y=\"{height:F1}\" font-size=\"10\">0</text></svg>");
        }

        html.Append("<p class=\"muted\">Blue: demographic parity ratio; orange: equalized odds difference (once labels have joined); dashed: the limits; red points: windows beyond them.</p></section>");
    }

    private static string Time(Google.Protobuf.WellKnownTypes.Timestamp time) =>
        time.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture);

    private static void DisparityBar(StringBuilder html, Disparity disparity)
    {
        const int width = 200;
        var ratio = disparity.Kind == "ratio";
        // Ratios on [0, 1.5], differences on [−0.5, 0.5] (absolute for AIF360's signed ones shown as they are).
        double Scale(double v) => ratio ? Math.Clamp(v / 1.5, 0, 1) * width : Math.Clamp((v + 0.5) / 1.0, 0, 1) * width;
        var parity = ratio ? Scale(1) : Scale(0);
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"16\">")
            .Append(CultureInfo.InvariantCulture, $"<line x1=\"{parity:F1}\" x2=\"{parity:F1}\" y1=\"0\" y2=\"16\" stroke=\"#999\"/>");
        foreach (var limit in ratio ? new[] { 0.8 } : [-0.1, 0.1])
        {
            html.Append(CultureInfo.InvariantCulture, $"<line class=\"line\" x1=\"{Scale(limit):F1}\" x2=\"{Scale(limit):F1}\" y1=\"0\" y2=\"16\"/>");
        }

        if (disparity.HasLower)
        {
            html.Append(CultureInfo.InvariantCulture, $"<line class=\"ci\" x1=\"{Scale(disparity.Lower):F1}\" x2=\"{Scale(disparity.Upper):F1}\" y1=\"8\" y2=\"8\"/>");
        }

        html.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{Scale(disparity.Value):F1}\" cy=\"8\" r=\"4\" fill=\"{(Beyond(disparity) ? "#b00020" : "#3a6ea5")}\"/></svg>");
    }

    private static bool Beyond(Disparity disparity) => disparity.Kind == "ratio" ? disparity.Value < 0.8 : Math.Abs(disparity.Value) > 0.1;

    /// <summary>The Wilson score interval of a proportion at 95 %.</summary>
    public static (double Low, double High) Wilson(long successes, long trials)
    {
        var p = (double)successes / trials;
        var z2 = Z95 * Z95;
        var centre = (p + (z2 / (2 * trials))) / (1 + (z2 / trials));
        var half = Z95 * Math.Sqrt((p * (1 - p) / trials) + (z2 / (4.0 * trials * trials))) / (1 + (z2 / trials));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    private static string Rates(GroupMetrics metrics) => string.Join(", ", new[]
    {
        ("selection rate", metrics.HasSelectionRate, metrics.SelectionRate), ("base rate", metrics.HasBaseRate, metrics.BaseRate),
        ("TPR", metrics.HasTruePositiveRate, metrics.TruePositiveRate), ("FPR", metrics.HasFalsePositiveRate, metrics.FalsePositiveRate),
        ("accuracy", metrics.HasAccuracy, metrics.Accuracy), ("MAE", metrics.HasMeanAbsoluteError, metrics.MeanAbsoluteError),
        ("RMSE", metrics.HasRootMeanSquaredError, metrics.RootMeanSquaredError),
    }.Where(r => r.Item2).Select(r => $"{r.Item1} {Number(r.Item3)}"));

    private static string Optional(bool has, double value) => has ? Number(value) : "<span class=\"muted\">undefined</span>";

    private static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    private static string Clip(string text, int length) => text.Length <= length ? text : string.Concat(text.AsSpan(0, length - 1), "…");

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}

using System.Globalization;
using System.Net;
using System.Text;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>
/// A window report as one self-contained HTML page: no script, no external file; charts are inline SVG, so the page
/// opens from a file, a mail attachment or an object store the same way. Written as XHTML-compatible markup.
/// </summary>
public static class ReportPage
{
    private const int BarWidth = 560;
    private const int BarHeight = 150;
    private const int LineWidth = 560;
    private const int LineHeight = 120;

    /// <summary>How many of a version's windows the score-over-time charts show.</summary>
    public const int HistoryWindows = 100;

    /// <summary>
    /// Most columns drawn with charts (drifted first, then by how close to drifting): every column is in the table, and
    /// the page stays a few hundred kilobytes whatever the schema's width.
    /// </summary>
    public const int MaxChartedColumns = 100;

    /// <summary>
    /// The page of <paramref name="report"/>; <paramref name="history"/> (the version's reports, any order) gives each
    /// column's score over time.
    /// </summary>
    public static string Render(WindowReport report, IReadOnlyList<WindowReport> history)
    {
        var ordered = history.OrderBy(r => r.WindowStart.ToDateTimeOffset()).ToList();
        var html = new StringBuilder();
        var title = $"Drift of {report.Model} {report.Version}, window {Time(report.WindowStart)} – {Time(report.WindowEnd)}";
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>").Append(Encode(title)).Append("</title>");
        html.Append("<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}")
            .Append("td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}.drift{color:#b00020;font-weight:600}")
            .Append(".column{margin:2rem 0;padding-top:1rem;border-top:2px solid #eee}.legend span{margin-right:1rem}")
            .Append(".ref{fill:#7a9cc6}.cur{fill:#e08a3c}</style></head><body>");
        html.Append("<h1>").Append(Encode(title)).Append("</h1>");
        var drifted = report.Columns.Count(c => c.Drifted);
        html.Append(CultureInfo.InvariantCulture, $"<p>{report.Rows:N0} records; <span class=\"{(drifted > 0 ? "drift" : "")}\">{drifted} of {report.Columns.Count} columns drifted</span> ")
            .Append(CultureInfo.InvariantCulture, $"(share {report.DriftShare:P0}; dataset {(report.DatasetDrifted ? "<span class=\"drift\">drifted</span>" : "stable")}).</p>");
        html.Append("<table><thead><tr><th>column</th><th>method</th><th>statistic</th><th>p-value</th><th>threshold</th><th>verdict</th><th>missing</th><th>out of range</th></tr></thead><tbody>");
        foreach (var column in report.Columns)
        {
            html.Append("<tr><td><a href=\"#").Append(Anchor(column.Column)).Append("\">").Append(Encode(column.Column)).Append("</a></td>")
                .Append("<td>").Append(Encode(Method(column.Method))).Append("</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{column.Statistic:G4}</td><td>{(column.HasPValue ? column.PValue.ToString("G3", CultureInfo.InvariantCulture) : "")}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{column.Threshold:G3}</td>")
                .Append(column.Drifted ? "<td class=\"drift\">drifted</td>" : "<td>stable</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{column.MissingRate:P1}</td><td>{column.OutOfRange}</td></tr>");
        }

        html.Append("</tbody></table>");
        Performance(html, report, ordered);
        if (report.Prediction is { } prediction)
        {
            Section(html, prediction, $"Model output: {prediction.Column}", ordered, r => r.Prediction);
        }

        var charted = report.Columns.OrderByDescending(c => c.Drifted).ThenByDescending(Closeness).Take(MaxChartedColumns).ToHashSet();
        if (charted.Count < report.Columns.Count)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<p>Charts follow for {charted.Count} of the {report.Columns.Count} columns: the drifted ones first, then those closest to drifting.</p>");
        }

        foreach (var column in report.Columns.Where(charted.Contains))
        {
            Section(html, column, column.Column, ordered, r => r.Columns.FirstOrDefault(c => c.Column == column.Column));
        }

        html.Append("</body></html>\n");
        return html.ToString();
    }

    // How close a column came to its threshold: a test by its p-value, a distance by its statistic.
    private static double Closeness(ColumnReport column) => column.HasPValue
        ? 1 - column.PValue
        : column.Threshold > 0 ? column.Statistic / column.Threshold : column.Statistic;

    // One column's distributions and its score over time.
    private static void Section(StringBuilder html, ColumnReport column, string heading, List<WindowReport> history, Func<WindowReport, ColumnReport?> select)
    {
        html.Append("<section class=\"column\" id=\"").Append(Anchor(column.Column)).Append("\"><h2>").Append(Encode(heading))
            .Append(column.Drifted ? " <span class=\"drift\">drifted</span>" : "").Append("</h2>");
        if (column.UnseenLabels.Count > 0)
        {
            html.Append("<p>Labels the reference never saw: ").Append(Encode(string.Join(", ", column.UnseenLabels)))
                .Append(column.UnseenLabelCount > column.UnseenLabels.Count
                    ? string.Create(CultureInfo.InvariantCulture, $" and {column.UnseenLabelCount - column.UnseenLabels.Count} more")
                    : "").Append("</p>");
        }

        html.Append("<p class=\"legend\"><span><svg width=\"10\" height=\"10\"><rect class=\"ref\" width=\"10\" height=\"10\"/></svg> reference</span>")
            .Append("<span><svg width=\"10\" height=\"10\"><rect class=\"cur\" width=\"10\" height=\"10\"/></svg> this window</span></p>");
        Bars(html, column);
        Line(html, column, history, select);
        html.Append("</section>");
    }

    // What the labels joined so far say of the window, and the headline metric over the windows that have labels.
    private static void Performance(StringBuilder html, WindowReport report, List<WindowReport> history)
    {
        if (report.Performance is not { Labelled: > 0 } performance)
        {
            if (report.Performance is { Predictions: > 0 })
            {
                html.Append(CultureInfo.InvariantCulture, $"<p>Performance: {report.Performance.Predictions:N0} predictions kept, no label joined yet.</p>");
            }

            return;
        }

        html.Append("<section class=\"performance\"><h2>Performance</h2>");
        html.Append(CultureInfo.InvariantCulture, $"<p>{performance.Labelled:N0} of {performance.Predictions:N0} predictions labelled.</p><table><tbody>");
        var (metric, value) = performance.TaskCase == WindowPerformance.TaskOneofCase.Classification
            ? ("accuracy", (Func<WindowPerformance, double>)(p => p.Classification.Accuracy))
            : ("RMSE", p => p.Regression.Rmse);
        var rows = performance.TaskCase == WindowPerformance.TaskOneofCase.Classification
            ? new (string, double)[]
            {
                ("accuracy", performance.Classification.Accuracy), ("precision", performance.Classification.Precision), ("recall", performance.Classification.Recall),
                ("F1", performance.Classification.F1), ("AUC", performance.Classification.Auc), ("log loss", performance.Classification.LogLoss),
            }
            : [("RMSE", performance.Regression.Rmse), ("MAE", performance.Regression.Mae)];
        foreach (var (name, number) in rows)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><th>{name}</th><td>{(double.IsNaN(number) ? "n/a" : number.ToString("G4", CultureInfo.InvariantCulture))}</td></tr>");
        }

        html.Append("</tbody></table>");
        var points = history.Where(r => r.Performance is { Labelled: > 0 } p && p.TaskCase == performance.TaskCase && double.IsFinite(value(p)))
            .Select(r => (Start: r.WindowStart, Value: value(r.Performance), Drifted: false)).ToList();
        Series(html, points, $"{metric} per labelled window", metric, threshold: null);
        html.Append("</section>");
    }

    // Side-by-side bars of the reference's and the window's share in each bin.
    private static void Bars(StringBuilder html, ColumnReport column)
    {
        var bins = column.Histogram;
        if (bins.Count == 0)
        {
            return;
        }

        var top = Math.Max(bins.Max(b => Math.Max(b.ReferenceShare, b.CurrentShare)), 1e-9);
        var slot = (double)BarWidth / bins.Count;
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{BarWidth}\" height=\"{BarHeight + 40}\" role=\"img\" aria-label=\"distribution of {Encode(column.Column)}\">");
        for (var k = 0; k < bins.Count; k++)
        {
            var x = k * slot;
            var referenceHeight = bins[k].ReferenceShare / top * BarHeight;
            var currentHeight = bins[k].CurrentShare / top * BarHeight;
            html.Append(CultureInfo.InvariantCulture, $"<rect class=\"ref\" x=\"{x + (slot * 0.1):F1}\" y=\"{BarHeight - referenceHeight:F1}\" width=\"{slot * 0.4:F1}\" height=\"{referenceHeight:F1}\"><title>{Encode(bins[k].Label)}: reference {bins[k].ReferenceShare:P1}</title></rect>");
            html.Append(CultureInfo.InvariantCulture, $"<rect class=\"cur\" x=\"{x + (slot * 0.5):F1}\" y=\"{BarHeight - currentHeight:F1}\" width=\"{slot * 0.4:F1}\" height=\"{currentHeight:F1}\"><title>{Encode(bins[k].Label)}: window {bins[k].CurrentShare:P1}</title></rect>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + (slot / 2):F1}\" y=\"{BarHeight + 14}\" font-size=\"9\" text-anchor=\"middle\">{Encode(Short(bins[k].Label))}</text>");
        }

        html.Append("</svg>");
    }

    // The column's p-value (tests) or statistic (distances) in every window so far, with its threshold; drifted windows in red.
    private static void Line(StringBuilder html, ColumnReport column, List<WindowReport> history, Func<WindowReport, ColumnReport?> select)
    {
        var points = history
            .Select(r => (Report: r, Column: select(r)))
            .Where(p => p.Column is not null)
            .Select(p => (Start: p.Report.WindowStart, Value: p.Column!.HasPValue ? p.Column.PValue : p.Column.Statistic, p.Column.Drifted))
            .ToList();
        var label = column.HasPValue ? "p-value" : "statistic";
        Series(html, points, $"{label} per window (threshold {column.Threshold.ToString("G3", CultureInfo.InvariantCulture)})", $"{label} of {column.Column}",
            column.Threshold);
    }

    // A line over windows, with an optional threshold; drifted points in red.
    private static void Series(
        StringBuilder html, List<(Google.Protobuf.WellKnownTypes.Timestamp Start, double Value, bool Drifted)> points, string caption, string label, double? threshold)
    {
        if (points.Count == 0)
        {
            return;
        }

        var top = Math.Max(points.Max(p => p.Value), threshold ?? 0) * 1.1;
        top = top > 0 ? top : 1;
        double X(int i) => points.Count == 1 ? LineWidth / 2.0 : 20 + (i * (LineWidth - 40.0) / (points.Count - 1));
        double Y(double v) => LineHeight - (v / top * LineHeight);
        html.Append("<p>").Append(Encode(caption)).Append("</p>");
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{LineWidth}\" height=\"{LineHeight + 10}\" role=\"img\" aria-label=\"{Encode(label)} over time\">");
        if (threshold is { } limit)
        {
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"0\" x2=\"{LineWidth}\" y1=\"{Y(limit):F1}\" y2=\"{Y(limit):F1}\" stroke=\"#b00020\" stroke-dasharray=\"4 3\"/>");
        }

        html.Append("<polyline fill=\"none\" stroke=\"#333\" points=\"")
            .AppendJoin(' ', points.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $"{X(i):F1},{Y(p.Value):F1}")))
            .Append("\"/>");
        for (var i = 0; i < points.Count; i++)
        {
            html.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(i):F1}\" cy=\"{Y(points[i].Value):F1}\" r=\"{(points[i].Drifted ? 4 : 2.5)}\" fill=\"{(points[i].Drifted ? "#b00020" : "#333")}\"><title>{Time(points[i].Start)}: {points[i].Value:G4}</title></circle>");
        }

        html.Append("</svg>");
    }

    private static string Method(DriftMethod method) => method switch
    {
        DriftMethod.KolmogorovSmirnov => "Kolmogorov–Smirnov",
        DriftMethod.NormedWasserstein => "Wasserstein (normed)",
        DriftMethod.JensenShannon => "Jensen–Shannon",
        DriftMethod.PopulationStabilityIndex => "PSI",
        DriftMethod.ChiSquare => "chi-square",
        DriftMethod.TotalVariation => "total variation",
        DriftMethod.ZTest => "Z-test",
        _ => "",
    };

    private static string Time(Google.Protobuf.WellKnownTypes.Timestamp time) =>
        time.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Short(string label) => label.Length <= 14 ? label : label[..13] + "…";

    private static string Anchor(string column) => "c-" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(column));

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}

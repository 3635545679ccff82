using System.Globalization;
using System.Net;
using System.Text;
using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>
/// Explanations and importance reports as self-contained HTML pages (no script, no external file; charts are inline
/// SVG). A row's waterfall walks from the base value to its margin, one bar per feature in order of |φ| (the smallest
/// folded into "other features"); importance shows mean |φ| as bars and a beeswarm of each row's φ coloured by the
/// feature's value (blue low, red high, grey missing).
/// </summary>
internal static class Pages
{
    private const int Width = 640;
    private const int RowHeight = 20;
    private const int Label = 220;

    /// <summary>Bars of a waterfall before the rest are folded into one.</summary>
    public const int WaterfallBars = 12;

    // " ± se" after a Kernel SHAP estimate.
    private static string StandardError(ModelDescription model, RowExplanation row, string feature) =>
        row.AttributionErrors.Count > 0 && model.Features.IndexOf(feature) is >= 0 and var f
            ? string.Create(CultureInfo.InvariantCulture, $" <span class=\"muted\">± {row.AttributionErrors[f]:G2}</span>")
            : "";

    public static string Explanation(ModelDescription model, IReadOnlyList<RowExplanation> rows, double? threshold)
    {
        var html = Begin($"Explanations of {model.Model.Model} version {model.Model.Version}");
        html.Append(CultureInfo.InvariantCulture,
            $"<p>{Encode(model.Format)} model, {(model.Trees > 0 ? "objective" : "output")} <code>{Encode(model.Objective)}</code>, ")
            .Append(model.Trees > 0 ? string.Create(CultureInfo.InvariantCulture, $"{model.Trees} trees, ") : "")
            .Append(CultureInfo.InvariantCulture, $"sha256 <code>{Encode(model.ArtifactSha256)}</code>. ")
            .Append(model.Method switch
            {
                "exact_interventional" => string.Create(CultureInfo.InvariantCulture,
                    $"Attributions are exact interventional Shapley values (every coalition of features, averaged over {model.BackgroundRows} background rows) in the model's output space"),
                "kernel_shap" => string.Create(CultureInfo.InvariantCulture,
                    $"Attributions are Kernel SHAP estimates ({model.Coalitions} coalitions per row, {model.BackgroundRows} background rows, seed {model.Seed}; each with its standard error) in the model's output space"),
                _ => "Attributions are exact SHAP values (path-dependent TreeSHAP) in the model's margin space",
            })
            .Append(model.Output == "logistic" ? " (log-odds)" : model.Output == "exp" ? " (log)" : "")
            .Append(CultureInfo.InvariantCulture, $": the base value {Number(model.BaseValue)} plus a row's attributions is its margin.")
            .Append(threshold is { } t ? string.Create(CultureInfo.InvariantCulture, $" Decision: prediction ≥ {t:G4}.") : "").Append("</p>");
        foreach (var row in rows)
        {
            html.Append("<section><h2>Row ").Append(row.Row.ToString(CultureInfo.InvariantCulture))
                .Append(row.Id.Length > 0 ? $" — <code>{Encode(row.Id)}</code>" : "").Append("</h2>");
            html.Append(CultureInfo.InvariantCulture, $"<p>Prediction <b>{Number(row.Prediction)}</b> (margin {Number(row.Margin)})")
                .Append(row.HasDecision ? $"; decision <b class=\"{(row.Decision ? "up" : "down")}\">{(row.Decision ? "at or above" : "below")} the threshold</b>" : "")
                .Append(".</p>");
            html.Append("<h3>Reason codes</h3><table><thead><tr><th>#</th><th>feature</th><th>value</th><th>attribution</th><th>meaning</th></tr></thead><tbody>");
            foreach (var reason in row.Reasons)
            {
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr><td>{reason.Rank}</td><td>{Encode(reason.DisplayName)}{(reason.DisplayName != reason.Feature ? $" <span class=\"muted\">({Encode(reason.Feature)})</span>" : "")}</td>")
                    .Append("<td>").Append(reason.HasValue ? Number(reason.Value) : "<span class=\"muted\">missing</span>").Append("</td>")
                    .Append(CultureInfo.InvariantCulture, $"<td class=\"{(reason.Attribution > 0 ? "up" : "down")}\">{Signed(reason.Attribution)}{StandardError(model, row, reason.Feature)}</td><td>{Encode(reason.Description)}</td></tr>");
            }

            html.Append("</tbody></table>");
            if (row.Reasons.Count == 0)
            {
                html.Append("<p class=\"muted\">No feature pushed toward this decision.</p>");
            }

            Waterfall(html, model, row);
            html.Append("</section>");
        }

        return End(html);
    }

    public static string Importance(ImportanceReport report)
    {
        var html = Begin($"Feature importance of {report.Model.Model} version {report.Model.Version}");
        html.Append(CultureInfo.InvariantCulture,
            $"<p>{report.Rows:N0} rows of <code>{Encode(report.Dataset.ArtifactPath)}</code> (tracking run {Encode(report.Dataset.RunId)}, sha256 <code>{Encode(report.DatasetSha256)}</code>); ")
            .Append(CultureInfo.InvariantCulture, $"model sha256 <code>{Encode(report.ModelSha256)}</code>, base value {Number(report.BaseValue)}. Importance is the mean |SHAP value| in the margin space.</p>");
        var features = report.Features.Take(30).ToList();
        var max = features.Count > 0 ? Math.Max(features.Max(f => f.MeanAbs), 1e-300) : 1;
        html.Append("<h2>Mean |SHAP|</h2>");
        html.Append(CultureInfo.InvariantCulture, $"<svg width=\"{Width}\" height=\"{(features.Count * RowHeight) + 10}\" role=\"img\" aria-label=\"mean absolute SHAP value per feature\">");
        for (var i = 0; i < features.Count; i++)
        {
            var y = i * RowHeight;
            var w = features[i].MeanAbs / max * (Width - Label - 80);
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{y + 14}\" text-anchor=\"end\">{Encode(Clip(features[i].DisplayName))}</text>")
                .Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" x=\"{Label}\" y=\"{y + 3}\" width=\"{w:F1}\" height=\"{RowHeight - 6}\"/>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{Label + w + 4:F1}\" y=\"{y + 14}\">{Number(features[i].MeanAbs)}</text>");
        }

        html.Append("</svg>");
        Beeswarm(html, report);
        html.Append("<h2>Every feature</h2><table><thead><tr><th>rank</th><th>feature</th><th>mean |φ|</th><th>mean φ</th><th>φ 5% · 25% · 50% · 75% · 95%</th><th>missing</th><th>drift weight</th></tr></thead><tbody>");
        foreach (var f in report.Features)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{f.Rank}</td><td>{Encode(f.DisplayName)}</td><td>{Number(f.MeanAbs)}</td><td>{Signed(f.Mean)}</td>")
                .Append("<td>").Append(string.Join(" · ", f.Quantiles.Select(Signed))).Append("</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{f.MissingShare:P1}</td><td>{Number(report.Weights.GetValueOrDefault(f.Feature))}</td></tr>");
        }

        html.Append("</tbody></table>");
        return End(html);
    }

    private static void Waterfall(StringBuilder html, ModelDescription model, RowExplanation row)
    {
        var order = Enumerable.Range(0, row.Attributions.Count).Where(f => row.Attributions[f] != 0)
            .OrderByDescending(f => Math.Abs(row.Attributions[f])).ThenBy(f => f).ToList();
        var bars = order.Take(WaterfallBars).Select(f => (Name: model.Features[f], Phi: row.Attributions[f])).ToList();
        if (order.Count > WaterfallBars)
        {
            bars.Add(($"{order.Count - WaterfallBars} other features", order.Skip(WaterfallBars).Sum(f => row.Attributions[f])));
        }

        // Running totals from the base value; the axis spans every total.
        var totals = new List<double> { row.BaseValue };
        foreach (var bar in bars)
        {
            totals.Add(totals[^1] + bar.Phi);
        }

        var (low, high) = (totals.Min(), totals.Max());
        if (high - low < 1e-12)
        {
            (low, high) = (low - 1, high + 1);
        }

        var span = Width - Label - 90;
        double X(double v) => Label + ((v - low) / (high - low) * span);
        var height = ((bars.Count + 2) * RowHeight) + 10;
        html.Append(CultureInfo.InvariantCulture, $"<svg width=\"{Width}\" height=\"{height}\" role=\"img\" aria-label=\"waterfall from the base value to the margin\">");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"14\" text-anchor=\"end\">base value</text><line class=\"axis\" x1=\"{X(row.BaseValue):F1}\" x2=\"{X(row.BaseValue):F1}\" y1=\"2\" y2=\"{height - 4}\"/>")
            .Append(CultureInfo.InvariantCulture, $"<text x=\"{X(row.BaseValue) + 4:F1}\" y=\"14\">{Number(row.BaseValue)}</text>");
        for (var i = 0; i < bars.Count; i++)
        {
            var y = (i + 1) * RowHeight;
            var (from, to) = (totals[i], totals[i + 1]);
            var (x, w) = (Math.Min(X(from), X(to)), Math.Max(Math.Abs(X(to) - X(from)), 1));
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{y + 14}\" text-anchor=\"end\">{Encode(Clip(bars[i].Name))}</text>")
                .Append(CultureInfo.InvariantCulture, $"<rect class=\"{(bars[i].Phi > 0 ? "upbar" : "downbar")}\" x=\"{x:F1}\" y=\"{y + 3}\" width=\"{w:F1}\" height=\"{RowHeight - 6}\"/>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{x + w + 4:F1}\" y=\"{y + 14}\">{Signed(bars[i].Phi)}</text>");
        }

        var last = (bars.Count + 1) * RowHeight;
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{last + 14}\" text-anchor=\"end\">margin</text><line class=\"total\" x1=\"{X(row.Margin):F1}\" x2=\"{X(row.Margin):F1}\" y1=\"{last}\" y2=\"{last + RowHeight}\"/>")
            .Append(CultureInfo.InvariantCulture, $"<text x=\"{X(row.Margin) + 4:F1}\" y=\"{last + 14}\">{Number(row.Margin)}</text></svg>");
    }

    private static void Beeswarm(StringBuilder html, ImportanceReport report)
    {
        if (report.Beeswarm.Count == 0)
        {
            return;
        }

        var all = report.Beeswarm.SelectMany(b => b.Attributions).ToList();
        var (low, high) = (Math.Min(all.Min(), 0), Math.Max(all.Max(), 0));
        if (high - low < 1e-12)
        {
            (low, high) = (low - 1, high + 1);
        }

        var span = Width - Label - 20;
        double X(double v) => Label + ((v - low) / (high - low) * span);
        var height = (report.Beeswarm.Count * RowHeight) + 24;
        html.Append(CultureInfo.InvariantCulture, $"<h2>SHAP values of {report.Beeswarm[0].Attributions.Count:N0} rows</h2>")
            .Append("<p class=\"muted\">Each dot is a row: its attribution for the feature, coloured by the feature's value among the rows (blue low, red high, grey missing).</p>")
            .Append(CultureInfo.InvariantCulture, $"<svg width=\"{Width}\" height=\"{height}\" role=\"img\" aria-label=\"beeswarm of SHAP values\">")
            .Append(CultureInfo.InvariantCulture, $"<line class=\"axis\" x1=\"{X(0):F1}\" x2=\"{X(0):F1}\" y1=\"0\" y2=\"{height - 20}\"/>")
            .Append(CultureInfo.InvariantCulture, $"<text x=\"{Label}\" y=\"{height - 4}\">{Signed(low)}</text><text x=\"{Width - 20}\" y=\"{height - 4}\" text-anchor=\"end\">{Signed(high)}</text>");
        for (var i = 0; i < report.Beeswarm.Count; i++)
        {
            var bee = report.Beeswarm[i];
            var y = (i * RowHeight) + 10;
            var name = report.Features.FirstOrDefault(f => f.Feature == bee.Feature)?.DisplayName ?? bee.Feature;
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Label - 6}\" y=\"{y + 4}\" text-anchor=\"end\">{Encode(Clip(name))}</text>");
            // Rows at the same spot are spread vertically by a deterministic jitter, so the density shows.
            for (var r = 0; r < bee.Attributions.Count; r++)
            {
                var jitter = ((r * 7919) % 13) - 6;
                html.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(bee.Attributions[r]):F1}\" cy=\"{y + (jitter * 0.6):F1}\" r=\"2\" fill=\"{Colour(bee.ValueRanks[r])}\"/>");
            }
        }

        html.Append("</svg>");
    }

    private static string Colour(double rank)
    {
        if (rank < 0)
        {
            return "#aaa";
        }

        var (r, b) = ((int)(40 + (200 * rank)), (int)(240 - (200 * rank)));
        return $"rgb({r},60,{b})";
    }

    private static StringBuilder Begin(string title)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>").Append(Encode(title)).Append("</title>")
            .Append("<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:.5rem 0}")
            .Append("td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}.muted{color:#888}.up{color:#b00020}.down{color:#1f5fa8}")
            .Append("section{margin:2rem 0;padding-top:1rem;border-top:2px solid #eee}.bar{fill:#7a9cc6}.upbar{fill:#d9534f}.downbar{fill:#4a7fc1}")
            .Append(".axis{stroke:#888;stroke-dasharray:3 3}.total{stroke:#222;stroke-width:2}svg text{font-size:12px}</style></head><body>")
            .Append("<h1>").Append(Encode(title)).Append("</h1>");
        return html;
    }

    private static string End(StringBuilder html) => html.Append("</body></html>\n").ToString();

    private static string Clip(string text) => text.Length <= 32 ? text : string.Concat(text.AsSpan(0, 31), "…");

    private static string Number(double value) => value.ToString("G5", CultureInfo.InvariantCulture);

    private static string Signed(double value) => (value > 0 ? "+" : "") + Number(value);

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}

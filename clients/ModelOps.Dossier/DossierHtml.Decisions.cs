using System.Globalization;
using System.Text;

namespace ModelOps.Dossier;

// Section 7: logged decisions and their reason codes.
public static partial class DossierHtml
{
    private static void Decisions(StringBuilder html, DecisionRecords? decisions)
    {
        html.Append("<section id=\"decisions\"><h2>7. Decisions and their reason codes</h2>");
        if (decisions is null)
        {
            html.Append("<p>This dossier was generated before decisions were gathered into dossiers.</p></section>");
            return;
        }

        if (decisions.Unavailable is { } why)
        {
            html.Append("<p>").Append(E(why)).Append("</p></section>");
            return;
        }

        html.Append("<p>Each decision is as the model's decision log (its monitoring policy's <code>decision_log</code>) kept it, explained by the ")
            .Append("version that made it: the features that pushed its score toward the decision, strongest first, with their SHAP values. ")
            .Append("The score is recomputed by the registered model from the logged values; it reproduces the serving system's when they agree.</p>");
        html.Append("<h3>Explanations asked for by request id (LGPD Art. 20 §1)</h3>");
        if (decisions.Requested.Count == 0)
        {
            html.Append("<p>None was asked for. Ask with <code>modelops dossier MODEL VERSION --decision REQUEST_ID</code>, or <code>?decision=</code> on the console's dossier.</p>");
        }

        foreach (var decision in decisions.Requested)
        {
            Decision(html, decision);
        }

        html.Append("<h3>Examples: the version's newest decisions</h3>");
        if (decisions.Examples.Count == 0)
        {
            html.Append("<p>The decision log holds no decision of this version (none is kept unless the model's monitoring policy asks for a log).</p>");
        }

        foreach (var decision in decisions.Examples)
        {
            Decision(html, decision);
        }

        html.Append("</section>");
    }

    private static void Decision(StringBuilder html, DecisionFacts d)
    {
        html.Append("<article class=\"request\"><h4>Request ").Append(E(d.RequestId)).Append("</h4>");
        if (d.Version.Length == 0)
        {
            html.Append("<p>").Append(E(d.Unexplained)).Append("</p></article>");
            return;
        }

        html.Append("<dl>");
        Row(html, "Decided at", Time(d.DecidedAt));
        Row(html, "Version", d.Version);
        Row(html, "Decision", d.Describe());
        Row(html, "Score logged by the serving system", d.LoggedPrediction is { } logged ? F(logged) : "none logged");
        Row(html, "Reproduced by the registered model", d.Unexplained.Length > 0 ? "not explained"
            : d.LoggedPrediction is null ? "nothing to compare: no score was logged"
            : d.Reproduced ? "yes" : "no: the serving system's score differs");
        if (d.Method.Length > 0)
        {
            Row(html, "Explanation method", d.Method);
        }

        if (d.Labels.Count > 0)
        {
            Row(html, "Categorical values", string.Join(", ", d.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key} = {l.Value}")));
        }

        html.Append("</dl>");
        if (d.Unexplained.Length > 0)
        {
            html.Append("<p>Not explained: ").Append(E(d.Unexplained)).Append("</p></article>");
            return;
        }

        Table(html, ["Rank", "Feature", "What it is", "Value", "SHAP value"], d.Reasons.Select(r => new[]
        {
            r.Rank.ToString(CultureInfo.InvariantCulture), r.DisplayName == r.Feature ? r.Feature : $"{r.DisplayName} ({r.Feature})", r.Description,
            r.Value is { } v ? F(v) : "missing", F(r.Attribution),
        }));
        html.Append("</article>");
    }
}

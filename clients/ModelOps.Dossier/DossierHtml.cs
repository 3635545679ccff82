using System.Globalization;
using System.Net;
using System.Text;

namespace ModelOps.Dossier;

/// <summary>
/// The dossier as one self-contained HTML page: no script, style sheet, font or image from elsewhere, so it opens and
/// prints the same offline, years later. The JSON bundle is embedded in it (<c>script#modelops-dossier</c>), so the page
/// alone can be verified; it prints cleanly to PDF (<c>chromium --headless --print-to-pdf</c>).
/// </summary>
public static partial class DossierHtml
{
    /// <summary>The page of <paramref name="dossier"/>.</summary>
    public static string Render(AuditDossier dossier)
    {
        var html = new StringBuilder(64 * 1024);
        var title = $"Audit dossier: {dossier.Model.Name} version {dossier.Version.Version}";
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">")
            .Append("<title>").Append(E(title)).Append("</title><style>").Append(Style).Append("</style></head><body><main>");
        html.Append("<h1>").Append(E(title)).Append("</h1>");
        html.Append("<p class=\"meta\">Generated ").Append(E(Time(dossier.GeneratedAt))).Append(" for ").Append(E(dossier.GeneratedBy))
            .Append(". Every ledger entry below carries an inclusion proof against the signed checkpoint of section 9.</p>");

        Card(html, dossier);
        Provenance(html, dossier.Run);
        Artifacts(html, dossier);
        Promotions(html, dossier.Promotions);
        Deployments(html, dossier.Deployments);
        Monitoring(html, dossier.Monitoring);
        Decisions(html, dossier.Decisions);
        Ledger(html, dossier);
        Requirements(html);

        html.Append("</main><script type=\"application/json\" id=\"modelops-dossier\">")
            // The serializer escapes <, > and & (\u003C ...): the bundle cannot close the script element.
            .Append(dossier.ToJson())
            .Append("</script></body></html>");
        return html.ToString();
    }

    private static void Card(StringBuilder html, AuditDossier dossier)
    {
        var m = dossier.Model;
        var v = dossier.Version;
        html.Append("<section id=\"card\"><h2>1. Model card</h2><dl>");
        Row(html, "Purpose", m.Description.Length > 0 ? m.Description : "(the registry holds no description)");
        Row(html, "Intended use", m.IntendedUse ?? "(no intended_use tag)");
        Row(html, "Limitations", m.Limitations ?? "(no limitations tag)");
        Row(html, "Owner", m.Owner);
        Row(html, "Risk tier", m.RiskTier);
        Row(html, "Version", $"{v.Version}, stage {v.Stage}{(v.Aliases.Count > 0 ? ", aliases " + string.Join(", ", v.Aliases.Select(a => "@" + a)) : "")}");
        Row(html, "Registered", $"{Time(v.CreatedAt)} by {v.CreatedBy}");
        Row(html, "Training run", $"{v.RunId} by {v.RunAuthor}");
        Row(html, "Model artifact", $"{v.ArtifactPath} ({v.ArtifactSize.ToString(CultureInfo.InvariantCulture)} bytes), SHA-256 {v.ArtifactSha256}");
        Row(html, "Run record", $"SHA-256 {v.RunRecordSha256}");
        html.Append("</dl>");

        html.Append("<h3>Training data</h3>");
        if (dossier.Run is not { Datasets.Count: > 0 } run)
        {
            html.Append("<p>The run recorded no dataset.</p>");
        }
        else
        {
            Table(html, ["Dataset", "Use", "Hash", "Snapshot", "Source"],
                run.Datasets.Select(d => new[] { d.DatasetId, d.Context, d.Hash, Time(d.SnapshotAt), d.SourceUri }));
        }

        html.Append("<h3>Metrics</h3>");
        if (dossier.Run is not { Metrics.Count: > 0 } measured)
        {
            html.Append("<p>The run logged no metric.</p>");
        }
        else
        {
            Table(html, ["Metric", "Latest value", "Step"],
                measured.Metrics.Select(x => new[] { x.Key, x.Value.ToString("G6", CultureInfo.InvariantCulture), x.Step.ToString(CultureInfo.InvariantCulture) }));
        }

        html.Append("</section>");
    }

    private static void Provenance(StringBuilder html, RunFacts? run)
    {
        html.Append("<section id=\"provenance\"><h2>2. Provenance</h2>");
        if (run is null)
        {
            html.Append("<p>The version names no run.</p></section>");
            return;
        }

        html.Append("<p>Run <code>").Append(E(run.RunId)).Append("</code> (").Append(E(run.Name)).Append("), ").Append(E(run.Status))
            .Append(", by ").Append(E(run.Author)).Append(", ").Append(E(Time(run.StartedAt))).Append(" to ").Append(E(Time(run.EndedAt))).Append(".</p>");
        html.Append("<p><strong>Missing mandatory fields:</strong> ")
            .Append(run.ProvenanceMissing.Count == 0 ? "none" : E(string.Join(", ", run.ProvenanceMissing))).Append("</p>");
        Table(html, ["Field", "Value"], run.Provenance.Select(p => new[] { p.Key, p.Value }));
        if (run.Params.Count > 0)
        {
            html.Append("<h3>Parameters</h3>");
            Table(html, ["Parameter", "Value"], run.Params.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new[] { p.Key, p.Value }));
        }

        html.Append("</section>");
    }

    private static void Artifacts(StringBuilder html, AuditDossier dossier)
    {
        html.Append("<section id=\"artifacts\"><h2>3. Artifacts</h2>");
        Table(html, ["Path", "Bytes", "SHA-256"],
            dossier.Artifacts.Select(a => new[] { a.Path, a.Size.ToString(CultureInfo.InvariantCulture), a.Sha256 }));
        html.Append("</section>");
    }

    private static void Promotions(StringBuilder html, IReadOnlyList<PromotionFacts> promotions)
    {
        html.Append("<section id=\"promotions\"><h2>4. Validation: promotion gates, evidence and approvals</h2>");
        if (promotions.Count == 0)
        {
            html.Append("<p>No promotion was requested for this version.</p>");
        }

        foreach (var p in promotions)
        {
            html.Append("<article class=\"request\"><h3>To ").Append(E(p.Target)).Append(": ").Append(E(p.State)).Append("</h3><dl>");
            Row(html, "Request", p.RequestId);
            Row(html, "Requested", $"{Time(p.CreatedAt)} by {p.Requester}");
            Row(html, "Justification", p.Justification);
            Row(html, "Policy version", p.PolicyVersion.ToString(CultureInfo.InvariantCulture));
            if (p.DecidedBy.Length > 0)
            {
                Row(html, "Decided", $"{Time(p.DecidedAt)} by {p.DecidedBy}{(p.DecisionComment.Length > 0 ? ": " + p.DecisionComment : "")}");
            }

            html.Append("</dl>");
            Table(html, ["Gate", "Kind", "Result", "Reason", "Evidence"], p.Gates.Select(g => new[]
            {
                g.Name, g.Kind, g.Status, g.Reason, string.Join("\n", g.Evidence.Select(e => $"{e.Key} = {e.Value}")),
            }));
            html.Append("<h4>Approvals</h4>");
            if (p.Approvals.Count == 0)
            {
                html.Append("<p>None.</p>");
            }
            else
            {
                Table(html, ["Reviewer", "When", "Comment"], p.Approvals.Select(a => new[] { a.Reviewer, Time(a.At), a.Comment }));
            }

            html.Append("</article>");
        }

        html.Append("</section>");
    }

    private static void Deployments(StringBuilder html, IReadOnlyList<DeploymentFacts> deployments)
    {
        html.Append("<section id=\"deployments\"><h2>5. Deployment history</h2>");
        if (deployments.Count == 0)
        {
            html.Append("<p>The version has held no stage or alias.</p>");
        }
        else
        {
            Table(html, ["Stage or alias", "From", "Until", "Decided by", "Request", "Override reason"], deployments.Select(d => new[]
            {
                d.Target, Time(d.Since), d.Until is null ? "now" : Time(d.Until), d.DecidedBy, d.RequestId, d.OverrideReason,
            }));
        }

        html.Append("</section>");
    }

    private static void Monitoring(StringBuilder html, MonitoringFacts m)
    {
        const int width = 480, height = 120;
        html.Append("<section id=\"monitoring\"><h2>6. Production monitoring</h2>");
        html.Append("<h3>Data drift</h3>");
        if (m.DriftWindows.Count == 0)
        {
            html.Append("<p>Drift has judged no window of this version.</p>");
        }
        else
        {
            var share = ChartGeometry.Of(m.DriftWindows.Select((w, i) => ((double)i + 1, w.DriftShare)), width, height);
            html.Append("<figure>").Append(share.Svg("Share of drifted columns per window", width, height))
                .Append("<figcaption>Share of drifted columns, windows 1 to ").Append(m.DriftWindows.Count.ToString(CultureInfo.InvariantCulture))
                .Append(": ").Append(F(share.MinY)).Append(" to ").Append(F(share.MaxY)).Append("</figcaption></figure>");
            Table(html, ["Window", "Rows", "Drift share", "Drifted", "Drifted columns", "Labelled", "Accuracy"], m.DriftWindows.Select(w => new[]
            {
                $"{Time(w.Start)} – {Time(w.End)}", w.Rows.ToString(CultureInfo.InvariantCulture), F(w.DriftShare), w.Drifted ? "yes" : "no",
                string.Join(", ", w.DriftedColumns), w.Labelled.ToString(CultureInfo.InvariantCulture), w.Accuracy is { } a ? F(a) : "",
            }));
        }

        html.Append("<h3>Concept drift</h3>");
        Table(html, ["Detector", "State", "Drifts", "Last drift"], m.Detectors.Select(d => new[]
        {
            d.Detector, d.State, d.Drifts.ToString(CultureInfo.InvariantCulture), Time(d.LastDriftAt),
        }));

        html.Append("<h3>Fairness</h3>");
        if (m.Fairness.Count == 0)
        {
            html.Append("<p>No fairness report of this version.</p>");
        }

        foreach (var report in m.Fairness)
        {
            html.Append("<h4>").Append(E(report.WindowStart is null ? $"Report {report.ReportId}" : $"Window {Time(report.WindowStart)} – {Time(report.WindowEnd)}"))
                .Append(report.Biased ? " (outside the policy's limits)" : "").Append(", ").Append(report.Rows.ToString(CultureInfo.InvariantCulture)).Append(" rows</h4>");
            Table(html, ["Grouping", "Disparity", "Value", "95% interval", "Resamples"], report.Disparities.Select(d => new[]
            {
                d.Grouping, d.Name, d.Value is { } v ? F(v) : "undefined", d.Lower is { } lo && d.Upper is { } hi ? $"[{F(lo)}, {F(hi)}]" : "",
                d.Resamples.ToString(CultureInfo.InvariantCulture),
            }));
        }

        html.Append("<h3>Explanations</h3>");
        if (m.Importance is { } importance)
        {
            html.Append("<p>Global importance (mean |SHAP|) over ").Append(importance.Rows.ToString(CultureInfo.InvariantCulture))
                .Append(" rows, ").Append(E(Time(importance.CreatedAt))).Append(".</p>");
            Table(html, ["Rank", "Feature", "Mean |SHAP|"], importance.Features.Select(f => new[]
            {
                f.Rank.ToString(CultureInfo.InvariantCulture), f.DisplayName.Length > 0 ? $"{f.DisplayName} ({f.Feature})" : f.Feature, F(f.MeanAbs),
            }));
        }
        else
        {
            html.Append("<p>No importance report of this version.</p>");
        }

        Table(html, ["Window", "Records", "Shift", "Top-feature overlap", "Drifted", "Note"], m.AttributionWindows.Select(w => new[]
        {
            $"{Time(w.Start)} – {Time(w.End)}", w.Records.ToString(CultureInfo.InvariantCulture), w.Judged ? F(w.Shift) : "", w.Judged ? F(w.Overlap) : "",
            w.Judged ? (w.Drifted ? "yes" : "no") : "not judged", w.Reason,
        }));

        html.Append("<h3>Alerts</h3>");
        Table(html, ["Alert", "Severity", "From", "Until", "Summary"], m.Alerts.Select(a => new[]
        {
            a.Name, a.Severity, Time(a.StartsAt), a.EndsAt is { } end && end < DateTimeOffset.UtcNow ? Time(end) : "active", a.Summary,
        }));
        html.Append("</section>");
    }

    private static string F(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    private static void Ledger(StringBuilder html, AuditDossier dossier)
    {
        var l = dossier.Ledger;
        html.Append("<section id=\"ledger\"><h2>8. Ledger entries</h2>");
        Table(html, ["Index", "Event", "Actor", "When", "Leaf hash (SHA-256)"], l.Entries.Select(e => new[]
        {
            e.Index.ToString(CultureInfo.InvariantCulture), e.EventType, e.Actor, Time(e.OccurredAt),
            Convert.ToHexStringLower(global::ModelOps.Ledger.Verification.MerkleTree.LeafHash(e.Data)),
        }));
        html.Append("</section><section id=\"checkpoint\"><h2>9. Signed checkpoint and how to verify</h2>");
        html.Append("<p>Log <code>").Append(E(l.Origin)).Append("</code>, ").Append(l.TreeSize.ToString(CultureInfo.InvariantCulture))
            .Append(" entries. The checkpoint, a C2SP signed note:</p><pre>").Append(E(l.Checkpoint)).Append("</pre>");
        html.Append("<p>Verifier key: <code>").Append(E(l.VerifierKey)).Append("</code>. Pin the key you obtained from the log's operator, not this copy.</p>");
        html.Append("<p>Save the JSON bundle (embedded in this page, and exported beside it) and run, offline:</p><pre>modelops ledger verify --bundle ")
            .Append(E($"{dossier.Model.Name}-v{dossier.Version.Version}.dossier.json --key '{l.VerifierKey}'")).Append("</pre></section>");
    }

    // Which section answers which requirement. The dossier supports these duties; it is not a certification of compliance.
    private static void Requirements(StringBuilder html)
    {
        html.Append("<section id=\"requirements\"><h2>10. What this dossier documents</h2>");
        Table(html, ["Requirement", "Where"],
        [
            ["Model inventory (model-risk management guidance such as the US Federal Reserve's SR 11-7, and Brazil's CMN Resolution 4,557 on risk management)", "1. Model card: owner, purpose, risk tier, training data"],
            ["Validation evidence before use", "4. Gates with their evidence, and the approvals of distinct reviewers; 6. fairness with intervals and global importance"],
            ["Ongoing monitoring and change control", "5. Deployment history; 6. production monitoring (drift, concept drift, fairness, explanations, alerts); 8. every governance event about the version"],
            ["Right to clear information on the criteria and procedures of an automated decision (Brazil's LGPD, Art. 20 §1)", "7. Decisions: for a request id, the decision, the version that made it, its reason codes, and whether the registered model reproduces the logged prediction; examples of the version's reason codes"],
            ["Traceability and integrity of records", "2. Provenance; 3. artifact hashes; 8–9. ledger entries with inclusion proofs"],
        ]);
        html.Append("<p class=\"meta\">ModelOps holds no certification. This dossier gathers records that support these duties; ")
            .Append("whether they are met is for the institution and its auditors to judge. A decision's explanation answers what the model did; ")
            .Append("the review of a decision by a person (LGPD Art. 20, caput) is the institution's process, not this record.</p></section>");
    }

    private static void Row(StringBuilder html, string name, string value) =>
        html.Append("<dt>").Append(E(name)).Append("</dt><dd>").Append(E(value)).Append("</dd>");

    private static void Table(StringBuilder html, string[] header, IEnumerable<string[]> rows)
    {
        html.Append("<table><thead><tr>");
        foreach (var h in header)
        {
            html.Append("<th scope=\"col\">").Append(E(h)).Append("</th>");
        }

        html.Append("</tr></thead><tbody>");
        var any = false;
        foreach (var row in rows)
        {
            any = true;
            html.Append("<tr>");
            foreach (var cell in row)
            {
                html.Append("<td>").Append(E(cell).Replace("\n", "<br>", StringComparison.Ordinal)).Append("</td>");
            }

            html.Append("</tr>");
        }

        if (!any)
        {
            html.Append("<tr><td colspan=\"").Append(header.Length.ToString(CultureInfo.InvariantCulture)).Append("\">None.</td></tr>");
        }

        html.Append("</tbody></table>");
    }

    private static string Time(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "";

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    private const string Style = """
        body{font-family:"Segoe UI",system-ui,sans-serif;color:#1b1b1b;margin:0;background:#fff}
        main{max-width:60rem;margin:0 auto;padding:1.5rem}
        h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;border-bottom:2px solid #0f6cbd;padding-bottom:.2rem;margin-top:2rem}
        h3{font-size:1.05rem}h4{font-size:.95rem;margin-bottom:.3rem}.meta{color:#555;font-size:.9rem}
        dl{display:grid;grid-template-columns:12rem 1fr;gap:.25rem .75rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
        table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.85rem}th,td{border:1px solid #ccc;padding:.3rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
        th{background:#f0f4f8}pre,code{font-family:Consolas,"DejaVu Sans Mono",monospace;font-size:.8rem;overflow-wrap:anywhere;white-space:pre-wrap}
        article.request{border-left:3px solid #0f6cbd;padding-left:.75rem;margin:1rem 0}
        @media print{main{max-width:none;padding:0}h2{break-after:avoid}tr,article.request{break-inside:avoid}}
        """;
}

using ModelOps.Dossier;
using ModelOps.Ledger.Verification;
using ModelOps.Testing;

namespace ModelOps.Unit.Tests;

/// <summary>The committed example dossier (samples/credit-risk/dossier) verifies offline, and any change to it is caught.</summary>
public sealed class DossierTests
{
    // The sample stack's verifier key, as `modelops stack` printed it when the example was exported: pinned, not read from the file.
    private const string SampleVerifierKey = "modelops.local/ledger+a324e1a4+AT+HZ+pQIY9aNmAN1TiR+GgCJHnvNmiloPuttMzFpix3";

    private static string Example => File.ReadAllText(Path.Combine(ChildProcess.RepositoryRoot(), "samples", "credit-risk", "dossier", "credit-risk-v1.dossier.json"));

    [Fact]
    public void TheExampleDossierVerifiesOfflineWithThePinnedKey()
    {
        var dossier = AuditDossier.Parse(Example);
        var check = DossierVerification.Verify(dossier.Ledger, new NoteVerifier(SampleVerifierKey));
        Assert.True(check.Passed, string.Join("\n", check.Problems));
        Assert.Equal(dossier.Ledger.Entries.Count, check.Verified.Count);
        Assert.Contains(dossier.Ledger.Entries, e => e.EventType.EndsWith("PromotionDecided", StringComparison.Ordinal));
        Assert.Equal(("credit-risk", 1, "Production"), (dossier.Model.Name, dossier.Version.Version, dossier.Version.Stage));
    }

    [Fact]
    public void AChangedEntryAProofOrAnotherKeyIsCaught()
    {
        var dossier = AuditDossier.Parse(Example);
        var entry = dossier.Ledger.Entries[^1];
        var data = (byte[])entry.Data.Clone();
        data[data.Length / 2] ^= 1;
        var altered = dossier.Ledger with { Entries = [.. dossier.Ledger.Entries.SkipLast(1), entry with { Data = data }] };
        Assert.Contains(DossierVerification.Verify(altered, new NoteVerifier(SampleVerifierKey)).Problems, p => p.Contains($"Entry {entry.Index}", StringComparison.Ordinal));

        var proof = entry.InclusionProof.Select(h => (byte[])h.Clone()).ToList();
        proof[0][0] ^= 1;
        var badProof = dossier.Ledger with { Entries = [.. dossier.Ledger.Entries.SkipLast(1), entry with { InclusionProof = proof }] };
        Assert.False(DossierVerification.Verify(badProof, new NoteVerifier(SampleVerifierKey)).Passed);

        // The entry's data is genuine, but the dossier shows it as another actor's.
        var relabelled = dossier.Ledger with { Entries = [.. dossier.Ledger.Entries.SkipLast(1), entry with { Actor = "someone-else" }] };
        Assert.False(DossierVerification.Verify(relabelled, new NoteVerifier(SampleVerifierKey)).Passed);

        var (_, otherKey) = NoteKeys.Generate("modelops.local/ledger");
        var signedByOther = DossierVerification.Verify(dossier.Ledger, new NoteVerifier(otherKey));
        Assert.Null(signedByOther.Checkpoint);
        Assert.False(signedByOther.Passed);
    }

    [Fact]
    public void ThePageEscapesWhatItShowsAndItsEmbeddedBundleCannotCloseItsScript()
    {
        var dossier = AuditDossier.Parse(Example);
        dossier = dossier with { Model = dossier.Model with { Description = "</script><script>alert(1)</script>" } };
        var html = DossierHtml.Render(dossier);
        Assert.DoesNotContain("<script>alert(1)", html, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "</script>"));
        Assert.Contains("&lt;/script&gt;", html, StringComparison.Ordinal);
        var embedded = html[(html.IndexOf("id=\"modelops-dossier\">", StringComparison.Ordinal) + 22)..html.LastIndexOf("</script>", StringComparison.Ordinal)];
        Assert.Equal(dossier.Model.Description, AuditDossier.Parse(embedded).Model.Description);
    }

    [Fact]
    public void TheDecisionsSectionShowsEachDecisionItsScoreAndItsReasonCodesOrWhyNone()
    {
        var example = AuditDossier.Parse(Example);
        var declined = new DecisionFacts("req-<7>", "1", new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero), 0.8123, 0.8123, 0.5, true, true,
            "tree_path_dependent", [new ReasonFacts(1, "debt_ratio", "Debt ratio", "Debt <over> income", 0.61, 1.25), new ReasonFacts(2, "age", "age", "", null, 0.3)],
            new Dictionary<string, string> { ["region"] = "north" }, "");
        var altered = declined with { RequestId = "req-8", LoggedPrediction = 0.1, Reproduced = false };
        var missing = new DecisionFacts("nobody", "", null, null, null, null, null, false, "", [], new Dictionary<string, string>(), "credit-risk has no logged decision for request 'nobody'");
        var html = DossierHtml.Render(example with { Decisions = new DecisionRecords([altered], [declined, missing], null) });
        var section = html[html.IndexOf("<section id=\"decisions\">", StringComparison.Ordinal)..html.IndexOf("<section id=\"ledger\">", StringComparison.Ordinal)];
        Assert.Contains("Request req-&lt;7&gt;", section, StringComparison.Ordinal);
        Assert.Contains("positive: score 0.8123 ≥ threshold 0.5", section, StringComparison.Ordinal);
        Assert.Contains("<td>Debt ratio (debt_ratio)</td><td>Debt &lt;over&gt; income</td><td>0.61</td><td>1.25</td>", section, StringComparison.Ordinal);
        Assert.Contains("<td>age</td><td></td><td>missing</td><td>0.3</td>", section, StringComparison.Ordinal);
        Assert.Contains("region = north", section, StringComparison.Ordinal);
        Assert.Contains("no: the serving system&#39;s score differs", section, StringComparison.Ordinal);
        Assert.Contains("has no logged decision for request &#39;nobody&#39;", section, StringComparison.Ordinal);
        Assert.True(section.IndexOf("req-&lt;7&gt;", StringComparison.Ordinal) < section.IndexOf("Examples", StringComparison.Ordinal));
        Assert.Contains("LGPD, Art. 20 &#167;1", html, StringComparison.Ordinal);

        var refused = DossierHtml.Render(example with { Decisions = new DecisionRecords([], [], "only auditors may read them") });
        Assert.Contains("<p>only auditors may read them</p>", refused, StringComparison.Ordinal);
        Assert.Contains("generated before decisions were gathered", DossierHtml.Render(example with { Decisions = null }), StringComparison.Ordinal);
        var round = AuditDossier.Parse((example with { Decisions = new DecisionRecords([altered], [declined, missing], null) }).ToJson()).Decisions!;
        Assert.Equal(("req-<7>", 1.25, "north", false), (round.Requested[0].RequestId, round.Requested[0].Reasons[0].Attribution, round.Requested[0].Labels["region"], round.Examples[0].Reproduced));
    }

    [Fact]
    public void TheRequestIdsADossierExplainsAreBoundedBeforeAnyCall()
    {
        Assert.Null(DossierDecisions.Problem([]));
        Assert.Null(DossierDecisions.Problem([.. Enumerable.Range(0, 19).Select(i => $"r{i}"), new string('x', 200)]));
        Assert.Equal("at most 20 request ids, not 21", DossierDecisions.Problem([.. Enumerable.Range(0, 21).Select(i => $"r{i}")]));
        Assert.Equal("a request id is 1 to 200 characters, not 201", DossierDecisions.Problem(["ok", new string('x', 201)]));
        Assert.Equal("a request id is 1 to 200 characters, not 0", DossierDecisions.Problem([""]));
    }
}

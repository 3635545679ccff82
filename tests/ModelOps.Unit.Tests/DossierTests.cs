using ModelOps.Dossier;
using ModelOps.Ledger.Verification;
using ModelOps.Testing;

namespace ModelOps.Unit.Tests;

/// <summary>The committed example dossier (samples/credit-risk/dossier) verifies offline, and any change to it is caught.</summary>
public sealed class DossierTests
{
    // The sample stack's verifier key, as `modelops stack` printed it when the example was exported: pinned, not read from the file.
    private const string SampleVerifierKey = "modelops.local/ledger+89fa7b2e+ARg2jK0e0lCIpAGP0E1m81vYIATpz91kiF2wlEQG+6Nh";

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
}

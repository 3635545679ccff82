using ModelOps.Ledger.Verification;

namespace ModelOps.AppHost.Hosting;

/// <summary>The ledger's checkpoint signing key, kept in the state folder like every other local secret.</summary>
public static class LedgerSigningKey
{
    /// <summary>
    /// Gives the ledger its origin and a signing key file (created on first run, kept after), and shows the verifier
    /// key that auditors pin in the summary.
    /// </summary>
    public static ProjectResource WithLedgerSigningKey(this ProjectResource ledger, ResourceContext context, string origin)
    {
        var path = Path.Combine(context.DirectoryFor(ledger.Name), "signing.key");
        if (!File.Exists(path))
        {
            var (signerKey, _) = NoteKeys.Generate(origin);
            File.WriteAllText(path, signerKey + "\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var verifierKey = new NoteSigner(File.ReadAllText(path).Trim()).VerifierKey;
        return ledger
            .WithEnvironment("Ledger__Origin", origin)
            .WithEnvironment("Ledger__SigningKeyPath", path)
            .WithNote("verifier key", verifierKey);
    }
}

using ModelOps.Ledger.Verification;

namespace ModelOps.Hosting.Local;

/// <summary>The ledger's checkpoint signing key, kept in a state folder like every other local secret.</summary>
public static class LedgerSigningKey
{
    /// <summary>
    /// The signer key file at <paramref name="path"/> for a log named <paramref name="origin"/> (created on first use,
    /// readable by its owner only, kept after), and the verifier key that auditors pin.
    /// </summary>
    public static string LoadOrCreate(string path, string origin)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var (signerKey, _) = NoteKeys.Generate(origin);
            PrivateFile.Write(path, signerKey + "\n");
        }

        return new NoteSigner(File.ReadAllText(path).Trim()).VerifierKey;
    }
}

using ModelOps.Dossier;
using ModelOps.Ledger.Verification;

namespace ModelOps.Cli.Ledger;

/// <summary>
/// <c>ledger verify --bundle</c> given an audit dossier: it holds only the entries about one version, each with its
/// inclusion proof, so each proof is checked against the signed checkpoint (the whole log's root cannot be recomputed
/// from a part of it).
/// </summary>
public static class DossierBundle
{
    /// <summary>A dossier is at most this large; a larger file is refused before it is read.</summary>
    public const long MaxBytes = 256L << 20;

    /// <summary>Whether the file is an audit dossier (its first member names the format).</summary>
    public static async Task<bool> IsDossierAsync(string path, CancellationToken cancellationToken)
    {
        var head = new byte[256];
        await using var stream = File.OpenRead(path);
        var read = await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken);
        return System.Text.Encoding.UTF8.GetString(head, 0, read).Contains($"\"{AuditDossier.FormatName}\"", StringComparison.Ordinal);
    }

    /// <summary>Verifies the dossier at <paramref name="path"/> with the pinned <paramref name="key"/> (or, with a warning, the one it names).</summary>
    public static async Task<int> VerifyAsync(string path, string? key, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (new FileInfo(path).Length > MaxBytes)
        {
            await error.WriteLineAsync($"{path} is larger than {MaxBytes >> 20} MiB: not a dossier.");
            return ModelOpsCli.UsageOrConnectionError;
        }

        var dossier = AuditDossier.Parse(await File.ReadAllTextAsync(path, cancellationToken));
        string trusted;
        if (key is not null)
        {
            trusted = key.StartsWith('@') ? (await File.ReadAllTextAsync(key[1..], cancellationToken)).Trim() : key;
        }
        else
        {
            trusted = dossier.Ledger.VerifierKey;
            await error.WriteLineAsync(
                $"warning: no --key given; trusting the key the dossier names ({trusted}). Pin it with --key to detect a replaced key.");
        }

        var check = DossierVerification.Verify(dossier.Ledger, new NoteVerifier(trusted));
        if (check.Checkpoint is { } checkpoint)
        {
            await output.WriteLineAsync($"Checkpoint {checkpoint.Origin} size {checkpoint.Size} root {Convert.ToHexStringLower(checkpoint.RootHash)}: signature valid.");
        }

        foreach (var line in check.Verified)
        {
            await output.WriteLineAsync(line);
        }

        if (!check.Passed)
        {
            foreach (var problem in check.Problems)
            {
                await error.WriteLineAsync($"FAILED: {problem}");
            }

            return ModelOpsCli.VerificationFailed;
        }

        await output.WriteLineAsync(
            $"OK: the dossier of {dossier.Model.Name} version {dossier.Version.Version}: {check.Verified.Count} entries proven included in {check.Checkpoint!.Origin}.");
        return 0;
    }
}

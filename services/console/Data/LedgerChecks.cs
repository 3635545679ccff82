using ModelOps.Ledger.Verification;

namespace ModelOps.Console.Data;

/// <summary>What the ledger page's "verify" found.</summary>
/// <param name="Note">The latest checkpoint, verbatim.</param>
/// <param name="Size">The tree size it commits to.</param>
/// <param name="Key">The verifier key it was checked with.</param>
/// <param name="KeyPinned">Whether that key was pinned by the console's configuration (else the ledger named it).</param>
/// <param name="SeenSize">The size of the checkpoint this browser saw last, when it sent one.</param>
/// <param name="Proof">The consistency proof from that size to <paramref name="Size"/>, as hex.</param>
/// <param name="Problems">What failed; empty when the checkpoint is signed and extends the one seen.</param>
/// <param name="Steps">What was checked, in order.</param>
public sealed record LedgerCheck(
    string Note, long Size, string Key, bool KeyPinned, long? SeenSize, IReadOnlyList<string> Proof, IReadOnlyList<string> Problems, IReadOnlyList<string> Steps)
{
    /// <summary>Whether every check held.</summary>
    public bool Passed => Problems.Count == 0;
}

/// <summary>The ledger page's checks, apart from how the checkpoints and proof were fetched.</summary>
public static class LedgerChecks
{
    /// <summary>A check that failed before any proof was asked for.</summary>
    public static LedgerCheck Fail(ModelOps.Ledger.V1.Checkpoint latest, string key, bool pinned, string problem) =>
        new(latest.Note, latest.TreeSize, key, pinned, null, [], [problem], []);

    /// <summary>
    /// Checks that <paramref name="note"/> is signed by <paramref name="key"/>, and, when <paramref name="seen"/> is given
    /// (already verified), that the log it commits to extends <paramref name="seen"/>'s by <paramref name="proof"/>
    /// (RFC 9162 §2.1.4.2).
    /// </summary>
    public static LedgerCheck Check(string note, long size, string key, bool pinned, Checkpoint? seen, IReadOnlyList<byte[]> proof)
    {
        var steps = new List<string>();
        var problems = new List<string>();
        Checkpoint latest;
        try
        {
            latest = Checkpoint.Open(note, new NoteVerifier(key));
        }
        catch (Exception exception) when (exception is NoteException or FormatException or ArgumentException)
        {
            return new LedgerCheck(note, size, key, pinned, seen?.Size, [], [$"The latest checkpoint does not verify: {exception.Message}"], steps);
        }

        steps.Add($"The checkpoint of size {latest.Size} is signed by {(pinned ? "the pinned key" : "the key the ledger names")}.");
        if (seen is not null)
        {
            if (seen.Origin != latest.Origin)
            {
                problems.Add($"The checkpoint this browser saw is of another log ({seen.Origin}).");
            }
            else if (seen.Size > latest.Size)
            {
                problems.Add($"This browser saw {seen.Size} entries, the log now has {latest.Size}: it was truncated or forked.");
            }
            else if (seen.Size == latest.Size)
            {
                if (seen.RootHash.AsSpan().SequenceEqual(latest.RootHash))
                {
                    steps.Add("The log has not grown since this browser's last check; its root is unchanged.");
                }
                else
                {
                    problems.Add($"Two checkpoints of size {latest.Size} have different roots: the log was forked.");
                }
            }
            else if (seen.Size == 0 || MerkleTree.VerifyConsistency(seen.Size, latest.Size, seen.RootHash, latest.RootHash, proof))
            {
                steps.Add($"The log of {latest.Size} entries extends the {seen.Size} this browser saw (consistency proof of {proof.Count} hashes).");
            }
            else
            {
                problems.Add($"The log is not an extension of the {seen.Size} entries this browser saw: history was rewritten.");
            }
        }

        return new LedgerCheck(note, latest.Size, key, pinned, seen?.Size, [.. proof.Select(Convert.ToHexStringLower)], problems, steps);
    }
}

using System.Security.Cryptography;
using ModelOps.Console.Data;
using ModelOps.Ledger.Verification;

namespace ModelOps.Console.Tests;

/// <summary>
/// The ledger page's "verify": signature, then consistency with the checkpoint the browser saw, against trees whose
/// roots and proofs are computed here by RFC 6962's recursive definition (the oracle), not by the library under test.
/// </summary>
public sealed class LedgerCheckTests
{
    private const string Origin = "example.test/log";
    private static readonly (string Signer, string Verifier) Keys = NoteKeys.Generate(Origin);

    private static byte[][] Leaves(int n) => [.. Enumerable.Range(0, n).Select(i => SHA256.HashData([0, .. BitConverter.GetBytes(i)]))];

    // MTH(D[n]) of RFC 6962 §2.1, from leaf hashes.
    private static byte[] Mth(byte[][] leaves, int begin, int end)
    {
        if (end - begin == 1)
        {
            return leaves[begin];
        }

        var k = 1;
        while (k * 2 < end - begin)
        {
            k *= 2;
        }

        return SHA256.HashData([1, .. Mth(leaves, begin, begin + k), .. Mth(leaves, begin + k, end)]);
    }

    // SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2.
    private static List<byte[]> SubProof(byte[][] leaves, int m, int begin, int end, bool complete)
    {
        var n = end - begin;
        if (m == n)
        {
            return complete ? [] : [Mth(leaves, begin, end)];
        }

        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return m <= k
            ? [.. SubProof(leaves, m, begin, begin + k, complete), Mth(leaves, begin + k, end)]
            : [.. SubProof(leaves, m - k, begin + k, end, false), Mth(leaves, begin, begin + k)];
    }

    private static string Note(long size, byte[] root) => new NoteSigner(Keys.Signer).Sign(new Checkpoint(Origin, size, root).ToText());

    [Theory]
    [InlineData(1, 2)]
    [InlineData(3, 7)]
    [InlineData(4, 8)]
    [InlineData(6, 13)]
    [InlineData(16, 17)]
    public void ALogThatGrewFromWhatTheBrowserSawIsProvenConsistent(int seen, int now)
    {
        var leaves = Leaves(now);
        var earlier = Checkpoint.Open(Note(seen, Mth(leaves, 0, seen)), new NoteVerifier(Keys.Verifier));
        var proof = SubProof(leaves, seen, 0, now, true);
        var check = LedgerChecks.Check(Note(now, Mth(leaves, 0, now)), now, Keys.Verifier, pinned: true, earlier, proof);
        Assert.True(check.Passed, string.Join(" ", check.Problems));
        Assert.Equal(proof.Count, check.Proof.Count);
        Assert.Contains(check.Steps, s => s.Contains($"extends the {seen} this browser saw", StringComparison.Ordinal));
    }

    [Fact]
    public void ARewrittenHistoryAForkATruncationAndAnotherKeyAreEachCaught()
    {
        var leaves = Leaves(9);
        var verifier = new NoteVerifier(Keys.Verifier);
        var latest = Note(9, Mth(leaves, 0, 9));

        // The browser saw 5 entries; entry 2 was later rewritten, so the old root is not a prefix of the new tree.
        var rewritten = (byte[][])leaves.Clone();
        rewritten[2] = SHA256.HashData("other"u8);
        var seenRewritten = Checkpoint.Open(Note(5, Mth(rewritten, 0, 5)), verifier);
        var check = LedgerChecks.Check(latest, 9, Keys.Verifier, true, seenRewritten, SubProof(leaves, 5, 0, 9, true));
        Assert.Contains(check.Problems, p => p.Contains("history was rewritten", StringComparison.Ordinal));

        // Same size, another root: a fork.
        var fork = Checkpoint.Open(Note(9, Mth(rewritten, 0, 9)), verifier);
        Assert.Contains(LedgerChecks.Check(latest, 9, Keys.Verifier, true, fork, []).Problems, p => p.Contains("forked", StringComparison.Ordinal));

        // The browser saw more than the log now has.
        var longer = Checkpoint.Open(Note(12, Mth(Leaves(12), 0, 12)), verifier);
        Assert.Contains(LedgerChecks.Check(latest, 9, Keys.Verifier, true, longer, []).Problems, p => p.Contains("truncated", StringComparison.Ordinal));

        // A checkpoint signed by another key.
        var (_, otherVerifier) = NoteKeys.Generate(Origin);
        var refused = LedgerChecks.Check(latest, 9, otherVerifier, true, null, []);
        Assert.False(refused.Passed);
        Assert.Contains(refused.Problems, p => p.Contains("does not verify", StringComparison.Ordinal));
    }
}

using ModelOps.Ledger.Verification;

namespace ModelOps.Unit.Tests.Ledger;

/// <summary>
/// C2SP signed notes and tlog checkpoints, against the test vector of golang.org/x/mod/sumdb/note (note_test.go and
/// example_test.go): Ed25519 signatures are deterministic, so our signer must write exactly Go's note.
/// </summary>
public sealed class SignedNoteTests
{
    private const string GoSignerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    private const string GoVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    private const string GoText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    private const string GoNote = GoText + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    [Fact]
    public void SigningTheGoVectorWritesGosNoteByteForByte()
    {
        var signer = new NoteSigner(GoSignerKey);

        Assert.Equal(GoNote, signer.Sign(GoText));
        Assert.Equal(GoVerifierKey, signer.VerifierKey);
        Assert.Equal(0xc74f20a3u, signer.KeyHash);
    }

    [Fact]
    public void GosNoteOpensWithItsVerifierKey() =>
        Assert.Equal(GoText, SignedNote.Open(GoNote, new NoteVerifier(GoVerifierKey)));

    [Fact]
    public void AnAlteredTextOrSignatureDoesNotVerify()
    {
        var verifier = new NoteVerifier(GoVerifierKey);

        Assert.Throws<NoteException>(() => SignedNote.Open(GoNote.Replace("cryptography", "cryptographY"), verifier));
        Assert.Throws<NoteException>(() => SignedNote.Open(GoNote.Replace("x08go", "x09go"), verifier));
    }

    [Fact]
    public void ANoteSignedByAnotherKeyIsRefused()
    {
        var (otherSigner, _) = NoteKeys.Generate("PeterNeumann");
        var forged = new NoteSigner(otherSigner).Sign(GoText);

        Assert.Throws<NoteException>(() => SignedNote.Open(forged, new NoteVerifier(GoVerifierKey)));
    }

    [Theory]
    [InlineData("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")] // wrong hash
    [InlineData("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T")] // truncated key
    [InlineData("PeterNeumann+c74f20a3")]
    [InlineData("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")]
    [InlineData("PeterNeumann+c74f20a3+AhpcZ2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")] // unknown algorithm
    public void MangledVerifierKeysAreRefused(string key) => Assert.Throws<NoteException>(() => new NoteVerifier(key));

    [Fact]
    public void GeneratedKeysSignAndVerifyCheckpoints()
    {
        var (signerKey, verifierKey) = NoteKeys.Generate("example.com/log");
        var root = MerkleTree.LeafHash([1, 2, 3]);
        var note = new NoteSigner(signerKey).Sign(new Checkpoint("example.com/log", 42, root).ToText());

        var checkpoint = Checkpoint.Open(note, new NoteVerifier(verifierKey));

        Assert.Equal(("example.com/log", 42L), (checkpoint.Origin, checkpoint.Size));
        Assert.Equal(root, checkpoint.RootHash);
        Assert.StartsWith($"example.com/log\n42\n{Convert.ToBase64String(root)}\n\n\u2014 example.com/log ", note);
    }

    [Theory]
    [InlineData("origin\n042\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")] // leading zero
    [InlineData("origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")]
    [InlineData("origin\n1\nAAAA\n")] // not a SHA-256 hash
    [InlineData("origin\n1\n")]
    [InlineData("\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")]
    [InlineData("origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")] // no final newline
    public void MalformedCheckpointsAreRefused(string text) => Assert.Throws<NoteException>(() => Checkpoint.Parse(text));

    [Fact]
    public void CompactRangeAgreesWithTheReferenceTreeAndReportsEveryCompletedNode()
    {
        var entries = Enumerable.Range(0, 70).Select(BitConverter.GetBytes).ToList();
        var leaves = entries.Select(e => MerkleTree.LeafHash(e)).ToList();
        var range = new CompactRange();
        var stored = new Dictionary<NodeId, byte[]>();
        for (var size = 0; size <= leaves.Count; size++)
        {
            Assert.Equal(ReferenceTree.Mth(entries.Take(size).ToList()), range.Root());
            Assert.Equal(ReferenceTree.Mth(entries.Take(size).ToList()), MerkleTree.Root(size, id => stored[id]));
            if (size < leaves.Count)
            {
                foreach (var (node, hash) in range.Append(leaves[size]))
                {
                    Assert.Equal(ReferenceTree.Mth(entries.Skip((int)node.Begin).Take((int)(node.End - node.Begin)).ToList()), hash);
                    stored.Add(node, hash);
                }
            }
        }

        // Reloaded from stored nodes, the range continues where it left off.
        var reloaded = new CompactRange(leaves.Count, id => stored[id]);
        Assert.Equal(range.Root(), reloaded.Root());
    }
}

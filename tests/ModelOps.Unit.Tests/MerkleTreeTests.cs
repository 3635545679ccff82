using ModelOps.Ledger.Verification;

namespace ModelOps.Unit.Tests.Ledger;

/// <summary>
/// RFC 6962 hashing and RFC 9162 proofs, against the published test data (the eight standard leaves used by the
/// certificate-transparency and transparency-dev/merkle test suites), a brute-force tree, and tampered proofs.
/// </summary>
public sealed class MerkleTreeTests
{
    private static readonly byte[][] Leaves =
        [.. new[] { "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f" }.Select(Convert.FromHexString)];

    // Roots of the trees of the first 0..8 leaves (transparency-dev/merkle testonly/constants.go, RootHashes).
    private static readonly string[] Roots =
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    [Fact]
    public void RootsOfThePublishedLeavesMatchForEverySizeFromZeroToEight()
    {
        for (var size = 0; size <= 8; size++)
        {
            var log = new MemoryLog(Leaves.Take(size));

            Assert.Equal(Roots[size], Convert.ToHexStringLower(MerkleTree.Root(size, log.Node)));
        }
    }

    [Fact]
    public void StoredNodesMatchThePublishedNodeHashes()
    {
        var log = new MemoryLog(Leaves);

        // transparency-dev/merkle testonly/constants.go, NodeHashes: a sample from every level.
        Assert.Equal("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", Hex(log.Node(new NodeId(0, 1))));
        Assert.Equal("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1", Hex(log.Node(new NodeId(0, 7))));
        Assert.Equal("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", Hex(log.Node(new NodeId(1, 2))));
        Assert.Equal("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4", Hex(log.Node(new NodeId(2, 1))));
        Assert.Equal("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", Hex(log.Node(new NodeId(3, 0))));
        // Only complete subtrees are stored: 8 leaves + 4 + 2 + 1.
        Assert.Equal(15, log.NodeCount);
    }

    // transparency-dev/merkle proof/verify_test.go, inclusionProofs (its leaf numbers are 1-based).
    [Theory]
    [InlineData(0, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(5, 8, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(2, 3, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]
    [InlineData(1, 5, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]
    public void InclusionProofsMatchThePublishedVectors(int index, int size, params string[] expected)
    {
        var log = new MemoryLog(Leaves.Take(size));

        var proof = MerkleTree.InclusionProof(index, size, log.Node);

        Assert.Equal(expected, proof.Select(Hex));
        Assert.True(MerkleTree.VerifyInclusion(index, size, MerkleTree.LeafHash(Leaves[index]), proof, Convert.FromHexString(Roots[size])));
    }

    // transparency-dev/merkle proof/verify_test.go, consistencyProofs.
    [Theory]
    [InlineData(1, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(6, 8, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(2, 5, "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]
    [InlineData(6, 7, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    public void ConsistencyProofsMatchThePublishedVectors(int oldSize, int newSize, params string[] expected)
    {
        var log = new MemoryLog(Leaves.Take(newSize));

        var proof = MerkleTree.ConsistencyProof(oldSize, newSize, log.Node);

        Assert.Equal(expected, proof.Select(Hex));
        Assert.True(MerkleTree.VerifyConsistency(
            oldSize, newSize, Convert.FromHexString(Roots[oldSize]), Convert.FromHexString(Roots[newSize]), proof));
    }

    [Fact]
    public void EveryInclusionProofUpTo64LeavesMatchesTheBruteForceTreeAndVerifies()
    {
        var entries = Entries(64);
        var log = new MemoryLog(entries);
        for (var size = 1; size <= 64; size++)
        {
            var prefix = entries.Take(size).ToList();
            var root = ReferenceTree.Mth(prefix);
            Assert.Equal(root, MerkleTree.Root(size, log.Node));
            for (var index = 0; index < size; index++)
            {
                var proof = MerkleTree.InclusionProof(index, size, log.Node);

                Assert.Equal(ReferenceTree.Path(index, prefix), proof);
                Assert.True(MerkleTree.VerifyInclusion(index, size, MerkleTree.LeafHash(entries[index]), proof, root), $"({index}, {size})");
            }
        }
    }

    [Fact]
    public void EveryConsistencyProofUpTo64LeavesMatchesTheBruteForceTreeAndVerifies()
    {
        var entries = Entries(64);
        var log = new MemoryLog(entries);
        for (var newSize = 1; newSize <= 64; newSize++)
        {
            var newRoot = ReferenceTree.Mth(entries.Take(newSize).ToList());
            for (var oldSize = 1; oldSize <= newSize; oldSize++)
            {
                var proof = MerkleTree.ConsistencyProof(oldSize, newSize, log.Node);

                Assert.Equal(ReferenceTree.Proof(oldSize, entries.Take(newSize).ToList()), proof);
                Assert.True(MerkleTree.VerifyConsistency(oldSize, newSize, ReferenceTree.Mth(entries.Take(oldSize).ToList()), newRoot, proof),
                    $"({oldSize}, {newSize})");
            }
        }
    }

    [Fact]
    public void TamperedInclusionProofsFail()
    {
        var entries = Entries(32);
        var log = new MemoryLog(entries);
        for (var size = 2; size <= 32; size++)
        {
            var root = MerkleTree.Root(size, log.Node);
            for (var index = 0; index < size; index++)
            {
                var leaf = MerkleTree.LeafHash(entries[index]);
                var proof = MerkleTree.InclusionProof(index, size, log.Node);
                foreach (var (description, i, s, l, p, r) in InclusionCorruptions(index, size, leaf, proof, root))
                {
                    Assert.False(MerkleTree.VerifyInclusion(i, s, l, p, r), $"({index}, {size}) verified with {description}");
                }
            }
        }
    }

    [Fact]
    public void TamperedConsistencyProofsFail()
    {
        var entries = Entries(32);
        var log = new MemoryLog(entries);
        for (var newSize = 2; newSize <= 32; newSize++)
        {
            var newRoot = MerkleTree.Root(newSize, log.Node);
            for (var oldSize = 1; oldSize < newSize; oldSize++)
            {
                var oldRoot = MerkleTree.Root(oldSize, log.Node);
                var proof = MerkleTree.ConsistencyProof(oldSize, newSize, log.Node);
                foreach (var (description, m, n, r1, r2, p) in ConsistencyCorruptions(oldSize, newSize, oldRoot, newRoot, proof))
                {
                    Assert.False(MerkleTree.VerifyConsistency(m, n, r1, r2, p), $"({oldSize}, {newSize}) verified with {description}");
                }
            }
        }
    }

    [Fact]
    public void RandomProofsInALargerLogVerify()
    {
        var random = new Random(20261122);
        var entries = Entries(3000);
        var log = new MemoryLog(entries);
        var roots = new Dictionary<long, byte[]>();
        byte[] RootOf(long size) => roots.TryGetValue(size, out var root) ? root : roots[size] = MerkleTree.Root(size, log.Node);

        for (var trial = 0; trial < 2000; trial++)
        {
            var newSize = random.NextInt64(1, entries.Count + 1);
            var oldSize = random.NextInt64(0, newSize + 1);
            var index = random.NextInt64(0, newSize);

            Assert.True(MerkleTree.VerifyConsistency(
                oldSize, newSize, RootOf(oldSize), RootOf(newSize), MerkleTree.ConsistencyProof(oldSize, newSize, log.Node)));
            Assert.True(MerkleTree.VerifyInclusion(
                index, newSize, MerkleTree.LeafHash(entries[(int)index]), MerkleTree.InclusionProof(index, newSize, log.Node), RootOf(newSize)));
        }
    }

    [Fact]
    public void ProofsReadOnlyLogarithmicallyManyNodes()
    {
        const long size = 1_000_003;
        var inclusion = MerkleTree.NodesFor(MerkleTree.InclusionRanges(123_456, size)).Count();
        var consistency = MerkleTree.NodesFor(MerkleTree.ConsistencyRanges(654_321, size)).Count();

        // Within 2·log2(n) stored nodes, whatever the size.
        Assert.InRange(inclusion, 1, 40);
        Assert.InRange(consistency, 1, 40);
    }

    [Theory]
    [InlineData(-1, 5)]
    [InlineData(5, 5)]
    [InlineData(0, 0)]
    public void InclusionOfALeafOutsideTheTreeIsRefused(long index, long size) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.InclusionRanges(index, size));

    [Fact]
    public void ConsistencyFromALargerTreeIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.ConsistencyRanges(6, 5));

    private static IEnumerable<(string, long, long, byte[], IReadOnlyList<byte[]>, byte[])> InclusionCorruptions(
        long index, long size, byte[] leaf, IReadOnlyList<byte[]> proof, byte[] root)
    {
        yield return ("index - 1", index - 1, size, leaf, proof, root);
        yield return ("index + 1", index + 1, size, leaf, proof, root);
        yield return ("size * 2", index, size * 2, leaf, proof, root);
        yield return ("size / 2", index, size / 2, leaf, proof, root);
        yield return ("wrong leaf", index, size, MerkleTree.LeafHash([0xFF, .. leaf]), proof, root);
        yield return ("empty-tree root", index, size, leaf, proof, MerkleTree.EmptyRoot());
        yield return ("trailing hash", index, size, leaf, [.. proof, root], root);
        yield return ("preceding hash", index, size, leaf, [root, .. proof], root);
        if (proof.Count > 0)
        {
            yield return ("missing hash", index, size, leaf, [.. proof.Take(proof.Count - 1)], root);
        }

        if (proof.Count > 1)
        {
            yield return ("inserted hash", index, size, leaf, [proof[0], MerkleTree.EmptyRoot(), .. proof.Skip(1)], root);
        }

        for (var i = 0; i < proof.Count; i++)
        {
            var flipped = proof.Select(p => (byte[])p.Clone()).ToList();
            flipped[i][0] ^= 8;
            yield return ($"flipped bit in proof[{i}]", index, size, leaf, flipped, root);
        }
    }

    private static IEnumerable<(string, long, long, byte[], byte[], IReadOnlyList<byte[]>)> ConsistencyCorruptions(
        long oldSize, long newSize, byte[] oldRoot, byte[] newRoot, IReadOnlyList<byte[]> proof)
    {
        yield return ("old size - 1", oldSize - 1, newSize, oldRoot, newRoot, proof);
        yield return ("old size + 1", oldSize + 1, newSize, oldRoot, newRoot, proof);
        yield return ("new size * 2", oldSize, newSize * 2, oldRoot, newRoot, proof);
        yield return ("swapped roots", oldSize, newSize, newRoot, oldRoot, proof);
        yield return ("wrong old root", oldSize, newSize, MerkleTree.EmptyRoot(), newRoot, proof);
        yield return ("wrong new root", oldSize, newSize, oldRoot, MerkleTree.EmptyRoot(), proof);
        yield return ("empty proof", oldSize, newSize, oldRoot, newRoot, []);
        yield return ("trailing hash", oldSize, newSize, oldRoot, newRoot, [.. proof, newRoot]);
        yield return ("preceding hash", oldSize, newSize, oldRoot, newRoot, [oldRoot, .. proof]);
        yield return ("missing hash", oldSize, newSize, oldRoot, newRoot, [.. proof.Take(proof.Count - 1)]);
        for (var i = 0; i < proof.Count; i++)
        {
            var flipped = proof.Select(p => (byte[])p.Clone()).ToList();
            flipped[i][0] ^= 16;
            yield return ($"flipped bit in proof[{i}]", oldSize, newSize, oldRoot, newRoot, flipped);
        }
    }

    private static List<byte[]> Entries(int count) => [.. Enumerable.Range(0, count).Select(i => System.Text.Encoding.UTF8.GetBytes($"entry {i}"))];

    private static string Hex(byte[] hash) => Convert.ToHexStringLower(hash);
}

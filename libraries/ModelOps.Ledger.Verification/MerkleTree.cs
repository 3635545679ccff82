using System.Numerics;
using System.Security.Cryptography;

namespace ModelOps.Ledger.Verification;

/// <summary>A perfect subtree: the 2^<see cref="Level"/> leaves from <see cref="Index"/> × 2^<see cref="Level"/> on.</summary>
/// <param name="Level">Height above the leaves (0 is a leaf).</param>
/// <param name="Index">Position among the subtrees of that level.</param>
public readonly record struct NodeId(int Level, long Index)
{
    /// <summary>The first leaf it covers.</summary>
    public long Begin => Index << Level;

    /// <summary>One past the last leaf it covers.</summary>
    public long End => (Index + 1) << Level;
}

/// <summary>
/// RFC 6962 / RFC 9162 Merkle tree hashing and proofs. A log stores the hash of every perfect subtree it has
/// completed (<see cref="NodeId"/>); any root, inclusion proof or consistency proof is then a fold over
/// O(log n) of those nodes, so nothing is recomputed from the leaves. Written here because no maintained .NET
/// library implements RFC 9162 proofs; the algorithms follow the RFC's own definitions (§2.1).
/// </summary>
public static class MerkleTree
{
    /// <summary>Length of a SHA-256 hash.</summary>
    public const int HashSize = 32;

    /// <summary>The root of the empty tree: SHA-256 of nothing.</summary>
    public static byte[] EmptyRoot() => SHA256.HashData([]);

    /// <summary>SHA-256(0x00 ‖ entry).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> entry)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData([0x00]);
        sha.AppendData(entry);
        return sha.GetHashAndReset();
    }

    /// <summary>SHA-256(0x01 ‖ left ‖ right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>The perfect subtrees that the leaves [<paramref name="begin"/>, <paramref name="end"/>) decompose into, left to right.</summary>
    /// <remarks>
    /// Every range this class asks for starts at a multiple of the largest power of two below its length (RFC 9162's
    /// recursion only ever produces such ranges), so the decomposition is a run of aligned subtrees of decreasing size.
    /// </remarks>
    public static IReadOnlyList<NodeId> PerfectSubtrees(long begin, long end)
    {
        var nodes = new List<NodeId>();
        while (begin < end)
        {
            // The largest aligned subtree starting at begin that fits.
            var level = begin == 0 ? 63 : BitOperations.TrailingZeroCount(begin);
            while (begin + (1L << level) > end || level > 62)
            {
                level--;
            }

            nodes.Add(new NodeId(level, begin >> level));
            begin += 1L << level;
        }

        return nodes;
    }

    /// <summary>MTH(D[begin:end]) from the stored perfect subtrees.</summary>
    public static byte[] RangeHash(long begin, long end, Func<NodeId, byte[]> node)
    {
        if (begin == end)
        {
            return EmptyRoot();
        }

        var parts = PerfectSubtrees(begin, end);
        var hash = node(parts[^1]);
        for (var i = parts.Count - 2; i >= 0; i--)
        {
            hash = NodeHash(node(parts[i]), hash);
        }

        return hash;
    }

    /// <summary>The root of the tree of the first <paramref name="size"/> leaves.</summary>
    public static byte[] Root(long size, Func<NodeId, byte[]> node) => RangeHash(0, size, node);

    /// <summary>The leaf ranges whose hashes form the inclusion proof of leaf <paramref name="index"/> in a tree of <paramref name="size"/> (RFC 9162 §2.1.3.1), leaf side first.</summary>
    public static IReadOnlyList<(long Begin, long End)> InclusionRanges(long index, long size)
    {
        if (index < 0 || index >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Leaf {index} is not in a tree of size {size}.");
        }

        var ranges = new List<(long, long)>();
        long begin = 0, end = size;
        while (end - begin > 1)
        {
            var k = LargestPowerOfTwoBelow(end - begin);
            if (index < begin + k)
            {
                ranges.Add((begin + k, end));
                end = begin + k;
            }
            else
            {
                ranges.Add((begin, begin + k));
                begin += k;
            }
        }

        ranges.Reverse();
        return ranges;
    }

    /// <summary>The leaf ranges whose hashes form the consistency proof from size <paramref name="oldSize"/> to <paramref name="newSize"/> (RFC 9162 §2.1.4.1).</summary>
    public static IReadOnlyList<(long Begin, long End)> ConsistencyRanges(long oldSize, long newSize)
    {
        if (oldSize < 0 || oldSize > newSize)
        {
            throw new ArgumentOutOfRangeException(nameof(oldSize), $"Old size {oldSize} must be between 0 and the new size {newSize}.");
        }

        var ranges = new List<(long, long)>();
        if (oldSize == 0 || oldSize == newSize)
        {
            return ranges;
        }

        // SUBPROOF(m, D[begin:end], startFromOldRoot), unrolled.
        long m = oldSize, begin = 0, end = newSize;
        var fromOldRoot = true;
        while (m != end - begin)
        {
            var k = LargestPowerOfTwoBelow(end - begin);
            if (m <= k)
            {
                ranges.Add((begin + k, end));
                end = begin + k;
            }
            else
            {
                ranges.Add((begin, begin + k));
                m -= k;
                begin += k;
                fromOldRoot = false;
            }
        }

        if (!fromOldRoot)
        {
            ranges.Add((begin, end));
        }

        ranges.Reverse();
        return ranges;
    }

    /// <summary>The inclusion proof of leaf <paramref name="index"/> in a tree of <paramref name="size"/>.</summary>
    public static IReadOnlyList<byte[]> InclusionProof(long index, long size, Func<NodeId, byte[]> node) =>
        [.. InclusionRanges(index, size).Select(r => RangeHash(r.Begin, r.End, node))];

    /// <summary>The consistency proof from <paramref name="oldSize"/> to <paramref name="newSize"/>.</summary>
    public static IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long newSize, Func<NodeId, byte[]> node) =>
        [.. ConsistencyRanges(oldSize, newSize).Select(r => RangeHash(r.Begin, r.End, node))];

    /// <summary>Every stored node that proofs over these ranges read.</summary>
    public static IEnumerable<NodeId> NodesFor(IEnumerable<(long Begin, long End)> ranges) =>
        ranges.SelectMany(r => PerfectSubtrees(r.Begin, r.End)).Distinct();

    /// <summary>
    /// The nodes completed by appending the leaf at <paramref name="index"/> with <paramref name="leafHash"/>, bottom up,
    /// with their hashes: O(log n) left siblings are read through <paramref name="node"/>.
    /// </summary>
    public static IEnumerable<(NodeId Node, byte[] Hash)> Append(long index, byte[] leafHash, Func<NodeId, byte[]> node)
    {
        var current = new NodeId(0, index);
        var hash = leafHash;
        yield return (current, hash);
        while ((current.Index & 1) == 1)
        {
            hash = NodeHash(node(new NodeId(current.Level, current.Index - 1)), hash);
            current = new NodeId(current.Level + 1, current.Index >> 1);
            yield return (current, hash);
        }
    }

    /// <summary>Verifies an inclusion proof (RFC 9162 §2.1.3.2).</summary>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root)
    {
        if (index < 0 || index >= size || leafHash.Length != HashSize || root.Length != HashSize)
        {
            return false;
        }

        long fn = index, sn = size - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0 || p.Length != HashSize)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(r, root);
    }

    /// <summary>Verifies a consistency proof (RFC 9162 §2.1.4.2).</summary>
    public static bool VerifyConsistency(
        long oldSize, long newSize, ReadOnlySpan<byte> oldRoot, ReadOnlySpan<byte> newRoot, IReadOnlyList<byte[]> proof)
    {
        if (oldSize < 0 || oldSize > newSize || oldRoot.Length != HashSize || newRoot.Length != HashSize)
        {
            return false;
        }

        if (oldSize == newSize)
        {
            return proof.Count == 0 && oldRoot.SequenceEqual(newRoot);
        }

        if (oldSize == 0)
        {
            // Every tree extends the empty tree; there is nothing to prove.
            return proof.Count == 0;
        }

        if (proof.Count == 0 || proof.Any(p => p.Length != HashSize))
        {
            return false;
        }

        // If the old size is a power of two, the old root is the first node of the path.
        var path = BitOperations.IsPow2(oldSize) ? [oldRoot.ToArray(), .. proof] : proof;
        long fn = oldSize - 1, sn = newSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        var fr = path[0];
        var sr = path[0];
        for (var i = 1; i < path.Count; i++)
        {
            var c = path[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = NodeHash(c, fr);
                sr = NodeHash(c, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                sr = NodeHash(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(fr, oldRoot) && CryptographicOperations.FixedTimeEquals(sr, newRoot);
    }

    private static long LargestPowerOfTwoBelow(long n) => 1L << (63 - BitOperations.LeadingZeroCount((ulong)(n - 1)));
}

using System.Security.Cryptography;

namespace ModelOps.Unit.Tests.Ledger;

/// <summary>
/// The brute-force oracle: RFC 9162 §2.1's recursive definitions of MTH, PATH and PROOF, transcribed literally over
/// a list of entries, sharing no code with the implementation under test.
/// </summary>
internal static class ReferenceTree
{
    public static byte[] Mth(IReadOnlyList<byte[]> entries)
    {
        if (entries.Count == 0)
        {
            return SHA256.HashData([]);
        }

        if (entries.Count == 1)
        {
            return SHA256.HashData([0x00, .. entries[0]]);
        }

        var k = K(entries.Count);
        return SHA256.HashData([0x01, .. Mth(Slice(entries, 0, k)), .. Mth(Slice(entries, k, entries.Count))]);
    }

    public static List<byte[]> Path(int m, IReadOnlyList<byte[]> entries)
    {
        var n = entries.Count;
        if (n == 1)
        {
            return [];
        }

        var k = K(n);
        return m < k
            ? [.. Path(m, Slice(entries, 0, k)), Mth(Slice(entries, k, n))]
            : [.. Path(m - k, Slice(entries, k, n)), Mth(Slice(entries, 0, k))];
    }

    public static List<byte[]> Proof(int m, IReadOnlyList<byte[]> entries) => m == 0 || m == entries.Count ? [] : SubProof(m, entries, true);

    private static List<byte[]> SubProof(int m, IReadOnlyList<byte[]> entries, bool b)
    {
        var n = entries.Count;
        if (m == n)
        {
            return b ? [] : [Mth(entries)];
        }

        var k = K(n);
        return m <= k
            ? [.. SubProof(m, Slice(entries, 0, k), b), Mth(Slice(entries, k, n))]
            : [.. SubProof(m - k, Slice(entries, k, n), false), Mth(Slice(entries, 0, k))];
    }

    // The largest power of two smaller than n.
    private static int K(int n)
    {
        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return k;
    }

    private static List<byte[]> Slice(IReadOnlyList<byte[]> entries, int begin, int end) => [.. entries.Skip(begin).Take(end - begin)];
}

/// <summary>A log's node store kept in memory, filled the way the ledger fills its table: one append at a time.</summary>
internal sealed class MemoryLog
{
    private readonly Dictionary<ModelOps.Ledger.Verification.NodeId, byte[]> _nodes = [];

    public MemoryLog(IEnumerable<byte[]> entries)
    {
        foreach (var entry in entries)
        {
            Append(entry);
        }
    }

    public long Size { get; private set; }

    public void Append(byte[] entry)
    {
        foreach (var (node, hash) in ModelOps.Ledger.Verification.MerkleTree.Append(Size, ModelOps.Ledger.Verification.MerkleTree.LeafHash(entry), Node))
        {
            _nodes[node] = hash;
        }

        Size++;
    }

    public int NodeCount => _nodes.Count;

    public byte[] Node(ModelOps.Ledger.Verification.NodeId id) =>
        _nodes.TryGetValue(id, out var hash) ? hash : throw new KeyNotFoundException($"Node {id} is not stored.");
}

namespace ModelOps.Ledger.Verification;

/// <summary>
/// The right edge of a growing tree: the hashes of the perfect subtrees that its leaves decompose into, largest first.
/// Appending a leaf merges equal-sized subtrees and reports every node it completes, so a log persists exactly those,
/// and the root of the current size is a fold over at most log2(n) hashes.
/// </summary>
public sealed class CompactRange
{
    private readonly List<(NodeId Node, byte[] Hash)> _subtrees = [];

    /// <summary>An empty tree.</summary>
    public CompactRange()
    {
    }

    /// <summary>The tree of <paramref name="size"/> leaves, whose edge nodes are read through <paramref name="node"/>.</summary>
    public CompactRange(long size, Func<NodeId, byte[]> node)
    {
        foreach (var id in MerkleTree.PerfectSubtrees(0, size))
        {
            _subtrees.Add((id, node(id)));
        }

        Size = size;
    }

    /// <summary>How many leaves the tree holds.</summary>
    public long Size { get; private set; }

    /// <summary>The edge nodes, left to right.</summary>
    public IReadOnlyList<NodeId> Edge => [.. _subtrees.Select(s => s.Node)];

    /// <summary>An independent copy: appending to it leaves this one as it is.</summary>
    public CompactRange Clone()
    {
        var copy = new CompactRange { Size = Size };
        copy._subtrees.AddRange(_subtrees);
        return copy;
    }

    /// <summary>Appends a leaf hash; returns the nodes this completes, the leaf first and then upwards.</summary>
    public IReadOnlyList<(NodeId Node, byte[] Hash)> Append(byte[] leafHash)
    {
        if (leafHash.Length != MerkleTree.HashSize)
        {
            throw new ArgumentException("A leaf hash is 32 bytes.", nameof(leafHash));
        }

        var completed = new List<(NodeId, byte[])>();
        var current = (Node: new NodeId(0, Size), Hash: leafHash);
        completed.Add(current);
        while (_subtrees.Count > 0 && _subtrees[^1].Node.Level == current.Node.Level)
        {
            var left = _subtrees[^1];
            _subtrees.RemoveAt(_subtrees.Count - 1);
            current = (new NodeId(current.Node.Level + 1, left.Node.Index >> 1), MerkleTree.NodeHash(left.Hash, current.Hash));
            completed.Add(current);
        }

        _subtrees.Add(current);
        Size++;
        return completed;
    }

    /// <summary>The root hash of the tree as it stands.</summary>
    public byte[] Root()
    {
        if (_subtrees.Count == 0)
        {
            return MerkleTree.EmptyRoot();
        }

        var hash = _subtrees[^1].Hash;
        for (var i = _subtrees.Count - 2; i >= 0; i--)
        {
            hash = MerkleTree.NodeHash(_subtrees[i].Hash, hash);
        }

        return hash;
    }
}

namespace ModelOps.Explainability.Trees;

/// <summary>
/// Exact path-dependent TreeSHAP (Lundberg, Erion et al. 2020, Algorithm 2): the Shapley values of a tree's prediction
/// where a feature left out of a coalition is integrated over the tree's own training cover. Written by hand: no .NET
/// library computes SHAP values. This is the textbook recursion, O(leaves × depth²) per row and tree; it explains the
/// trees <see cref="LeafTables"/> cannot hold and is the reference the tables are tested against.
/// </summary>
internal sealed class PathShap
{
    private struct PathElement
    {
        public int Feature;
        public double Zero;
        public double One;
        public double Weight;
    }

    private readonly PathElement[] _path;
    private Tree _tree = null!;
    private SplitRule _rule;

    public PathShap(int maxDepth)
    {
        // Each level of the recursion copies its parent's path (at most depth + 2 elements) after it.
        _path = new PathElement[(maxDepth + 3) * (maxDepth + 4) / 2];
    }

    /// <summary>Adds the tree's SHAP values for <paramref name="row"/> to <paramref name="phi"/>.</summary>
    public void Add(Tree tree, SplitRule rule, ReadOnlySpan<double> row, Span<double> phi)
    {
        (_tree, _rule) = (tree, rule);
        if (tree.IsLeaf(0))
        {
            return;
        }

        Recurse(row, phi, 0, 0, 0, 1, 1, -1);
    }

    private void Recurse(ReadOnlySpan<double> row, Span<double> phi, int node, int parentOffset, int depth, double zero, double one, int feature)
    {
        var offset = parentOffset + depth + 1;
        var path = _path.AsSpan(offset);
        _path.AsSpan(parentOffset, depth + 1).CopyTo(path);
        Extend(path, depth, zero, one, feature);

        var tree = _tree;
        if (tree.IsLeaf(node))
        {
            var value = tree.Value[node];
            for (var i = 1; i <= depth; i++)
            {
                var element = path[i];
                phi[element.Feature] += UnwoundSum(path, depth, i) * (element.One - element.Zero) * value;
            }

            return;
        }

        var split = tree.Feature[node];
        var left = tree.GoesLeft(node, row[split], _rule);
        var (hot, cold) = left ? (tree.Left[node], tree.Right[node]) : (tree.Right[node], tree.Left[node]);
        var (hotZero, coldZero) = Fractions(tree, node, hot, cold);

        // A feature split on again above: undo its earlier element and carry its fractions into this split's.
        var (incomingZero, incomingOne) = (1.0, 1.0);
        for (var k = 1; k <= depth; k++)
        {
            if (path[k].Feature == split)
            {
                (incomingZero, incomingOne) = (path[k].Zero, path[k].One);
                Unwind(path, depth, k);
                depth--;
                break;
            }
        }

        // A branch whose fractions are both zero weighs nothing in any coalition: it is skipped, not divided by.
        if (hotZero * incomingZero != 0 || incomingOne != 0)
        {
            Recurse(row, phi, hot, offset, depth + 1, hotZero * incomingZero, incomingOne, split);
        }

        if (coldZero * incomingZero != 0)
        {
            Recurse(row, phi, cold, offset, depth + 1, coldZero * incomingZero, 0, split);
        }
    }

    /// <summary>The share of a node's cover that reaches each child (half each under a node without cover).</summary>
    internal static (double Hot, double Cold) Fractions(Tree tree, int node, int hot, int cold)
    {
        var cover = tree.Cover[node];
        return cover > 0 ? (tree.Cover[hot] / cover, tree.Cover[cold] / cover) : (0.5, 0.5);
    }

    private static void Extend(Span<PathElement> path, int depth, double zero, double one, int feature)
    {
        path[depth] = new PathElement { Feature = feature, Zero = zero, One = one, Weight = depth == 0 ? 1 : 0 };
        for (var i = depth - 1; i >= 0; i--)
        {
            path[i + 1].Weight += one * path[i].Weight * (i + 1) / (depth + 1);
            path[i].Weight = zero * path[i].Weight * (depth - i) / (depth + 1);
        }
    }

    private static void Unwind(Span<PathElement> path, int depth, int index)
    {
        var (one, zero) = (path[index].One, path[index].Zero);
        var next = path[depth].Weight;
        for (var i = depth - 1; i >= 0; i--)
        {
            if (one != 0)
            {
                var weight = path[i].Weight;
                path[i].Weight = next * (depth + 1) / ((i + 1) * one);
                next = weight - path[i].Weight * zero * (depth - i) / (depth + 1);
            }
            else
            {
                path[i].Weight = path[i].Weight * (depth + 1) / (zero * (depth - i));
            }
        }

        for (var i = index; i < depth; i++)
        {
            path[i].Feature = path[i + 1].Feature;
            path[i].Zero = path[i + 1].Zero;
            path[i].One = path[i + 1].One;
        }
    }

    private static double UnwoundSum(ReadOnlySpan<PathElement> path, int depth, int index)
    {
        var (one, zero) = (path[index].One, path[index].Zero);
        var next = path[depth].Weight;
        var total = 0.0;
        for (var i = depth - 1; i >= 0; i--)
        {
            if (one != 0)
            {
                var weight = next * (depth + 1) / ((i + 1) * one);
                total += weight;
                next = path[i].Weight - weight * zero * (depth - i) / (depth + 1);
            }
            else
            {
                total += path[i].Weight * (depth + 1) / (zero * (depth - i));
            }
        }

        return total;
    }

    /// <summary>
    /// The SHAP values of one leaf for every pattern of its path's features: <paramref name="zero"/>[k] is the cover
    /// fraction of the leaf's path through feature k's splits, and bit k of a pattern says whether the row follows all of
    /// them. Entry [pattern × D + k] is feature k's share of <paramref name="value"/> — what the recursion adds at this
    /// leaf for a row with that pattern.
    /// </summary>
    internal static void LeafTable(ReadOnlySpan<double> zero, double value, Span<double> table)
    {
        var d = zero.Length;
        Span<PathElement> path = stackalloc PathElement[d + 1];
        for (var pattern = 0; pattern < 1 << d; pattern++)
        {
            var entries = table.Slice(pattern * d, d);
            var dead = false;
            Extend(path, 0, 1, 1, -1);
            for (var k = 0; k < d; k++)
            {
                var one = (pattern >> k) & 1;
                dead |= one == 0 && zero[k] == 0;
                Extend(path, k + 1, zero[k], one, k);
            }

            for (var k = 0; k < d; k++)
            {
                entries[k] = dead ? 0 : UnwoundSum(path, d, k + 1) * (path[k + 1].One - path[k + 1].Zero) * value;
            }
        }
    }
}

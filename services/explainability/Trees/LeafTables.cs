namespace ModelOps.Explainability.Trees;

/// <summary>
/// A tree's SHAP values precomputed per leaf and per pattern of its path (in the spirit of Fast TreeSHAP v2, Yang 2021).
/// A row's contribution from a leaf depends on the row only through which of the leaf's path features it follows (a bit
/// per distinct feature), so each leaf keeps, for all 2^D patterns, every feature's share: explaining a row is then one
/// comparison per split and D additions per leaf — O(leaves × depth) instead of the recursion's O(leaves × depth²)
/// multiply-divides. A leaf whose path has more than <see cref="MaxPathFeatures"/> distinct features has no table; its
/// tree is explained by <see cref="PathShap"/>.
/// </summary>
internal sealed class LeafTables
{
    /// <summary>Most distinct features on a leaf's path for its table (2^12 × 12 values).</summary>
    public const int MaxPathFeatures = 12;

    private readonly int[] _leafSteps;     // per leaf + 1: where its steps start
    private readonly int[] _stepNode;      // a split on the leaf's path
    private readonly bool[] _stepLeft;     // whether the path goes left there
    private readonly int[] _stepSlot;      // the distinct feature it belongs to (its bit)
    private readonly int[] _leafSlots;     // per leaf + 1: where its distinct features start
    private readonly int[] _slotFeature;   // the feature of each distinct feature
    private readonly long[] _leafTable;    // per leaf: where its table starts
    private readonly double[] _table;
    private readonly int[] _splits;        // the splits reachable from the root

    private LeafTables(int[] splits, int[] leafSteps, int[] stepNode, bool[] stepLeft, int[] stepSlot, int[] leafSlots, int[] slotFeature, long[] leafTable, double[] table)
    {
        _splits = splits;
        (_leafSteps, _stepNode, _stepLeft, _stepSlot, _leafSlots, _slotFeature, _leafTable, _table) =
            (leafSteps, stepNode, stepLeft, stepSlot, leafSlots, slotFeature, leafTable, table);
    }

    /// <summary>How many values the tables hold.</summary>
    public long Size => _table.LongLength;

    /// <summary>The tables of <paramref name="tree"/>, or null when a path is too long or they exceed <paramref name="budget"/> values.</summary>
    public static LeafTables? Build(Tree tree, long budget)
    {
        if (tree.IsLeaf(0))
        {
            return null;
        }

        var leafSteps = new List<int> { 0 };
        var leafSlots = new List<int> { 0 };
        var (stepNode, stepLeft, stepSlot, slotFeature) = (new List<int>(), new List<bool>(), new List<int>(), new List<int>());
        var zeros = new List<double[]>();
        var values = new List<double>();
        long size = 0;

        // Depth-first over root-to-leaf paths; the path's splits are kept on an explicit stack.
        var path = new List<(int Node, bool Left)>();
        var stack = new Stack<(int Node, int Depth, int Parent, bool Left)>();
        stack.Push((0, 0, -1, false));
        while (stack.Count > 0)
        {
            var (node, depth, parent, left) = stack.Pop();
            path.RemoveRange(Math.Max(depth - 1, 0), path.Count - Math.Max(depth - 1, 0));
            if (parent >= 0)
            {
                path.Add((parent, left));
            }

            if (!tree.IsLeaf(node))
            {
                stack.Push((tree.Right[node], depth + 1, node, false));
                stack.Push((tree.Left[node], depth + 1, node, true));
                continue;
            }

            // The leaf: its distinct features, their cover fractions, and a step per split.
            var features = new List<int>();
            var zero = new List<double>();
            foreach (var (split, goesLeft) in path)
            {
                var feature = tree.Feature[split];
                var slot = features.IndexOf(feature);
                if (slot < 0)
                {
                    slot = features.Count;
                    features.Add(feature);
                    zero.Add(1);
                }

                var child = goesLeft ? tree.Left[split] : tree.Right[split];
                var other = goesLeft ? tree.Right[split] : tree.Left[split];
                zero[slot] *= PathShap.Fractions(tree, split, child, other).Hot;
                stepNode.Add(split);
                stepLeft.Add(goesLeft);
                stepSlot.Add(slot);
            }

            if (features.Count > MaxPathFeatures)
            {
                return null;
            }

            size += (1L << features.Count) * features.Count;
            if (size > budget)
            {
                return null;
            }

            slotFeature.AddRange(features);
            zeros.Add([.. zero]);
            values.Add(tree.Value[node]);
            leafSteps.Add(stepNode.Count);
            leafSlots.Add(slotFeature.Count);
        }

        var table = new double[size];
        var leafTable = new long[zeros.Count];
        long at = 0;
        for (var leaf = 0; leaf < zeros.Count; leaf++)
        {
            leafTable[leaf] = at;
            var length = (1L << zeros[leaf].Length) * zeros[leaf].Length;
            PathShap.LeafTable(zeros[leaf], values[leaf], table.AsSpan((int)at, (int)length));
            at += length;
        }

        return new LeafTables([.. stepNode.Distinct()], [.. leafSteps], [.. stepNode], [.. stepLeft], [.. stepSlot], [.. leafSlots], [.. slotFeature], leafTable, table);
    }

    /// <summary>
    /// Adds the tree's SHAP values for <paramref name="row"/> to <paramref name="phi"/>; <paramref name="left"/> is scratch
    /// of the tree's node count.
    /// </summary>
    public void Add(Tree tree, SplitRule rule, ReadOnlySpan<double> row, Span<double> phi, Span<bool> left)
    {
        var features = tree.Feature;
        foreach (var node in _splits)
        {
            left[node] = tree.GoesLeft(node, row[features[node]], rule);
        }

        var table = _table;
        for (var leaf = 0; leaf < _leafTable.Length; leaf++)
        {
            var pattern = -1;
            for (var step = _leafSteps[leaf]; step < _leafSteps[leaf + 1]; step++)
            {
                if (left[_stepNode[step]] != _stepLeft[step])
                {
                    pattern &= ~(1 << _stepSlot[step]);
                }
            }

            var first = _leafSlots[leaf];
            var d = _leafSlots[leaf + 1] - first;
            var at = _leafTable[leaf] + (long)(pattern & ((1 << d) - 1)) * d;
            for (var k = 0; k < d; k++)
            {
                phi[_slotFeature[first + k]] += table[at + k];
            }
        }
    }
}

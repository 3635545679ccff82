namespace ModelOps.Explainability.Trees;

/// <summary>How a split compares a feature's value with its threshold.</summary>
internal enum SplitRule : byte
{
    /// <summary>XGBoost: value and threshold as float32, left when value &lt; threshold.</summary>
    LessThanSingle,

    /// <summary>LightGBM: left when value ≤ threshold (doubles).</summary>
    LessOrEqual,

    /// <summary>ML.NET: value and threshold as float32, left when value ≤ threshold.</summary>
    LessOrEqualSingle,
}

/// <summary>Which values take a split's default direction instead of the comparison.</summary>
internal enum MissingRule : byte
{
    /// <summary>NaN takes the default direction (XGBoost always; LightGBM's missing_type NaN).</summary>
    NaN,

    /// <summary>LightGBM's missing_type Zero: NaN counts as 0, and 0 takes the default direction.</summary>
    Zero,

    /// <summary>LightGBM's missing_type None: NaN counts as 0 and is compared like any value.</summary>
    None,
}

/// <summary>How a margin becomes the model's prediction.</summary>
internal enum OutputTransform : byte
{
    Identity,
    Logistic,
    Exp,
}

/// <summary>
/// One regression tree in flat arrays. A node is a leaf when <see cref="Left"/> is -1. <see cref="Cover"/> is how much
/// training data reached the node (XGBoost's sum of hessians, LightGBM's counts): path-dependent TreeSHAP takes the
/// conditional expectation of an unknown feature as the cover-weighted mean of both children.
/// </summary>
internal sealed record Tree
{
    public required int[] Left { get; init; }
    public required int[] Right { get; init; }
    public required int[] Feature { get; init; }
    public required double[] Threshold { get; init; }
    public required bool[] DefaultLeft { get; init; }
    public required MissingRule[] Missing { get; init; }
    public required double[] Value { get; init; }
    public required double[] Cover { get; init; }

    public int Nodes => Left.Length;

    /// <summary>A tree of <paramref name="nodes"/> nodes, every array zeroed, for a reader to fill.</summary>
    public static Tree Allocate(int nodes) => new()
    {
        Left = new int[nodes], Right = new int[nodes], Feature = new int[nodes], Threshold = new double[nodes],
        DefaultLeft = new bool[nodes], Missing = new MissingRule[nodes], Value = new double[nodes], Cover = new double[nodes],
    };

    /// <summary>A tree of one leaf: no splits, its value added to every row.</summary>
    public static Tree Leaf(double value, double cover) => new()
    {
        Left = [-1], Right = [-1], Feature = [0], Threshold = [0], DefaultLeft = [false], Missing = [MissingRule.NaN], Value = [value], Cover = [cover],
    };

    public bool IsLeaf(int node) => Left[node] < 0;

    /// <summary>Whether <paramref name="value"/> goes left at <paramref name="node"/>.</summary>
    public bool GoesLeft(int node, double value, SplitRule rule)
    {
        switch (Missing[node])
        {
            case MissingRule.NaN when double.IsNaN(value):
                return DefaultLeft[node];
            case MissingRule.Zero:
                if (double.IsNaN(value) || Math.Abs(value) <= 1e-35)
                {
                    return DefaultLeft[node];
                }

                break;
            case MissingRule.None when double.IsNaN(value):
                value = 0;
                break;
        }

        return rule switch
        {
            SplitRule.LessThanSingle => (float)value < (float)Threshold[node],
            SplitRule.LessOrEqualSingle => (float)value <= (float)Threshold[node],
            _ => value <= Threshold[node],
        };
    }

    /// <summary>The leaf value <paramref name="row"/> reaches.</summary>
    public double Predict(ReadOnlySpan<double> row, SplitRule rule)
    {
        var node = 0;
        while (!IsLeaf(node))
        {
            node = GoesLeft(node, row[Feature[node]], rule) ? Left[node] : Right[node];
        }

        return Value[node];
    }

    /// <summary>
    /// The tree's expected value: each internal node's mean is its children's means weighted by their cover, divided by
    /// its own cover (as XGBoost's node mean values are; with LightGBM's counts it is the same as the children's sum).
    /// </summary>
    public double ExpectedValue()
    {
        // Children follow their parent in pre-order, so the reversed pre-order meets every child before its parent.
        var mean = new double[Nodes];
        var order = PreOrder();
        for (var i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            if (IsLeaf(node))
            {
                mean[node] = Value[node];
                continue;
            }

            var (l, r) = (Cover[Left[node]], Cover[Right[node]]);
            mean[node] = Cover[node] > 0
                ? (mean[Left[node]] * l + mean[Right[node]] * r) / Cover[node]
                : (mean[Left[node]] + mean[Right[node]]) / 2;
        }

        return mean[0];
    }

    /// <summary>The nodes reachable from the root, each before its children.</summary>
    public List<int> PreOrder()
    {
        var order = new List<int>(Nodes);
        var stack = new Stack<int>();
        stack.Push(0);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            order.Add(node);
            if (!IsLeaf(node))
            {
                stack.Push(Right[node]);
                stack.Push(Left[node]);
            }
        }

        return order;
    }

    /// <summary>The deepest root-to-leaf path (number of splits).</summary>
    public int Depth()
    {
        var depth = 0;
        var stack = new Stack<(int Node, int Depth)>();
        stack.Push((0, 0));
        while (stack.Count > 0)
        {
            var (node, d) = stack.Pop();
            if (IsLeaf(node))
            {
                depth = Math.Max(depth, d);
                continue;
            }

            stack.Push((Left[node], d + 1));
            stack.Push((Right[node], d + 1));
        }

        return depth;
    }
}

/// <summary>
/// A tree ensemble read from a model file: its margin is <see cref="BaseMargin"/> plus the sum of its trees' leaves, and
/// its prediction the margin through <see cref="Transform"/>.
/// </summary>
internal sealed record TreeEnsemble
{
    public required string Format { get; init; }
    public required string Objective { get; init; }
    public required IReadOnlyList<string> FeatureNames { get; init; }
    public required Tree[] Trees { get; init; }
    public required double BaseMargin { get; init; }
    public required SplitRule Rule { get; init; }
    public required OutputTransform Transform { get; init; }

    /// <summary>LightGBM's sigmoid parameter (a logistic transform's slope).</summary>
    public double Scale { get; init; } = 1;

    /// <summary>Added to the scaled margin before a logistic transform (ML.NET's Platt calibration has one).</summary>
    public double Offset { get; init; }

    /// <summary>
    /// Whether the file said how much training data reached each node. ML.NET's does not: its covers are counted on
    /// background rows (<see cref="WithCovers"/>) before it can be explained.
    /// </summary>
    public bool HasCover { get; init; } = true;

    public int Features => FeatureNames.Count;

    public double Margin(ReadOnlySpan<double> row)
    {
        var sum = BaseMargin;
        foreach (var tree in Trees)
        {
            sum += tree.Predict(row, Rule);
        }

        return sum;
    }

    public double Output(double margin) => Transform switch
    {
        OutputTransform.Logistic => 1 / (1 + Math.Exp(-((Scale * margin) + Offset))),
        OutputTransform.Exp => Math.Exp(margin),
        _ => margin,
    };

    /// <summary>The margin of the average input: the base value SHAP values add to.</summary>
    public double ExpectedMargin()
    {
        var sum = BaseMargin;
        foreach (var tree in Trees)
        {
            sum += tree.ExpectedValue();
        }

        return sum;
    }

    /// <summary>
    /// The same ensemble with each node's cover the number of the <paramref name="count"/> background rows (row-major,
    /// <see cref="Features"/> values each) that reach it, so the expected margin is their mean margin. A node no row
    /// reaches has cover 0; TreeSHAP then weighs its children equally.
    /// </summary>
    public TreeEnsemble WithCovers(double[] rows, int count)
    {
        var trees = new Tree[Trees.Length];
        Parallel.For(0, Trees.Length, t =>
        {
            var tree = Trees[t];
            var cover = new double[tree.Nodes];
            for (var r = 0; r < count; r++)
            {
                var row = rows.AsSpan(r * Features, Features);
                var node = 0;
                cover[0]++;
                while (!tree.IsLeaf(node))
                {
                    node = tree.GoesLeft(node, row[tree.Feature[node]], Rule) ? tree.Left[node] : tree.Right[node];
                    cover[node]++;
                }
            }

            trees[t] = tree with { Cover = cover };
        });

        return this with { Trees = trees, HasCover = true };
    }
}

using System.Globalization;

namespace ModelOps.Explainability.Trees;

/// <summary>
/// Reads LightGBM's text model format (<c>save_model("model.txt")</c>, versions v2 to v4) into a
/// <see cref="TreeEnsemble"/>. Written by hand: LightGBM has no managed reader. Numerical splits with their missing
/// types and default directions; covers are the trees' data counts, as LightGBM's own TreeSHAP uses. A single output
/// (regression, binary, poisson, gamma, tweedie, cross-entropy); LightGBM folds the average label into its first
/// tree, so the base margin is 0.
/// </summary>
internal static class LightGbmTextReader
{
    private const int CategoricalMask = 1;
    private const int DefaultLeftMask = 2;

    /// <summary>Whether the text looks like a LightGBM model (its first line is "tree" and a version line follows).</summary>
    public static bool Recognises(string text) => text.StartsWith("tree\n", StringComparison.Ordinal) || text.StartsWith("tree\r\n", StringComparison.Ordinal);

    public static TreeEnsemble Read(string text, int maxTrees, int maxNodes, int maxDepth)
    {
        var lines = text.Split('\n');
        var header = Section(lines, 0, out var at);
        if (Get(header, "num_class", "1") != "1" || Get(header, "num_tree_per_iteration", "1") != "1")
        {
            throw new ModelFormatException("LightGBM models with several outputs (multi-class) are not explained");
        }

        var features = int.Parse(Get(header, "max_feature_idx"), CultureInfo.InvariantCulture) + 1;
        var names = header.TryGetValue("feature_names", out var named) && named.Split(' ').Length == features
            ? named.Split(' ')
            : Enumerable.Range(0, features).Select(i => $"Column_{i}").ToArray();
        var objectiveLine = Get(header, "objective", "regression").Split(' ');
        var (transform, scale) = Output(objectiveLine);

        var trees = new List<Tree>();
        while (at < lines.Length)
        {
            var line = lines[at].TrimEnd('\r');
            if (line.StartsWith("end of trees", StringComparison.Ordinal))
            {
                break;
            }

            if (!line.StartsWith("Tree=", StringComparison.Ordinal))
            {
                at++;
                continue;
            }

            if (trees.Count == maxTrees)
            {
                throw new ModelFormatException($"the model has more than {maxTrees} trees");
            }

            var fields = Section(lines, at + 1, out at);
            trees.Add(ReadTree(fields, features, maxNodes, maxDepth));
        }

        return new TreeEnsemble
        {
            Format = "lightgbm-text",
            Objective = objectiveLine[0],
            FeatureNames = names,
            Trees = [.. trees],
            BaseMargin = 0,
            Rule = SplitRule.LessOrEqual,
            Transform = transform,
            Scale = scale,
        };
    }

    private static (OutputTransform, double) Output(string[] objective)
    {
        switch (objective[0])
        {
            case "regression" or "regression_l1" or "huber" or "fair" or "quantile" or "mape":
                return (OutputTransform.Identity, 1);
            case "binary" or "cross_entropy" or "xentropy":
                var sigmoid = objective.FirstOrDefault(o => o.StartsWith("sigmoid:", StringComparison.Ordinal));
                return (OutputTransform.Logistic, sigmoid is null ? 1 : double.Parse(sigmoid[8..], CultureInfo.InvariantCulture));
            case "poisson" or "gamma" or "tweedie":
                return (OutputTransform.Exp, 1);
            default:
                throw new ModelFormatException($"LightGBM objective {objective[0]} is not explained; supported: regression, regression_l1, huber, fair, quantile, mape, binary, cross_entropy, poisson, gamma, tweedie");
        }
    }

    private static Tree ReadTree(Dictionary<string, string> fields, int features, int maxNodes, int maxDepth)
    {
        var leaves = int.Parse(Get(fields, "num_leaves"), CultureInfo.InvariantCulture);
        if (leaves < 1 || 2 * leaves - 1 > maxNodes)
        {
            throw new ModelFormatException($"a tree has {leaves} leaves; 1 to {(maxNodes + 1) / 2} are explained");
        }

        if (Get(fields, "is_linear", "0") != "0")
        {
            throw new ModelFormatException("LightGBM linear trees (linear_tree=true) are not explained");
        }

        var leafValue = Doubles(Get(fields, "leaf_value"));
        if (leaves == 1)
        {
            return Tree.Leaf(leafValue[0], 1);
        }

        var splits = leaves - 1;
        var splitFeature = Ints(Get(fields, "split_feature"));
        var threshold = Doubles(Get(fields, "threshold"));
        var decision = Ints(Get(fields, "decision_type"));
        var leftChild = Ints(Get(fields, "left_child"));
        var rightChild = Ints(Get(fields, "right_child"));
        var leafCount = Doubles(Get(fields, "leaf_count"));
        var internalCount = Doubles(Get(fields, "internal_count"));
        if (new[] { splitFeature.Length, threshold.Length, decision.Length, leftChild.Length, rightChild.Length, internalCount.Length }.Any(n => n != splits) ||
            leafValue.Length != leaves || leafCount.Length != leaves)
        {
            throw new ModelFormatException("a tree's arrays do not match its num_leaves");
        }

        if (decision.Any(d => (d & CategoricalMask) != 0))
        {
            throw new ModelFormatException("LightGBM categorical splits are not explained");
        }

        // Splits keep their numbers; leaf i becomes node splits + i (LightGBM writes a leaf child as ~i).
        var nodes = splits + leaves;
        int Node(int child) => child >= 0 ? child : splits + ~child;
        var tree = Tree.Allocate(nodes);
        for (var i = 0; i < splits; i++)
        {
            if (leftChild[i] < -leaves || leftChild[i] >= splits || rightChild[i] < -leaves || rightChild[i] >= splits)
            {
                throw new ModelFormatException($"split {i} has children {leftChild[i]}, {rightChild[i]}");
            }

            tree.Left[i] = Node(leftChild[i]);
            tree.Right[i] = Node(rightChild[i]);
            tree.Feature[i] = splitFeature[i];
            tree.Threshold[i] = threshold[i];
            tree.DefaultLeft[i] = (decision[i] & DefaultLeftMask) != 0;
            tree.Missing[i] = ((decision[i] >> 2) & 3) switch { 1 => MissingRule.Zero, 2 => MissingRule.NaN, _ => MissingRule.None };
            tree.Cover[i] = internalCount[i];
        }

        for (var i = 0; i < leaves; i++)
        {
            tree.Left[splits + i] = tree.Right[splits + i] = -1;
            tree.Value[splits + i] = leafValue[i];
            tree.Cover[splits + i] = leafCount[i];
        }

        TreeChecks.Check(tree, features, maxDepth);
        return tree;
    }

    // Lines "key=value" up to the next blank line.
    private static Dictionary<string, string> Section(string[] lines, int start, out int next)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = start;
        for (; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 && fields.Count > 0)
            {
                break;
            }

            var equals = line.IndexOf('=');
            if (equals > 0)
            {
                fields[line[..equals]] = line[(equals + 1)..];
            }
        }

        next = i;
        return fields;
    }

    private static string Get(Dictionary<string, string> fields, string key, string? fallback = null) =>
        fields.TryGetValue(key, out var value) ? value : fallback ?? throw new ModelFormatException($"the LightGBM model has no {key}");

    private static int[] Ints(string text) => Parse(text, s => int.Parse(s, CultureInfo.InvariantCulture));

    private static double[] Doubles(string text) => Parse(text, s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture));

    private static T[] Parse<T>(string text, Func<string, T> parse)
    {
        try
        {
            return text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(parse).ToArray();
        }
        catch (Exception exception) when (exception is FormatException or OverflowException)
        {
            throw new ModelFormatException($"not a readable LightGBM model: {exception.Message}");
        }
    }
}

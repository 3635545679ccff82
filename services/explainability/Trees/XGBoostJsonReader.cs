using System.Globalization;
using System.Text.Json;

namespace ModelOps.Explainability.Trees;

/// <summary>A model file that is not one this service reads, or one it reads but cannot explain.</summary>
internal sealed class ModelFormatException(string message) : Exception(message);

/// <summary>
/// Reads XGBoost's JSON model format (<c>save_model("model.json")</c>, 1.x and 2.x) into a <see cref="TreeEnsemble"/>.
/// Written by hand: XGBoost has no .NET reader. The gbtree booster with numerical splits and a single output; the base
/// margin is <c>base_score</c> through the objective's link (logit for the logistic objectives, log for the count and
/// positive ones), as XGBoost's own <c>ProbToMargin</c> does.
/// </summary>
internal static class XGBoostJsonReader
{
    private static readonly Dictionary<string, (OutputTransform Transform, Func<double, double> Link)> Objectives = new()
    {
        ["binary:logistic"] = (OutputTransform.Logistic, Logit),
        ["reg:logistic"] = (OutputTransform.Logistic, Logit),
        // XGBoost takes logitraw's base_score as a margin already.
        ["binary:logitraw"] = (OutputTransform.Identity, p => p),
        ["reg:squarederror"] = (OutputTransform.Identity, p => p),
        ["reg:squaredlogerror"] = (OutputTransform.Identity, p => p),
        ["reg:pseudohubererror"] = (OutputTransform.Identity, p => p),
        ["reg:absoluteerror"] = (OutputTransform.Identity, p => p),
        ["count:poisson"] = (OutputTransform.Exp, Math.Log),
        ["reg:gamma"] = (OutputTransform.Exp, Math.Log),
        ["reg:tweedie"] = (OutputTransform.Exp, Math.Log),
    };

    /// <summary>The objectives read.</summary>
    public static IEnumerable<string> SupportedObjectives => Objectives.Keys;

    /// <summary>Whether the document looks like an XGBoost JSON model (a "learner" object at the top).</summary>
    public static bool Recognises(JsonDocument document) =>
        document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("learner", out _);

    public static TreeEnsemble Read(JsonDocument document, int maxTrees, int maxNodes, int maxDepth)
    {
        try
        {
            return ReadLearner(document.RootElement.GetProperty("learner"), maxTrees, maxNodes, maxDepth);
        }
        catch (Exception exception) when (exception is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException or OverflowException)
        {
            throw new ModelFormatException($"not a readable XGBoost JSON model: {exception.Message}");
        }
    }

    private static TreeEnsemble ReadLearner(JsonElement learner, int maxTrees, int maxNodes, int maxDepth)
    {
        var objective = learner.GetProperty("objective").GetProperty("name").GetString() ?? "";
        if (!Objectives.TryGetValue(objective, out var link))
        {
            throw new ModelFormatException($"XGBoost objective {objective} is not explained; supported: {string.Join(", ", Objectives.Keys)}");
        }

        var booster = learner.GetProperty("gradient_booster");
        var boosterName = booster.GetProperty("name").GetString();
        if (boosterName != "gbtree")
        {
            throw new ModelFormatException($"XGBoost booster {boosterName} is not explained; supported: gbtree");
        }

        var parameters = learner.GetProperty("learner_model_param");
        if (parameters.TryGetProperty("num_class", out var classes) && Number(classes) > 1 ||
            parameters.TryGetProperty("num_target", out var targets) && Number(targets) > 1)
        {
            throw new ModelFormatException("XGBoost models with several outputs (multi-class, multi-target) are not explained");
        }

        var features = (int)Number(parameters.GetProperty("num_feature"));
        var baseScore = Number(parameters.GetProperty("base_score"));
        var names = learner.TryGetProperty("feature_names", out var named) && named.GetArrayLength() == features
            ? named.EnumerateArray().Select(n => n.GetString() ?? "").ToArray()
            : Enumerable.Range(0, features).Select(i => $"f{i}").ToArray();

        var model = booster.GetProperty("model");
        var trees = model.GetProperty("trees");
        if (trees.GetArrayLength() > maxTrees)
        {
            throw new ModelFormatException($"the model has {trees.GetArrayLength()} trees; at most {maxTrees} are explained");
        }

        var read = trees.EnumerateArray().Select(tree => ReadTree(tree, features, maxNodes, maxDepth)).ToArray();
        return new TreeEnsemble
        {
            Format = "xgboost-json",
            Objective = objective,
            FeatureNames = names,
            Trees = read,
            BaseMargin = link.Link(baseScore),
            Rule = SplitRule.LessThanSingle,
            Transform = link.Transform,
        };
    }

    private static Tree ReadTree(JsonElement tree, int features, int maxNodes, int maxDepth)
    {
        var left = Ints(tree.GetProperty("left_children"));
        var nodes = left.Length;
        if (nodes == 0 || nodes > maxNodes)
        {
            throw new ModelFormatException($"a tree has {nodes} nodes; 1 to {maxNodes} are explained");
        }

        var right = Ints(tree.GetProperty("right_children"));
        var feature = Ints(tree.GetProperty("split_indices"));
        var conditions = Doubles(tree.GetProperty("split_conditions"));
        var defaults = Ints(tree.GetProperty("default_left"));
        var cover = Doubles(tree.GetProperty("sum_hessian"));
        if (tree.TryGetProperty("split_type", out var types) && types.EnumerateArray().Any(t => t.GetInt32() != 0))
        {
            throw new ModelFormatException("XGBoost categorical splits are not explained");
        }

        if (new[] { right.Length, feature.Length, conditions.Length, defaults.Length, cover.Length }.Any(n => n != nodes))
        {
            throw new ModelFormatException("a tree's node arrays differ in length");
        }

        var result = new Tree
        {
            Left = left,
            Right = right,
            Feature = feature,
            Threshold = conditions,
            DefaultLeft = defaults.Select(d => d != 0).ToArray(),
            Missing = new MissingRule[nodes],
            // A leaf's split condition holds its value (learning rate applied).
            Value = conditions,
            Cover = cover,
        };
        TreeChecks.Check(result, features, maxDepth);
        return result;
    }

    internal static double Logit(double p) =>
        p is > 0 and < 1 ? Math.Log(p / (1 - p)) : throw new ModelFormatException($"base_score {p} of a logistic objective lies outside (0, 1)");

    // XGBoost writes numbers of its parameters as strings ("5E-1"); 2.x writes base_score as "[5E-1]".
    private static double Number(JsonElement element) => element.ValueKind == JsonValueKind.Number
        ? element.GetDouble()
        : double.Parse(element.GetString()!.Trim('[', ']'), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();
}

/// <summary>Structural checks every tree passes before it is explained.</summary>
internal static class TreeChecks
{
    /// <summary>
    /// Children in range and each node reached once from the root (no cycle, no sharing), split features within the
    /// model's, no path deeper than <paramref name="maxDepth"/>, covers finite and ≥ 0, leaf values finite.
    /// </summary>
    public static void Check(Tree tree, int features, int maxDepth)
    {
        var nodes = tree.Nodes;
        var seen = new bool[nodes];
        var stack = new Stack<(int Node, int Depth)>();
        stack.Push((0, 0));
        while (stack.Count > 0)
        {
            var (node, depth) = stack.Pop();
            if (seen[node])
            {
                throw new ModelFormatException($"tree node {node} is reached twice");
            }

            seen[node] = true;
            if (depth > maxDepth)
            {
                throw new ModelFormatException($"a tree is deeper than {maxDepth} splits");
            }

            if (!double.IsFinite(tree.Cover[node]) || tree.Cover[node] < 0)
            {
                throw new ModelFormatException($"tree node {node} has cover {tree.Cover[node]}");
            }

            if (tree.IsLeaf(node))
            {
                if (!double.IsFinite(tree.Value[node]))
                {
                    throw new ModelFormatException($"leaf {node} has value {tree.Value[node]}");
                }

                continue;
            }

            var (l, r) = (tree.Left[node], tree.Right[node]);
            if (l <= 0 || l >= nodes || r <= 0 || r >= nodes || tree.Feature[node] < 0 || tree.Feature[node] >= features)
            {
                throw new ModelFormatException($"tree node {node} has children {l}, {r} and feature {tree.Feature[node]} (of {features})");
            }

            stack.Push((l, depth + 1));
            stack.Push((r, depth + 1));
        }
    }
}

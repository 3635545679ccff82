extern alias explainability;
using System.Text;
using System.Text.Json;
using explainability::ModelOps.Explainability.Trees;

namespace ModelOps.Unit.Tests.Explainability;

/// <summary>
/// Exact TreeSHAP against XGBoost 1.7.4's own pred_contribs on its own models (Fixtures/make_treeshap_fixtures.py), and
/// against Shapley values enumerated over every coalition with the path-dependent conditional expectation.
/// </summary>
public sealed class TreeShapTests
{
    public static TheoryData<string> Cases => new(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "treeshap"), "*.json")
        .Select(Path.GetFileNameWithoutExtension).Order()!);

    [Theory]
    [MemberData(nameof(Cases))]
    public void ShapValuesEqualXGBoostsPredContribs(string name)
    {
        var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "treeshap", name + ".json"))).RootElement;
        var ensemble = ModelFiles.Read(Encoding.UTF8.GetBytes(fixture.GetProperty("model").GetString()!));
        var explainer = new TreeExplainer(ensemble);
        Assert.Equal(ensemble.Trees.Length, explainer.TabledTrees);
        var rows = fixture.GetProperty("rows").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? double.NaN : v.GetDouble()).ToArray()).ToArray();
        var contribs = fixture.GetProperty("contribs").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var margins = fixture.GetProperty("margins").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var predictions = fixture.GetProperty("predictions").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var features = ensemble.Features;

        var (phi, computed) = Explain(explainer, rows);
        var recursion = new double[features];
        for (var r = 0; r < rows.Length; r++)
        {
            // XGBoost computes in float32: 1e-5 of the magnitude, as float32 rounding accumulates over the trees.
            Assert.Equal(contribs[r][features], explainer.BaseValue, 1e-5 * Math.Max(1, Math.Abs(explainer.BaseValue)));
            Assert.Equal(margins[r], computed[r], 1e-5 * Math.Max(1, Math.Abs(margins[r])));
            Assert.Equal(predictions[r], ensemble.Output(computed[r]), 1e-5 * Math.Max(1, Math.Abs(predictions[r])));
            for (var f = 0; f < features; f++)
            {
                Assert.True(Math.Abs(contribs[r][f] - phi[r][f]) <= 1e-5, $"{name} row {r} feature {f}: ours {phi[r][f]}, XGBoost {contribs[r][f]}");
            }

            // Additivity in the margin space, and the tables equal the textbook recursion.
            Assert.Equal(computed[r], explainer.BaseValue + phi[r].Sum(), 1e-9);
            explainer.ExplainByRecursion(rows[r], recursion);
            for (var f = 0; f < features; f++)
            {
                Assert.Equal(recursion[f], phi[r][f], 1e-10);
            }
        }
    }

    [Theory]
    [InlineData(1, 3, false)]
    [InlineData(2, 5, true)]
    [InlineData(3, 6, true)]
    [InlineData(4, 7, false)]
    public void ShapValuesEqualShapleyValuesOverEveryCoalition(int seed, int depth, bool lessOrEqual)
    {
        var rule = lessOrEqual ? SplitRule.LessOrEqual : SplitRule.LessThanSingle;
        // Random trees splitting on few features, so features repeat along paths; missing values and zero covers included.
        var random = new Random(seed);
        var features = 5;
        var trees = Enumerable.Range(0, 6).Select(_ => RandomTree(random, depth, features)).ToArray();
        var ensemble = new TreeEnsemble
        {
            Format = "test", Objective = "test", FeatureNames = [.. Enumerable.Range(0, features).Select(i => $"x{i}")], Trees = trees,
            BaseMargin = 0.25, Rule = rule, Transform = OutputTransform.Identity,
        };
        var explainer = new TreeExplainer(ensemble);
        var rows = Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, features)
            .Select(_ => random.NextDouble() < 0.1 ? double.NaN : Math.Round(random.NextDouble() * 4 - 2, 1)).ToArray()).ToArray();
        var (phi, margins) = Explain(explainer, rows);
        var recursion = new double[features];
        for (var r = 0; r < rows.Length; r++)
        {
            var expected = new double[features];
            foreach (var tree in trees)
            {
                BruteForce(tree, rule, rows[r], expected);
            }

            explainer.ExplainByRecursion(rows[r], recursion);
            for (var f = 0; f < features; f++)
            {
                Assert.Equal(expected[f], phi[r][f], 1e-10);
                Assert.Equal(expected[f], recursion[f], 1e-10);
            }

            Assert.Equal(margins[r], explainer.BaseValue + phi[r].Sum(), 1e-10);
            Assert.Equal(ensemble.Margin(rows[r]), margins[r]);
        }
    }

    [Fact]
    public void TreesBeyondTheTableBudgetAreExplainedByTheRecursion()
    {
        var random = new Random(9);
        var trees = Enumerable.Range(0, 4).Select(_ => RandomTree(random, 6, 8)).ToArray();
        var ensemble = new TreeEnsemble
        {
            Format = "test", Objective = "test", FeatureNames = [.. Enumerable.Range(0, 8).Select(i => $"x{i}")], Trees = trees,
            BaseMargin = 0, Rule = SplitRule.LessOrEqual, Transform = OutputTransform.Identity,
        };
        var tabled = new TreeExplainer(ensemble);
        var recursive = new TreeExplainer(ensemble, tableBudget: 0);
        Assert.Equal(0, recursive.TabledTrees);
        var rows = Enumerable.Range(0, 30).Select(_ => Enumerable.Range(0, 8).Select(_ => random.NextDouble() * 4 - 2).ToArray()).ToArray();
        var (a, _) = Explain(tabled, rows);
        var (b, _) = Explain(recursive, rows);
        for (var r = 0; r < rows.Length; r++)
        {
            for (var f = 0; f < 8; f++)
            {
                Assert.Equal(a[r][f], b[r][f], 1e-10);
            }
        }
    }

    [Fact]
    public void LightGbmTextModelsFollowTheirMissingTypesAndCounts()
    {
        // Split 0 on x0 (missing type NaN, default left), split 1 on x1 (missing type Zero, default right), split 2 on x0
        // again (missing type None: NaN counts as 0); a second tree of one leaf. Values worked by hand below.
        var model = """
            tree
            version=v4
            num_class=1
            num_tree_per_iteration=1
            label_index=0
            max_feature_idx=2
            objective=binary sigmoid:1
            feature_names=income debt age
            feature_infos=[-5:5] [-5:5] [0:90]
            tree_sizes=1 1

            Tree=0
            num_leaves=4
            num_cat=0
            split_feature=0 1 0
            split_gain=1 1 1
            threshold=0.5 0 -1
            decision_type=10 4 2
            left_child=1 2 -1
            right_child=-4 -3 -2
            leaf_value=-1 2 0.5 3
            leaf_weight=1 1 1 1
            leaf_count=10 20 30 40
            internal_value=0 0 0
            internal_weight=0 0 0
            internal_count=100 60 30
            is_linear=0
            shrinkage=1


            Tree=1
            num_leaves=1
            num_cat=0
            split_feature=
            split_gain=
            threshold=
            decision_type=
            left_child=
            right_child=
            leaf_value=0.125
            leaf_weight=
            leaf_count=
            internal_value=
            internal_weight=
            internal_count=
            is_linear=0
            shrinkage=1


            end of trees
            """.Replace("\r\n", "\n");
        var ensemble = ModelFiles.Read(Encoding.UTF8.GetBytes(model + "\n"));
        Assert.Equal(["income", "debt", "age"], ensemble.FeatureNames);
        Assert.Equal(OutputTransform.Logistic, ensemble.Transform);
        // x0 NaN → left (default) at split 0; x1 = 0 → default right → leaf 2 (0.5); x0 (NaN→0) at split 2: unused here.
        Assert.Equal(0.5 + 0.125, ensemble.Margin([double.NaN, 0, 0]));
        // x0 = -2 ≤ 0.5 → left; x1 = -1 ≤ 0 → left → split 2: x0 = -2 ≤ -1 → leaf 0 (-1).
        Assert.Equal(-1 + 0.125, ensemble.Margin([-2, -1, 0]));
        // x0 = 0.5 ≤ 0.5 → left; x1 NaN (Zero type) → default right → leaf 2.
        Assert.Equal(0.5 + 0.125, ensemble.Margin([0.5, double.NaN, 0]));
        // Expected value from the counts: (10·-1 + 20·2 + 30·0.5 + 40·3) / 100 + 0.125.
        var explainer = new TreeExplainer(ensemble);
        Assert.Equal((-10 + 40 + 15 + 120) / 100.0 + 0.125, explainer.BaseValue, 1e-12);
        double[][] rows = [[double.NaN, 0, 0], [-2, -1, 0], [3, 1, 50], [-0.5, double.NaN, double.NaN]];
        var (phi, margins) = Explain(explainer, rows);
        for (var r = 0; r < rows.Length; r++)
        {
            var expected = new double[3];
            BruteForce(ensemble.Trees[0], SplitRule.LessOrEqual, rows[r], expected);
            Assert.Equal(0, phi[r][2]);
            Assert.Equal(expected[0], phi[r][0], 1e-12);
            Assert.Equal(expected[1], phi[r][1], 1e-12);
            Assert.Equal(margins[r], explainer.BaseValue + phi[r].Sum(), 1e-12);
        }
    }

    [Theory]
    [InlineData("{\"learner\": {\"objective\": {\"name\": \"multi:softprob\"}}}", "multi:softprob is not explained")]
    [InlineData("{\"model\": 1}", "not an XGBoost model")]
    [InlineData("PK\u0003\u0004rest", "zip archive")]
    [InlineData("\u0008\u0007\u0012\u0004onnx", "ONNX Runtime cannot load the file")]
    [InlineData("plain text", "not a model in any of the formats read")]
    [InlineData("{\"learner\": ", "not valid JSON")]
    public void UnreadableModelsAreRefusedWithTheSupportedFormats(string content, string message)
    {
        var exception = Assert.ThrowsAny<Exception>(() => ModelFiles.ReadModel(Encoding.UTF8.GetBytes(content)));
        Assert.Contains(message, exception.Message);
        Assert.True(exception.Message.Contains("supported", StringComparison.Ordinal), exception.Message);
    }

    [Theory]
    [InlineData("Tree=0\nnum_leaves=1\nleaf_value=1\nis_linear=1\n", "linear trees")]
    [InlineData("Tree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=1\ndecision_type=1\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_count=1 1\ninternal_count=2\n", "categorical splits")]
    [InlineData("Tree=0\nnum_leaves=2\nsplit_feature=3\nthreshold=1\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nleaf_count=1 1\ninternal_count=2\n", "feature 3 (of 1)")]
    [InlineData("Tree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=1\ndecision_type=2\nleft_child=0\nright_child=-2\nleaf_value=1 2\nleaf_count=1 1\ninternal_count=2\n", "children 0")]
    public void LightGbmTreesThatCannotBeExplainedAreRefusedSayingWhy(string tree, string message)
    {
        var model = "tree\nversion=v4\nnum_class=1\nmax_feature_idx=0\nobjective=regression\n\n" + tree + "\n\nend of trees\n";
        var exception = Assert.ThrowsAny<Exception>(() => ModelFiles.Read(Encoding.UTF8.GetBytes(model)));
        Assert.Contains(message, exception.Message, StringComparison.Ordinal);
    }

    private static (double[][] Phi, double[] Margins) Explain(TreeExplainer explainer, double[][] rows)
    {
        var features = explainer.Ensemble.Features;
        var flat = rows.SelectMany(r => r).ToArray();
        var phi = new double[flat.Length];
        var margins = new double[rows.Length];
        explainer.Explain(flat, rows.Length, phi, margins, threads: 2);
        return ([.. Enumerable.Range(0, rows.Length).Select(r => phi.AsSpan(r * features, features).ToArray())], margins);
    }

    // A random binary tree on few features (so they repeat along paths), some covers zero.
    private static Tree RandomTree(Random random, int depth, int features)
    {
        var (left, right, feature, threshold, defaults, missing, value, cover) =
            (new List<int>(), new List<int>(), new List<int>(), new List<double>(), new List<bool>(), new List<MissingRule>(), new List<double>(), new List<double>());
        int Grow(int level, double weight)
        {
            var node = left.Count;
            left.Add(-1); right.Add(-1); feature.Add(0); threshold.Add(0); defaults.Add(random.Next(2) == 0);
            missing.Add((MissingRule)random.Next(3)); value.Add(Math.Round(random.NextDouble() * 2 - 1, 3)); cover.Add(weight);
            if (level < depth && (level < 2 || random.NextDouble() < 0.8))
            {
                feature[node] = random.Next(Math.Min(features, 4));
                threshold[node] = Math.Round(random.NextDouble() * 2 - 1, 1);
                var share = random.NextDouble() < 0.05 ? 0 : Math.Round(random.NextDouble(), 2);
                left[node] = Grow(level + 1, weight * share);
                right[node] = Grow(level + 1, weight * (1 - share));
            }

            return node;
        }

        Grow(0, 100);
        return new Tree
        {
            Left = [.. left], Right = [.. right], Feature = [.. feature], Threshold = [.. threshold], DefaultLeft = [.. defaults],
            Missing = [.. missing], Value = [.. value], Cover = [.. cover],
        };
    }

    // Shapley values over the tree's own features by enumerating every coalition, each valued by the path-dependent
    // conditional expectation (Lundberg et al., Algorithm 1): known features follow the row, unknown ones average both
    // children by cover.
    internal static void BruteForce(Tree tree, SplitRule rule, double[] row, double[] phi)
    {
        var used = Enumerable.Range(0, tree.Nodes).Where(n => !tree.IsLeaf(n)).Select(n => tree.Feature[n]).Distinct().ToArray();
        var m = used.Length;
        double Value(int node, int coalition)
        {
            if (tree.IsLeaf(node))
            {
                return tree.Value[node];
            }

            var slot = Array.IndexOf(used, tree.Feature[node]);
            if ((coalition >> slot & 1) == 1)
            {
                return Value(tree.GoesLeft(node, row[tree.Feature[node]], rule) ? tree.Left[node] : tree.Right[node], coalition);
            }

            var (l, r) = (tree.Cover[tree.Left[node]], tree.Cover[tree.Right[node]]);
            var cover = tree.Cover[node];
            return cover > 0
                ? (l * Value(tree.Left[node], coalition) + r * Value(tree.Right[node], coalition)) / cover
                : (Value(tree.Left[node], coalition) + Value(tree.Right[node], coalition)) / 2;
        }

        double Factorial(int n) => n <= 1 ? 1 : n * Factorial(n - 1);
        for (var i = 0; i < m; i++)
        {
            for (var coalition = 0; coalition < 1 << m; coalition++)
            {
                if ((coalition >> i & 1) == 1)
                {
                    continue;
                }

                var size = System.Numerics.BitOperations.PopCount((uint)coalition);
                var weight = Factorial(size) * Factorial(m - size - 1) / Factorial(m);
                phi[used[i]] += weight * (Value(0, coalition | 1 << i) - Value(0, coalition));
            }
        }
    }
}

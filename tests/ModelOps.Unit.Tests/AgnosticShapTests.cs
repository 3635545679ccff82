extern alias explainability;
using explainability::ModelOps.Explainability.Agnostic;
using explainability::ModelOps.Explainability.Trees;
using ModelOps.Testing.Onnx;

namespace ModelOps.Unit.Tests.Explainability;

/// <summary>
/// Model-agnostic Shapley values of ONNX models run by ONNX Runtime. The networks are written here as ONNX graphs and
/// computed again in double precision (<see cref="OnnxNetwork.Forward"/>); the oracles are a linear model's closed form
/// φᵢ = wᵢ(xᵢ − E[bᵢ]), the average over every ordering of the features, and the Shapley formula over every coalition.
/// </summary>
public sealed class AgnosticShapTests
{
    [Fact]
    public void ALinearModelsAttributionsAreItsWeightsTimesTheDistanceFromTheBackgroundMean()
    {
        var weights = new[] { 0.5f, -1.25f, 2f, 0f, 0.75f };
        var network = OnnxNetwork.Linear(weights, 0.3f);
        using var model = Read(network.ToOnnx(names: ["income", "debt", "age", "unused", "tenure"]));
        Assert.Equal(["income", "debt", "age", "unused", "tenure"], model.FeatureNames);
        Assert.Equal(("onnx", "y", "identity", true, (double?)null), (model.Format, model.Objective, model.Output, model.NeedsBackground, model.DefaultThreshold));

        var background = Rows(40, weights.Length, seed: 1);
        var rows = Rows(10, weights.Length, seed: 2);
        var explainer = model.Explainer(background, 40);
        Assert.Equal(("exact_interventional", 40, 30, 0UL), (explainer.Method.Name, explainer.Method.BackgroundRows, explainer.Method.Coalitions, explainer.Method.Seed));
        var (phi, margins) = Explain(explainer, rows, 10, weights.Length);

        var means = Enumerable.Range(0, weights.Length).Select(f => Enumerable.Range(0, 40).Average(b => (double)(float)background[(b * weights.Length) + f])).ToArray();
        Assert.Equal(Enumerable.Range(0, 40).Average(b => network.Forward(background.AsSpan(b * weights.Length, weights.Length))), explainer.BaseValue, 1e-5);
        for (var r = 0; r < 10; r++)
        {
            Assert.Equal(network.Forward(rows.AsSpan(r * weights.Length, weights.Length)), margins[r], 1e-5);
            for (var f = 0; f < weights.Length; f++)
            {
                Assert.Equal(weights[f] * ((float)rows[(r * weights.Length) + f] - means[f]), phi[(r * weights.Length) + f], 1e-5);
            }

            Assert.Equal(margins[r], explainer.BaseValue + phi.AsSpan(r * weights.Length, weights.Length).ToArray().Sum(), 1e-9);
        }
    }

    [Fact]
    public void ExactValuesOfANetworkEqualTheAverageOverEveryOrderingOfItsFeatures()
    {
        const int features = 6;
        var network = OnnxNetwork.Random(features, hidden: 8, seed: 3, probability: true);
        using var model = Read(network.ToOnnx(names: ["a", "b", "c", "d", "e", "f"], perFeature: true, twoColumns: true));
        Assert.Equal(("probabilities[:, 1]", (double?)0.5), (model.Objective, model.DefaultThreshold));
        var background = Rows(15, features, seed: 4);
        for (var b = 0; b < 15; b++)
        {
            background[(b * features) + 4] = 0.25; // every background row has e = 0.25
        }

        var rows = Rows(5, features, seed: 5);
        rows[(2 * features) + 4] = 0.25; // row 2 too: its e changes nothing, so it is worth exactly 0
        var explainer = model.Explainer(background, 15);
        var (phi, margins) = Explain(explainer, rows, 5, features);

        var permutations = Permutations(features).ToList();
        Assert.Equal(720, permutations.Count);
        for (var r = 0; r < 5; r++)
        {
            var x = rows.AsSpan(r * features, features).ToArray();
            var expected = new double[features];
            foreach (var order in permutations)
            {
                var coalition = 0;
                var before = Worth(network, x, background, 15, coalition);
                foreach (var f in order)
                {
                    coalition |= 1 << f;
                    var after = Worth(network, x, background, 15, coalition);
                    expected[f] += (after - before) / permutations.Count;
                    before = after;
                }
            }

            Assert.Equal(network.Forward(x), margins[r], 1e-6);
            for (var f = 0; f < features; f++)
            {
                Assert.True(Math.Abs(expected[f] - phi[(r * features) + f]) <= 2e-6, $"row {r} feature {f}: {phi[(r * features) + f]}, every ordering {expected[f]}");
            }
        }

        Assert.Equal(0, phi[(2 * features) + 4]);
    }

    [Fact]
    public void KernelShapEstimatesTheExactValuesWithinItsStandardErrorsAndAddsUpExactly()
    {
        const int features = 16;
        const int backgroundRows = 10;
        var network = OnnxNetwork.Random(features, hidden: 6, seed: 6);
        using var model = Read(network.ToOnnx());
        var background = Rows(backgroundRows, features, seed: 7);
        var rows = Rows(3, features, seed: 8);
        var explainer = model.Explainer(background, backgroundRows);
        Assert.Equal(("kernel_shap", ShapleyExplainer.KernelCoalitions(features), ShapleyExplainer.DefaultSeed), (explainer.Method.Name, explainer.Method.Coalitions, explainer.Method.Seed));
        var (phi, margins, errors) = Explain(explainer, rows, 3, features, estimates: true);

        // The exact values by the Shapley formula over all 65,536 coalitions, from the network in double precision.
        double squaredError = 0, squaredStandardError = 0;
        for (var r = 0; r < 3; r++)
        {
            var x = rows.AsSpan(r * features, features).ToArray();
            var worth = new double[1 << features];
            for (var coalition = 0; coalition < worth.Length; coalition++)
            {
                worth[coalition] = Worth(network, x, background, backgroundRows, coalition);
            }

            var exact = Shapley(worth, features);
            Assert.Equal(margins[r], explainer.BaseValue + phi.AsSpan(r * features, features).ToArray().Sum(), 1e-12);
            for (var f = 0; f < features; f++)
            {
                var (estimate, error) = (phi[(r * features) + f], errors[(r * features) + f]);
                Assert.True(error > 0, $"row {r} feature {f}: no standard error");
                Assert.True(Math.Abs(estimate - exact[f]) <= (5 * error) + 1e-5, $"row {r} feature {f}: {estimate} ± {error}, exactly {exact[f]}");
                squaredError += (estimate - exact[f]) * (estimate - exact[f]);
                squaredStandardError += error * error;
            }
        }

        // The standard errors say how far the estimates are: their root mean square is the errors' within a factor of 3.
        var ratio = Math.Sqrt(squaredError / squaredStandardError);
        Assert.InRange(ratio, 1 / 3.0, 3);

        // A row gets the same values wherever it is explained: its draws are seeded by its values.
        var (phiAgain, _, _) = Explain(explainer, [.. rows.AsSpan(2 * features, features), .. rows.AsSpan(0, features)], 2, features, estimates: true);
        Assert.Equal(phi.AsSpan(0, features).ToArray(), phiAgain.AsSpan(features, features).ToArray());
    }

    [Fact]
    public void AKernelDesignOfEveryCoalitionFitsTheShapleyValuesExactlyAndAnyDesignFitsAnAdditiveGame()
    {
        // Every coalition of 7 features enumerated: the kernel-weighted fit is the Shapley values of any game.
        var random = new Random(9);
        var worth = Enumerable.Range(0, 1 << 7).Select(_ => random.NextDouble() * 4).ToArray();
        worth[0] = 0;
        var complete = KernelDesign.Build(7, 126, new Random(1));
        Assert.True(complete.Complete);
        Assert.Equal(126, complete.Coalitions.Count);
        var fitted = complete.Solve([.. complete.Coalitions.Select(c => worth[Mask(c)])], worth[^1], new double[7]);
        var exact = Shapley(worth, 7);
        for (var f = 0; f < 7; f++)
        {
            Assert.Equal(exact[f], fitted[f], 1e-10);
        }

        // Sampled coalitions of 12 features: an additive game is fitted exactly from any design, with no spread.
        var shares = Enumerable.Range(0, 12).Select(_ => random.NextDouble() - 0.5).ToArray();
        var sampled = KernelDesign.Build(12, 300, new Random(2));
        Assert.False(sampled.Complete);
        var errors = new double[12];
        var additive = sampled.Solve([.. sampled.Coalitions.Select(c => c.Select((z, i) => z * shares[i]).Sum())], shares.Sum(), errors);
        for (var f = 0; f < 12; f++)
        {
            Assert.Equal(shares[f], additive[f], 1e-10);
            Assert.Equal(0, errors[f], 1e-10);
        }
    }

    [Fact]
    public void ALargeBackgroundIsASeededSampleOfAHundredRows()
    {
        var network = OnnxNetwork.Random(3, hidden: 4, seed: 10);
        using var model = Read(network.ToOnnx());
        var background = Rows(1000, 3, seed: 11);
        var first = model.Explainer(background, 1000);
        var second = model.Explainer(background, 1000);
        Assert.Equal((ShapleyExplainer.MaxBackgroundRows, ShapleyExplainer.DefaultSeed), (first.Method.BackgroundRows, first.Method.Seed));
        Assert.Equal(first.BaseValue, second.BaseValue);
        var all = Enumerable.Range(0, 1000).Average(b => network.Forward(background.AsSpan(b * 3, 3)));
        Assert.NotEqual(all, first.BaseValue);
        Assert.Equal(all, first.BaseValue, 0.1);
    }

    [Fact]
    public void OnnxModelsThatCannotBeExplainedAreRefusedSayingWhy()
    {
        var notOnnx = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel([0x08, 0x07, 0x12, 0xFF, 0xFF, 0x00, 0x01]));
        Assert.Contains("ONNX Runtime cannot load", notOnnx.Message, StringComparison.Ordinal);
        Assert.Contains("ONNX (float or double tensor", notOnnx.Message, StringComparison.Ordinal);

        var network = OnnxNetwork.Random(3, hidden: 2, seed: 12, probability: true);
        var column = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel(network.ToOnnx(twoColumns: true, metadata: new Dictionary<string, string> { ["modelops.output_column"] = "5" })));
        Assert.Contains("modelops.output_column", column.Message, StringComparison.Ordinal);
        var output = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel(network.ToOnnx(metadata: new Dictionary<string, string> { ["modelops.output"] = "logits" })));
        Assert.Contains("no float or double tensor output named logits", output.Message, StringComparison.Ordinal);
        var names = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel(network.ToOnnx(names: ["a", "a", "b"])));
        Assert.Contains("modelops.features", names.Message, StringComparison.Ordinal);
        var wide = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel(OnnxNetwork.Linear(new float[OnnxModel.MaxFeatures + 1], 0).ToOnnx()));
        Assert.Contains("at most 256", wide.Message, StringComparison.Ordinal);
        var fixedBatch = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel(network.ToOnnx(fixedBatch: true)));
        Assert.Contains("inputs must have a dynamic first (batch) dimension", fixedBatch.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AModelThatFailsOnItsRowsSaysSoAsTheModelsFailureNotTheExplainers()
    {
        // Declares a batch dimension but reshapes to one row: one row runs, a batch does not.
        var network = OnnxNetwork.Random(3, hidden: 2, seed: 13);
        using var model = Read(network.ToOnnx(failsOnBatches: true));
        var one = new double[1];
        model.Evaluate([0.1, 0.2, 0.3], 1, one);
        Assert.Equal(network.Forward([0.1, 0.2, 0.3]), one[0], 1e-6);
        var failure = Assert.Throws<ModelRunException>(() => model.Explainer(Rows(10, 3, seed: 14), 10));
        Assert.Contains("ONNX Runtime failed to run the model", failure.Message, StringComparison.Ordinal);
    }

    private static OnnxModel Read(byte[] content) => Assert.IsType<OnnxModel>(ModelFiles.ReadModel(content));

    // v(S): the network's mean over the background rows with the row's values on the coalition's features.
    private static double Worth(OnnxNetwork network, double[] x, double[] background, int rows, int coalition)
    {
        var features = x.Length;
        var sum = 0.0;
        var mixed = new double[features];
        for (var b = 0; b < rows; b++)
        {
            for (var f = 0; f < features; f++)
            {
                mixed[f] = (coalition & (1 << f)) != 0 ? x[f] : background[(b * features) + f];
            }

            sum += network.Forward(mixed);
        }

        return sum / rows;
    }

    private static double[] Shapley(double[] worth, int features)
    {
        var factorial = new double[features + 1];
        factorial[0] = 1;
        for (var i = 1; i <= features; i++)
        {
            factorial[i] = factorial[i - 1] * i;
        }

        var phi = new double[features];
        for (var coalition = 0; coalition < worth.Length; coalition++)
        {
            var size = System.Numerics.BitOperations.PopCount((uint)coalition);
            for (var f = 0; f < features; f++)
            {
                if ((coalition & (1 << f)) == 0)
                {
                    phi[f] += factorial[size] * factorial[features - size - 1] / factorial[features] * (worth[coalition | (1 << f)] - worth[coalition]);
                }
            }
        }

        return phi;
    }

    private static int Mask(byte[] coalition) => coalition.Select((z, i) => z << i).Sum();

    private static IEnumerable<int[]> Permutations(int n)
    {
        if (n == 1)
        {
            yield return [0];
            yield break;
        }

        foreach (var shorter in Permutations(n - 1))
        {
            for (var position = 0; position < n; position++)
            {
                yield return [.. shorter[..position], n - 1, .. shorter[position..]];
            }
        }
    }

    private static double[] Rows(int count, int features, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count * features).Select(_ => Math.Round((random.NextDouble() * 4) - 2, 3))];
    }

    private static (double[] Phi, double[] Margins) Explain(explainability::ModelOps.Explainability.Domain.IExplainer explainer, double[] rows, int count, int features)
    {
        var (phi, margins, _) = Explain(explainer, rows, count, features, estimates: false);
        return (phi, margins);
    }

    private static (double[] Phi, double[] Margins, double[] Errors) Explain(explainability::ModelOps.Explainability.Domain.IExplainer explainer, double[] rows, int count, int features, bool estimates)
    {
        var (phi, margins, errors) = (new double[count * features], new double[count], new double[count * features]);
        explainer.Explain(rows, count, phi, margins, estimates ? errors : null, threads: 2, TestContext.Current.CancellationToken);
        return (phi, margins, errors);
    }
}

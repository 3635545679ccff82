extern alias explainability;
using explainability::ModelOps.Explainability.Agnostic;
using explainability::ModelOps.Explainability.Trees;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace ModelOps.Unit.Tests.Explainability;

/// <summary>
/// ML.NET models saved as .zip: trained here by ML.NET itself, saved, read back as tree ensembles, and checked against
/// ML.NET's own scores and probabilities (rows with missing values included), against every coalition's Shapley
/// values, and against the background's mean margin that covers counted on it must give as the base value.
/// </summary>
public sealed class MlNetModelTests
{
    private const int Rows = 1500;

    public static TheoryData<string> Trainers => ["FastTreeRegression", "FastTreeBinary", "LightGbmRegression", "LightGbmBinary"];

    [Theory]
    [MemberData(nameof(Trainers))]
    public void ScoresEqualMlNetsAndShapValuesEqualEveryCoalitionsOnBackgroundCovers(string trainer)
    {
        var context = new MLContext(seed: 7);
        var examples = Examples(Rows, seed: 11);
        var data = context.Data.LoadFromEnumerable(examples);
        var model = Train(context, trainer).Fit(data);
        using var zip = new MemoryStream();
        context.Model.Save(model, data.Schema, zip);

        var read = ModelFiles.Read(zip.ToArray());
        Assert.Equal("mlnet-zip", read.Format);
        Assert.False(read.HasCover);
        Assert.Equal(["Age", "Income", "Debt", "Tenure", "Constant", "Noise"], read.FeatureNames);
        Assert.Equal(trainer.EndsWith("Binary", StringComparison.Ordinal) ? OutputTransform.Logistic : OutputTransform.Identity, read.Transform);

        // ML.NET's own scores (and probabilities) on every row: the ensemble's margins must be them, as floats.
        var scored = model.Transform(data);
        var scores = scored.GetColumn<float>("Score").ToArray();
        var probabilities = read.Transform == OutputTransform.Logistic ? scored.GetColumn<float>("Probability").ToArray() : null;
        var rows = examples.Select(e => e.Values()).ToArray();
        for (var r = 0; r < Rows; r++)
        {
            var margin = read.Margin(rows[r]);
            Assert.True(Math.Abs(margin - scores[r]) <= 1e-5 * Math.Max(1, Math.Abs(scores[r])), $"row {r}: margin {margin}, ML.NET's score {scores[r]}");
            if (probabilities is not null)
            {
                Assert.True(Math.Abs(read.Output(margin) - probabilities[r]) <= 1e-5, $"row {r}: {read.Output(margin)} against ML.NET's {probabilities[r]}");
            }
        }

        // Covers counted on the training rows: the base value is their mean margin, and each row's attributions add to
        // its margin and equal the Shapley values of every tree enumerated coalition by coalition.
        var background = read.WithCovers([.. rows.SelectMany(r => r)], Rows);
        var explainer = new TreeExplainer(background);
        Assert.Equal(rows.Average(r => read.Margin(r)), explainer.BaseValue, 1e-9);
        var explained = rows.Take(40).ToArray();
        var phi = new double[explained.Length * read.Features];
        var margins = new double[explained.Length];
        explainer.Explain([.. explained.SelectMany(r => r)], explained.Length, phi, margins, threads: 2, TestContext.Current.CancellationToken);
        for (var r = 0; r < explained.Length; r++)
        {
            var attribution = phi.AsSpan(r * read.Features, read.Features).ToArray();
            Assert.Equal(margins[r], explainer.BaseValue + attribution.Sum(), 1e-6);
            var expected = new double[read.Features];
            foreach (var tree in background.Trees)
            {
                TreeShapTests.BruteForce(tree, background.Rule, explained[r], expected);
            }

            for (var f = 0; f < read.Features; f++)
            {
                Assert.True(Math.Abs(attribution[f] - expected[f]) <= 1e-9, $"row {r}, {read.FeatureNames[f]}: {attribution[f]} against {expected[f]}");
            }

            Assert.Equal(0, attribution[4]); // the constant feature is never split on
        }
    }

    [Fact]
    public void PipelinesThatTransformTheirInputAreRefusedNamingTheTransform()
    {
        var context = new MLContext(seed: 7);
        var data = context.Data.LoadFromEnumerable(Examples(200, seed: 3));
        var model = context.Transforms.Concatenate("Features", Example.Names)
            .Append(context.Transforms.NormalizeMinMax("Features"))
            .Append(context.Regression.Trainers.FastTree(numberOfTrees: 2, numberOfLeaves: 4, minimumExampleCountPerLeaf: 5))
            .Fit(data);
        using var zip = new MemoryStream();
        context.Model.Save(model, data.Schema, zip);

        var refusal = Assert.Throws<ModelFormatException>(() => ModelFiles.Read(zip.ToArray()));
        Assert.Contains("NormalizingTransformer", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("Concatenate", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void APipelineThatIsNotABareTreeEnsembleIsExplainedModelAgnosticallyByMlNetItself()
    {
        // Normalised input and a FastTree classifier: TreeSHAP would explain the normalised values, so the pipeline is
        // run by ML.NET and its probability explained over the raw input columns (the label column is no feature).
        var context = new MLContext(seed: 7);
        var examples = Examples(300, seed: 13);
        var data = context.Data.LoadFromEnumerable(examples);
        var trained = context.Transforms.Concatenate("Features", Example.Names)
            .Append(context.Transforms.NormalizeMinMax("Features"))
            .Append(context.BinaryClassification.Trainers.FastTree(labelColumnName: "Approved", numberOfTrees: 10, numberOfLeaves: 6, minimumExampleCountPerLeaf: 5))
            .Fit(data);
        using var zip = new MemoryStream();
        context.Model.Save(trained, data.Schema, zip);

        var model = Assert.IsType<MlNetPipeline>(ModelFiles.ReadModel(zip.ToArray()));
        Assert.Equal(("mlnet-zip", "Probability", 0, (double?)0.5), (model.Format, model.Objective, model.TreeCount, model.DefaultThreshold));
        Assert.Equal(Example.Names, model.FeatureNames);

        var background = examples.Take(20).ToList();
        var explained = examples.Skip(100).Take(4).ToList();
        var explainer = model.Explainer([.. background.SelectMany(e => e.Values())], background.Count);
        Assert.Equal(("exact_interventional", 20, 62), (explainer.Method.Name, explainer.Method.BackgroundRows, explainer.Method.Coalitions));
        var features = Example.Names.Length;
        var (phi, margins) = (new double[explained.Count * features], new double[explained.Count]);
        explainer.Explain([.. explained.SelectMany(e => e.Values())], explained.Count, phi, margins, null, threads: 2, TestContext.Current.CancellationToken);

        // The oracle: ML.NET's own scoring of typed rows, every ordering of the six features.
        double Probability(IEnumerable<Example> rows) => trained.Transform(context.Data.LoadFromEnumerable(rows)).GetColumn<float>("Probability").Average(p => (double)p);
        Assert.Equal(Probability(background), explainer.BaseValue, 1e-6);
        for (var r = 0; r < explained.Count; r++)
        {
            var x = explained[r];
            Assert.Equal(Probability([x]), margins[r], 1e-6);
            var worth = new Dictionary<int, double>();
            double Worth(int coalition) => worth.TryGetValue(coalition, out var known) ? known : worth[coalition] = Probability(background.Select(b => Mixed(x, b, coalition)));
            var expected = new double[features];
            foreach (var order in Orderings(features))
            {
                var coalition = 0;
                foreach (var f in order)
                {
                    expected[f] += (Worth(coalition | (1 << f)) - Worth(coalition)) / 720;
                    coalition |= 1 << f;
                }
            }

            for (var f = 0; f < features; f++)
            {
                Assert.Equal(expected[f], phi[(r * features) + f], 1e-6);
            }

            Assert.Equal(0, phi[(r * features) + 4]); // Constant: every background row has its value
        }
    }

    [Fact]
    public void AFastForestIsExplainedThroughMlNetAndAPipelineOfTextIsRefused()
    {
        var context = new MLContext(seed: 7);
        var data = context.Data.LoadFromEnumerable(Examples(200, seed: 3));
        var forest = context.Transforms.Concatenate("Features", Example.Names)
            .Append(context.Regression.Trainers.FastForest(numberOfTrees: 5, numberOfLeaves: 4, minimumExampleCountPerLeaf: 5))
            .Fit(data);
        using var zip = new MemoryStream();
        context.Model.Save(forest, data.Schema, zip);
        var model = Assert.IsType<MlNetPipeline>(ModelFiles.ReadModel(zip.ToArray()));
        Assert.Equal(("Score", (double?)null), (model.Objective, model.DefaultThreshold));

        var texts = context.Data.LoadFromEnumerable(Enumerable.Range(0, 50).Select(i => new Review { Text = i % 2 == 0 ? "good loan" : "bad loan", Label = i % 2 == 0 }));
        var text = context.Transforms.Text.FeaturizeText("Features", "Text")
            .Append(context.BinaryClassification.Trainers.FastTree(numberOfTrees: 2, numberOfLeaves: 2, minimumExampleCountPerLeaf: 2))
            .Fit(texts);
        using var textZip = new MemoryStream();
        context.Model.Save(text, texts.Schema, textZip);
        var refusal = Assert.Throws<UnsupportedModelException>(() => ModelFiles.ReadModel(textZip.ToArray()));
        Assert.Contains("no Single input columns", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("the ML.NET pipeline transforms its input with", refusal.Message, StringComparison.Ordinal);
    }

    private static Example Mixed(Example x, Example b, int coalition)
    {
        float Pick(int f, float mine, float theirs) => (coalition & (1 << f)) != 0 ? mine : theirs;
        return new Example
        {
            Age = Pick(0, x.Age, b.Age), Income = Pick(1, x.Income, b.Income), Debt = Pick(2, x.Debt, b.Debt),
            Tenure = Pick(3, x.Tenure, b.Tenure), Constant = Pick(4, x.Constant, b.Constant), Noise = Pick(5, x.Noise, b.Noise),
        };
    }

    private static IEnumerable<int[]> Orderings(int n) => n == 0
        ? [[]]
        : Orderings(n - 1).SelectMany(shorter => Enumerable.Range(0, n).Select(at => (int[])[.. shorter[..at], n - 1, .. shorter[at..]]));

    private sealed class Review
    {
        public string Text { get; set; } = "";
        public bool Label { get; set; }
    }

    [Fact]
    public void AZipThatIsNoMlNetModelIsRefused()
    {
        using var zip = new MemoryStream();
        using (var archive = new System.IO.Compression.ZipArchive(zip, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            using var writer = new StreamWriter(archive.CreateEntry("readme.txt").Open());
            writer.Write("not a model");
        }

        var refusal = Assert.ThrowsAny<Exception>(() => ModelFiles.Read(zip.ToArray()));
        Assert.True(refusal is ModelFormatException or UnsupportedModelException, refusal.GetType().Name);
        Assert.Contains("ML.NET", refusal.Message, StringComparison.Ordinal);
    }

    private static IEstimator<ITransformer> Train(MLContext context, string trainer)
    {
        var features = context.Transforms.Concatenate("Features", Example.Names);
        return trainer switch
        {
            "FastTreeRegression" => features.Append(context.Regression.Trainers.FastTree(numberOfTrees: 30, numberOfLeaves: 8, minimumExampleCountPerLeaf: 5)),
            "FastTreeBinary" => features.Append(context.BinaryClassification.Trainers.FastTree(labelColumnName: "Approved", numberOfTrees: 30, numberOfLeaves: 8, minimumExampleCountPerLeaf: 5)),
            "LightGbmRegression" => features.Append(context.Regression.Trainers.LightGbm(numberOfLeaves: 8, minimumExampleCountPerLeaf: 5, numberOfIterations: 30)),
            "LightGbmBinary" => features.Append(context.BinaryClassification.Trainers.LightGbm(labelColumnName: "Approved", numberOfLeaves: 8, minimumExampleCountPerLeaf: 5, numberOfIterations: 30)),
            _ => throw new ArgumentOutOfRangeException(nameof(trainer)),
        };
    }

    // Applicants with a tenth of Income and Debt missing, a constant column, and a label that depends on three features.
    private static List<Example> Examples(int count, int seed)
    {
        var random = new Random(seed);
        var examples = new List<Example>(count);
        for (var i = 0; i < count; i++)
        {
            var e = new Example
            {
                Age = 18 + random.Next(60), Income = random.NextDouble() < 0.1 ? float.NaN : (float)(random.NextDouble() * 10),
                Debt = random.NextDouble() < 0.1 ? float.NaN : (float)(random.NextDouble() * 5), Tenure = random.Next(30), Constant = 1, Noise = (float)random.NextDouble(),
            };
            var score = (0.5 * (float.IsNaN(e.Income) ? 3 : e.Income)) - (float.IsNaN(e.Debt) ? 1 : e.Debt) + (0.05 * e.Age) + (random.NextDouble() - 0.5);
            e.Label = (float)score;
            e.Approved = score > 1.5;
            examples.Add(e);
        }

        return examples;
    }

    private sealed class Example
    {
        public static readonly string[] Names = ["Age", "Income", "Debt", "Tenure", "Constant", "Noise"];

        public float Age { get; set; }
        public float Income { get; set; }
        public float Debt { get; set; }
        public float Tenure { get; set; }
        public float Constant { get; set; }
        public float Noise { get; set; }
        public float Label { get; set; }
        public bool Approved { get; set; }

        public double[] Values() => [Age, Income, Debt, Tenure, Constant, Noise];
    }
}

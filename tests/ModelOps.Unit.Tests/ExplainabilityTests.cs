extern alias explainability;
extern alias drift;
using explainability::ModelOps.Explainability.Domain;
using explainability::ModelOps.Explainability.Trees;
using explainability::ModelOps.Explainability.V1;
using WindowSamples = drift::ModelOps.Drift.Domain.WindowSamples;

namespace ModelOps.Unit.Tests.Explainability;

/// <summary>Importance summaries, reason codes, attribution drift and drift's window samples, each against its definition computed by brute force.</summary>
public sealed class ExplainabilityTests
{
    [Fact]
    public void ImportanceIsTheMeanAbsoluteAttributionWithNumpysPercentilesAndWeightsSummingToOne()
    {
        var random = new Random(3);
        const int rows = 257, m = 4;
        var values = Enumerable.Range(0, rows * m).Select(i => i % 11 == 0 ? double.NaN : random.NextDouble()).ToArray();
        var phi = Enumerable.Range(0, rows * m).Select(i => (random.NextDouble() - 0.3) * (i % m + 1)).ToArray();
        var report = Importance.Summarise(["a", "b", "c", "d"], values, phi, rows, new Dictionary<string, FeatureEntry> { ["c"] = new() { Feature = "c", DisplayName = "Sea" } });

        Assert.Equal(["d", "c", "b", "a"], report.Features.Select(f => f.Feature));
        Assert.Equal([1, 2, 3, 4], report.Features.Select(f => f.Rank));
        Assert.Equal("Sea", report.Features[1].DisplayName);
        Assert.Equal(1, report.Weights.Values.Sum(), 1e-12);
        foreach (var figure in report.Features)
        {
            var f = figure.Feature[0] - 'a';
            var column = Enumerable.Range(0, rows).Select(r => phi[(r * m) + f]).ToArray();
            Assert.Equal(column.Average(Math.Abs), figure.MeanAbs, 1e-12);
            Assert.Equal(column.Average(), figure.Mean, 1e-12);
            Assert.Equal(Enumerable.Range(0, rows).Count(r => double.IsNaN(values[(r * m) + f])) / (double)rows, figure.MissingShare, 1e-12);
            var sorted = column.Order().ToArray();
            // numpy.percentile's default: the value at rank q·(n−1), interpolated between its neighbours.
            foreach (var (q, quantile) in new[] { 0.05, 0.25, 0.5, 0.75, 0.95 }.Zip(figure.Quantiles))
            {
                var at = q * (rows - 1);
                var low = (int)at;
                Assert.Equal(sorted[low] + ((at - low) * (sorted[Math.Min(low + 1, rows - 1)] - sorted[low])), quantile, 1e-12);
            }

            Assert.Equal(figure.MeanAbs / report.Features.Sum(x => x.MeanAbs), report.Weights[figure.Feature], 1e-12);
        }

        Assert.Equal(4, report.Beeswarm.Count);
        Assert.All(report.Beeswarm, b => Assert.Equal(rows, b.Attributions.Count));
        Assert.All(report.Beeswarm.SelectMany(b => b.ValueRanks), r => Assert.True(r == -1 || r is >= 0 and <= 1));
    }

    [Fact]
    public void ReasonCodesAreTheFeaturesThatPushedTowardTheDecisionStrongestFirst()
    {
        var tree = new Tree
        {
            Left = [1, -1, -1], Right = [2, -1, -1], Feature = [0, 0, 0], Threshold = [0, 0, 0], DefaultLeft = [true, false, false],
            Missing = [MissingRule.NaN, MissingRule.NaN, MissingRule.NaN], Value = [0, -1, 1], Cover = [2, 1, 1],
        };
        var ensemble = new TreeEnsemble
        {
            Format = "test", Objective = "binary:logistic", FeatureNames = ["income", "debt", "age", "tenure"], Trees = [tree], BaseMargin = 0,
            Rule = SplitRule.LessOrEqual, Transform = OutputTransform.Logistic,
        };
        var model = new ExplainedModel(new ModelRef { Model = "credit", Version = 1 }, "sha", new TreeModel(ensemble), new TreeExplainer(ensemble), null);
        double[] row = [1, double.NaN, 30, 2];
        double[] phi = [0.4, 0.9, -0.2, 0.4];
        var dictionary = new Dictionary<string, FeatureEntry> { ["debt"] = new() { Feature = "debt", DisplayName = "Debt ratio", Description = "debt over income" } };

        var declined = Explanations.Explain(model, 7, "app-7", row, phi, 1.5, 0.5, 2, dictionary);
        Assert.True(declined.Decision);
        Assert.Equal(["debt", "income"], declined.Reasons.Select(r => r.Feature));
        Assert.Equal(("Debt ratio", "debt over income", false), (declined.Reasons[0].DisplayName, declined.Reasons[0].Description, declined.Reasons[0].HasValue));
        Assert.Equal(1, declined.Reasons[1].Value);
        Assert.Equal(1 / (1 + Math.Exp(-1.5)), declined.Prediction, 1e-15);

        // Ties keep the model's order; below the threshold only negative attributions are reasons.
        var full = Explanations.Explain(model, 7, "app-7", row, phi, 1.5, 0.5, 5, dictionary);
        Assert.Equal(["debt", "income", "tenure"], full.Reasons.Select(r => r.Feature));
        var approved = Explanations.Explain(model, 7, "", row, phi, -1, 0.5, 5, dictionary);
        Assert.Equal((false, "age"), (approved.Decision, approved.Reasons.Single().Feature));
        var noThreshold = Explanations.Explain(model, 7, "", row, phi, -1, null, 2, dictionary);
        Assert.False(noThreshold.HasDecision);
        Assert.Equal(["debt", "income"], noThreshold.Reasons.Select(r => r.Feature));
    }

    [Theory]
    [InlineData(10_000, 5, 0, false, 1000)]
    [InlineData(60, 50, 1000, false, 1000)]
    [InlineData(256, 50, 1000, true, 1000)]
    [InlineData(3, 3, 0, false, 1000)]
    public void AStreamedBatchStaysWithinAClientsDefaultMessageLimitWhateverTheFeaturesAndDictionary(int features, int topK, int description, bool errors, int requested)
    {
        // The worst a batch can hold: every attribution and error a full double, every reason code with the longest
        // dictionary entry (descriptions of three-byte characters).
        var names = Enumerable.Range(0, features).Select(f => $"feature_{f:D6}").ToList();
        var dictionary = names.Take(description > 0 ? topK : 0)
            .ToDictionary(n => n, n => new FeatureEntry { Feature = n, DisplayName = new string('名', 200), Description = new string('説', description) });
        var rows = Explanations.BatchRows(requested, features, topK, Explanations.LargestReason(names, dictionary), errors);
        var batch = new ExplainBatch();
        for (var r = 0; r < rows; r++)
        {
            var row = new RowExplanation { Row = long.MaxValue, Id = new string('i', 200), BaseValue = 0.1, Margin = 0.2, Prediction = 0.3, Decision = true };
            row.Attributions.Add(Enumerable.Repeat(Math.PI, features));
            if (errors)
            {
                row.AttributionErrors.Add(Enumerable.Repeat(Math.E, features));
            }

            row.Reasons.Add(names.Take(topK).Select((name, i) => dictionary.GetValueOrDefault(name) is { } e
                ? new ReasonCode { Rank = i + 1, Feature = name, DisplayName = e.DisplayName, Description = e.Description, Value = 1.5, Attribution = -2.5 }
                : new ReasonCode { Rank = i + 1, Feature = name, DisplayName = name, Value = 1.5, Attribution = -2.5 }));
            batch.Rows.Add(row);
        }

        Assert.InRange(batch.CalculateSize(), 1, 4 << 20);
        Assert.InRange(rows, 1, requested);
        if (features <= 10 && description == 0)
        {
            Assert.Equal(requested, rows); // small rows are never cut
        }
    }

    [Fact]
    public void AttributionShiftIsTheTotalVariationBetweenImportancesAndOverlapCountsTopFeatures()
    {
        static ImportanceReport Report(params (string Feature, double MeanAbs)[] features)
        {
            var report = new ImportanceReport();
            var total = features.Sum(f => f.MeanAbs);
            foreach (var (feature, meanAbs) in features.OrderByDescending(f => f.MeanAbs))
            {
                report.Features.Add(new FeatureImportance { Feature = feature, MeanAbs = meanAbs });
                report.Weights[feature] = meanAbs / total;
            }

            return report;
        }

        var reference = Report(("a", 5), ("b", 3), ("c", 2), ("d", 0));
        var same = AttributionDrift.Compare(Report(("a", 10), ("b", 6), ("c", 4), ("d", 0)), reference, 3);
        Assert.Equal((0, 1), (same.Shift, same.Overlap), new ToleranceComparer());
        var moved = AttributionDrift.Compare(Report(("a", 0), ("b", 3), ("c", 2), ("d", 5)), reference, 3);
        // ½ (|0 − .5| + |.3 − .3| + |.2 − .2| + |.5 − 0|) = 0.5; of a, b, c only b and c remain on top.
        Assert.Equal(0.5, moved.Shift, 1e-12);
        Assert.Equal(2 / 3.0, moved.Overlap, 1e-12);
        Assert.Equal(["d", "b", "c"], moved.WindowTop);

        // KS distance by brute force over every point of both samples.
        var random = new Random(5);
        var x = Enumerable.Range(0, 80).Select(_ => Math.Round(random.NextDouble(), 2)).ToArray();
        var y = Enumerable.Range(0, 55).Select(_ => Math.Round(random.NextDouble() + 0.2, 2)).ToArray();
        var expected = x.Concat(y).Max(t => Math.Abs((x.Count(v => v <= t) / 80.0) - (y.Count(v => v <= t) / 55.0)));
        Assert.Equal(expected, AttributionDrift.KolmogorovSmirnov(x, y), 1e-12);
    }

    [Fact]
    public void AWindowSampleIsTheBottomKOfItsRecordsByRequestIdHashWhicheverOrderTheyCome()
    {
        var ids = Enumerable.Range(0, 1000).Select(i => $"req-{i}").ToArray();
        var expected = ids.OrderBy(WindowSamples.Priority).Take(50).Order().ToArray();
        foreach (var seed in new[] { 1, 2 })
        {
            // Two "replicas" each sample half, in a different order; their union cut to 50 is the whole's sample.
            var shuffled = ids.OrderBy(_ => new Random(seed).Next()).ToArray();
            var first = new WindowSamples.Collector(50, ["x"]);
            var second = new WindowSamples.Collector(50, ["x"]);
            for (var i = 0; i < shuffled.Length; i++)
            {
                (i % 2 == 0 ? first : second).Offer(7, shuffled[i], _ => i);
            }

            var merged = first.Rows.Concat(second.Rows).OrderBy(r => r.Priority).Take(50).Select(r => r.RequestId).Order().ToArray();
            Assert.Equal(expected, merged);
            Assert.All(first.Rows, r => Assert.Equal(7, r.Key));
        }
    }

    private sealed class ToleranceComparer : IEqualityComparer<(double, double)>
    {
        public bool Equals((double, double) a, (double, double) b) => Math.Abs(a.Item1 - b.Item1) < 1e-12 && Math.Abs(a.Item2 - b.Item2) < 1e-12;

        public int GetHashCode((double, double) value) => 0;
    }
}

extern alias drift;
using drift::ModelOps.Drift.Profiles;

namespace ModelOps.Unit.Tests.Drift;

/// <summary>Per-window performance against brute force over the same labelled predictions.</summary>
public sealed class PerformanceTests
{
    [Fact]
    public void ClassificationMetricsMatchBruteForceAndMergeExactly()
    {
        var u = XorShift.Uniforms(31, 6000);
        var records = Enumerable.Range(0, 3000)
            .Select(i => (Label: u[2 * i] < 0.3, Noise: u[(2 * i) + 1]))
            .Select(r => (Score: Math.Clamp((r.Label ? 0.62 : 0.38) + ((r.Noise - 0.5) * 0.7), 0, 1), r.Label))
            .ToList();
        var whole = new ClassificationPerformance();
        var halves = new[] { new ClassificationPerformance(), new ClassificationPerformance() };
        for (var i = 0; i < records.Count; i++)
        {
            whole.Add(records[i].Score, records[i].Label);
            halves[i % 2].Add(records[i].Score, records[i].Label);
        }

        halves[0].Merge(halves[1]);
        foreach (var performance in new[] { whole, halves[0] })
        {
            long tp = records.Count(r => r.Label && r.Score >= 0.5), fp = records.Count(r => !r.Label && r.Score >= 0.5);
            long fn = records.Count(r => r.Label && r.Score < 0.5), tn = records.Count(r => !r.Label && r.Score < 0.5);
            Assert.Equal((tp, fp, tn, fn), (performance.TruePositives, performance.FalsePositives, performance.TrueNegatives, performance.FalseNegatives));
            Assert.Equal((double)(tp + tn) / records.Count, performance.Accuracy, 12);
            var precision = (double)tp / (tp + fp);
            var recall = (double)tp / (tp + fn);
            Assert.Equal(2 * precision * recall / (precision + recall), performance.F1, 12);
            var logLoss = records.Average(r => -Math.Log(r.Label ? Math.Clamp(r.Score, 1e-15, 1 - 1e-15) : 1 - Math.Clamp(r.Score, 1e-15, 1 - 1e-15)));
            Assert.Equal(logLoss, performance.LogLoss, 10);

            // AUC by counting every (positive, negative) pair.
            var positives = records.Where(r => r.Label).Select(r => r.Score).ToList();
            var negatives = records.Where(r => !r.Label).Select(r => r.Score).ToList();
            var wins = positives.Sum(p => negatives.Sum(n => p > n ? 1.0 : p == n ? 0.5 : 0.0));
            var exact = wins / ((double)positives.Count * negatives.Count);
            Assert.InRange(Math.Abs(performance.Auc - exact), 0, performance.AucBound + 1e-12);
            Assert.InRange(performance.AucBound, 0, 1e-3);
        }
    }

    [Fact]
    public void StoredPerformanceReadsBackTheSameCounts()
    {
        var u = XorShift.Uniforms(77, 4000);
        var classification = TaskPerformance.For(drift::ModelOps.Drift.V1.ModelTask.BinaryClassification, 0.4);
        var regression = TaskPerformance.For(drift::ModelOps.Drift.V1.ModelTask.Regression, 0.5);
        for (var i = 0; i < 2000; i++)
        {
            Assert.Equal(u[2 * i] >= 0.4 == u[(2 * i) + 1] < 0.5 ? 0 : 1, classification.Add(u[2 * i], u[(2 * i) + 1] < 0.5 ? 1 : 0));
            Assert.Equal(Math.Abs((u[2 * i] * 10) - (u[(2 * i) + 1] * 10)), regression.Add(u[2 * i] * 10, u[(2 * i) + 1] * 10), 12);
        }

        var c = PerformanceCodec.Decode(PerformanceCodec.Encode(classification)).Classification!;
        var original = classification.Classification!;
        Assert.Equal((original.Threshold, original.TruePositives, original.FalsePositives, original.TrueNegatives, original.FalseNegatives),
            (c.Threshold, c.TruePositives, c.FalsePositives, c.TrueNegatives, c.FalseNegatives));
        Assert.Equal((original.Auc, original.AucBound, original.LogLoss, original.F1), (c.Auc, c.AucBound, c.LogLoss, c.F1));
        Assert.Equal(original.Bins(), c.Bins());
        var r = PerformanceCodec.Decode(PerformanceCodec.Encode(regression)).Regression!;
        Assert.Equal((regression.Regression!.Count, regression.Regression.Rmse, regression.Regression.Mae), (r.Count, r.Rmse, r.Mae));
    }

    [Fact]
    public void WithoutBothClassesTheAucIsUndefinedNotAnError()
    {
        var performance = new ClassificationPerformance();
        performance.Add(0.9, true);
        performance.Add(0.4, true);
        Assert.True(double.IsNaN(performance.Auc));
        Assert.Equal(0.5, performance.Accuracy);
        Assert.Equal((1.0, 0.5), (performance.Precision, performance.Recall));
        Assert.Equal(2.0 / 3, performance.F1, 12);
        Assert.Throws<ArgumentException>(() => performance.Add(double.NaN, false));
    }

    [Fact]
    public void RegressionErrorsMatchBruteForceAndMergeExactly()
    {
        var u = XorShift.Uniforms(32, 2000);
        var pairs = Enumerable.Range(0, 1000).Select(i => (Prediction: u[2 * i] * 100, Label: (u[2 * i] * 100) + ((u[(2 * i) + 1] - 0.5) * 10))).ToList();
        var whole = new RegressionPerformance();
        var parts = new[] { new RegressionPerformance(), new RegressionPerformance(), new RegressionPerformance() };
        for (var i = 0; i < pairs.Count; i++)
        {
            whole.Add(pairs[i].Prediction, pairs[i].Label);
            parts[i % 3].Add(pairs[i].Prediction, pairs[i].Label);
        }

        parts[0].Merge(parts[1]);
        parts[0].Merge(parts[2]);
        foreach (var performance in new[] { whole, parts[0] })
        {
            Assert.Equal(pairs.Average(p => Math.Abs(p.Prediction - p.Label)), performance.Mae, 10);
            Assert.Equal(Math.Sqrt(pairs.Average(p => (p.Prediction - p.Label) * (p.Prediction - p.Label))), performance.Rmse, 10);
        }

        Assert.Throws<ArgumentException>(() => whole.Add(double.PositiveInfinity, 1));
    }
}

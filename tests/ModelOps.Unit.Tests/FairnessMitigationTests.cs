extern alias fairness;
using fairness::ModelOps.Fairness.Analysis;
using fairness::ModelOps.Fairness.Mitigations;
using fairness::ModelOps.Fairness.V1;

namespace ModelOps.Unit.Tests.Fairness;

/// <summary>
/// Per-group thresholds against a brute-force search over every combination of per-group thresholds, and reweighing
/// against its definition.
/// </summary>
public sealed class FairnessMitigationTests
{
    [Theory]
    [InlineData(ParityConstraint.DemographicParity, 0.05, 1)]
    [InlineData(ParityConstraint.DemographicParity, 0.0, 2)]
    [InlineData(ParityConstraint.DemographicParity, 0.15, 3)]
    [InlineData(ParityConstraint.EqualizedOdds, 0.1, 4)]
    [InlineData(ParityConstraint.EqualizedOdds, 0.25, 5)]
    [InlineData(ParityConstraint.EqualizedOdds, 0.0, 6)]
    public void ThresholdsAreAsAccurateAsABruteForceSearchAndMeetTheConstraint(ParityConstraint constraint, double tolerance, int seed)
    {
        var (groups, labels, scores) = Biased(seed, [14, 11, 9]);
        var constrained = new[] { true, true, true };
        var cuts = ThresholdOptimizer.Optimize(groups, labels, scores, constrained, 0.5, constraint, tolerance);

        var (rates, correct) = Evaluate(groups, labels, scores, cuts);
        Assert.True(Feasible(rates, constraint, tolerance), $"{string.Join("; ", rates)}");

        // Every threshold each group could have (its distinct scores, and one above them all), in every combination.
        var options = Enumerable.Range(0, 3).Select(g => scores.Where((_, r) => groups[r] == g).Distinct()
            .Select(s => new GroupCut(s, false)).Append(new GroupCut(1, true)).ToArray()).ToArray();
        var best = -1L;
        foreach (var a in options[0])
        {
            foreach (var b in options[1])
            {
                foreach (var c in options[2])
                {
                    var (candidateRates, candidateCorrect) = Evaluate(groups, labels, scores, [a, b, c]);
                    if (Feasible(candidateRates, constraint, tolerance))
                    {
                        best = Math.Max(best, candidateCorrect);
                    }
                }
            }
        }

        Assert.Equal(best, correct);
    }

    [Fact]
    public void AGroupTooSmallKeepsTheThresholdAndIsNotConstrained()
    {
        var (groups, labels, scores) = Biased(9, [30, 30, 4]);
        var cuts = ThresholdOptimizer.Optimize(groups, labels, scores, [true, true, false], 0.5, ParityConstraint.DemographicParity, 0.0);
        Assert.Equal(new GroupCut(0.5, false), cuts[2]);
        var (rates, _) = Evaluate(groups, labels, scores, cuts);
        Assert.Equal(rates[0].Selection, rates[1].Selection, 1e-12);
    }

    [Fact]
    public void TheMitigationReportsTheTradeOffAndItsArtifact()
    {
        var fixture = FairnessTests.Case("credit");
        var data = FairnessTests.Data(fixture);
        var mitigation = Mitigator.Thresholds(data, 0.5, ParityConstraint.DemographicParity, 0.02, 30);
        Assert.Equal(["sex", "age_band"], mitigation.Columns);
        Assert.Equal(8, mitigation.Thresholds.Count);
        Assert.True(mitigation.Before.DisparityValue > 0.1, $"{mitigation.Before}");
        Assert.True(mitigation.After.DisparityValue <= 0.02 + 1e-12, $"{mitigation.After}");
        Assert.True(mitigation.After.HasAccuracy && mitigation.Before.HasAccuracy);
        mitigation.Dataset = new Dataset { RunId = new string('a', 32), ArtifactPath = "eval.csv", ScoreColumn = "score", Threshold = 0.5 };
        Mitigator.WriteArtifact(mitigation, "score");
        var json = System.Text.Json.JsonDocument.Parse(mitigation.Artifact.Memory).RootElement;
        Assert.Equal("modelops.fairness.thresholds/v1", json.GetProperty("kind").GetString());
        Assert.Equal(8, json.GetProperty("groups").GetArrayLength());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, json.GetProperty("groups").EnumerateArray()
            .Single(g => g.GetProperty("group").GetProperty("sex").GetString() == "F" && g.GetProperty("group").GetProperty("age_band").ValueKind == System.Text.Json.JsonValueKind.Null)
            .GetProperty("group").GetProperty("age_band").ValueKind);
        Assert.Equal(64, mitigation.ArtifactSha256.Length);

        // Applying the artifact's thresholds to the rows gives the "after" the mitigation reports.
        var rows = new GroupTable(["sex", "age_band"], 0);
        rows.Add(data);
        var perRow = rows.GroupsOf(data);
        var selected = new long[rows.Count];
        for (var row = 0; row < data.Rows; row++)
        {
            var cut = mitigation.Thresholds.Single(t => t.Group == FairnessAnalysis.Label(rows.Attributes, rows.Keys[perRow[row]]));
            selected[perRow[row]] += !cut.SelectNone && data.Scores![row] >= cut.Threshold ? 1 : 0;
        }

        foreach (var cut in mitigation.Thresholds)
        {
            var g = Enumerable.Range(0, rows.Count).Single(i => FairnessAnalysis.Label(rows.Attributes, rows.Keys[i]) == cut.Group);
            Assert.Equal((double)selected[g] / cut.Count, cut.SelectionRateAfter, 1e-12);
        }
    }

    [Fact]
    public void ReweighingMakesTheLabelIndependentOfTheGroup()
    {
        // Group a: 6 rows, 4 labelled 1; group b: 4 rows, 1 labelled 1. n = 10, n₁ = 5, n₀ = 5.
        // w(a, 1) = 6·5 / (10·4) = 0.75, w(a, 0) = 6·5 / (10·2) = 1.5, w(b, 1) = 4·5 / (10·1) = 2, w(b, 0) = 4·5 / (10·3) = 2/3.
        byte[] labels = [1, 1, 1, 1, 0, 0, 1, 0, 0, 0];
        var data = new EvaluationData
        {
            Rows = 10,
            Attributes = [new SensitiveAttribute("g", [0, 0, 0, 0, 0, 0, 1, 1, 1, 1], ["a", "b"])],
            Labels = labels,
            Predictions = labels,
        };
        var mitigation = Mitigator.Reweighing(data, 1);
        var weights = mitigation.Weights.ToDictionary(w => (w.Group, w.Label), w => w.Weight);
        Assert.Equal(0.75, weights[("g=a", 1)], 1e-15);
        Assert.Equal(1.5, weights[("g=a", 0)], 1e-15);
        Assert.Equal(2.0, weights[("g=b", 1)], 1e-15);
        Assert.Equal(2.0 / 3, weights[("g=b", 0)], 1e-15);
        Assert.Equal(4.0 / 6 - 1.0 / 4, mitigation.Before.DisparityValue, 1e-15);
        Assert.Equal(0, mitigation.After.DisparityValue, 1e-12);
        Assert.False(mitigation.After.HasAccuracy);
    }

    private static (int[] Groups, byte[] Labels, double[] Scores) Biased(int seed, int[] sizes)
    {
        var random = new Random(seed);
        var groups = new List<int>();
        var labels = new List<byte>();
        var scores = new List<double>();
        for (var g = 0; g < sizes.Length; g++)
        {
            for (var i = 0; i < sizes[g]; i++)
            {
                var label = (byte)(random.NextDouble() < 0.3 + (0.15 * g) ? 1 : 0);
                groups.Add(g);
                labels.Add(label);
                // Two-decimal scores, so some tie.
                scores.Add(Math.Round(Math.Clamp((0.4 * label) + (0.5 * random.NextDouble()) + (0.08 * g), 0, 1), 2));
            }
        }

        return ([.. groups], [.. labels], [.. scores]);
    }

    private static ((double Selection, double? Tpr, double? Fpr)[] Rates, long Correct) Evaluate(int[] groups, byte[] labels, double[] scores, GroupCut[] cuts)
    {
        var confusions = new Confusion[cuts.Length];
        for (var row = 0; row < groups.Length; row++)
        {
            var predicted = cuts[groups[row]].Selects(scores[row]);
            var cell = (labels[row] == 1, predicted) switch
            {
                (true, true) => new Confusion(0, 0, 0, 1),
                (true, false) => new Confusion(0, 0, 1, 0),
                (false, true) => new Confusion(0, 1, 0, 0),
                _ => new Confusion(1, 0, 0, 0),
            };
            confusions[groups[row]] += cell;
        }

        return ([.. confusions.Select(c => (c.SelectionRate!.Value, c.Tpr, c.Fpr))], confusions.Sum(c => c.Tp + c.Tn));
    }

    private static bool Feasible((double Selection, double? Tpr, double? Fpr)[] rates, ParityConstraint constraint, double tolerance)
    {
        static bool Within(IEnumerable<double> values, double tolerance)
        {
            var list = values.ToList();
            return list.Count < 2 || list.Max() - list.Min() <= tolerance + 1e-12;
        }

        return constraint == ParityConstraint.DemographicParity
            ? Within(rates.Select(r => r.Selection), tolerance)
            : Within(rates.Where(r => r.Tpr.HasValue).Select(r => r.Tpr!.Value), tolerance) && Within(rates.Where(r => r.Fpr.HasValue).Select(r => r.Fpr!.Value), tolerance);
    }
}

extern alias drift;
using drift::ModelOps.Drift.Profiles;
using drift::ModelOps.Drift.Statistics;

namespace ModelOps.Unit.Tests.Drift;

/// <summary>Profiles against brute force over the same rows: merges, bounds, and the drift verdicts built on them.</summary>
public sealed class ProfileTests
{
    [Fact]
    public void QuantilesAreWithinTheGridsRelativeAccuracy()
    {
        var values = Normal(1, 50_000, mean: 3, scale: 2).Concat(Normal(2, 5_000, mean: -40, scale: 5)).ToArray();
        var histogram = new LogHistogram();
        foreach (var value in values)
        {
            histogram.Add(value);
        }

        var sorted = values.Order().ToArray();
        foreach (var q in new[] { 0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0 })
        {
            var exact = sorted[(int)Math.Floor(q * (sorted.Length - 1))];
            var estimate = histogram.Quantile(q);
            Assert.True(Math.Abs(estimate - exact) <= (LogHistogram.Alpha * Math.Abs(exact)) + 1e-12, $"q={q}: {estimate} vs {exact}");
        }

        Assert.InRange(histogram.BucketCount, 100, 3000);
    }

    [Fact]
    public void ShardsMergeIntoExactlyTheProfileOfAllRowsInAnyOrder()
    {
        var values = Normal(3, 30_000, mean: 0, scale: 1);
        var whole = Profile("x", values);
        var shards = Enumerable.Range(0, 3).Select(s => Profile("x", values.Where((_, i) => i % 3 == s))).ToList();
        var forward = new ColumnProfile("x", ColumnKind.Numeric);
        var backward = new ColumnProfile("x", ColumnKind.Numeric);
        foreach (var shard in shards)
        {
            forward.Merge(shard);
        }

        foreach (var shard in Enumerable.Reverse(shards))
        {
            backward.Merge(shard);
        }

        foreach (var merged in new[] { forward, backward })
        {
            Assert.Equal((whole.Count, whole.Missing, whole.Min, whole.Max), (merged.Count, merged.Missing, merged.Min, merged.Max));
            Assert.Equal(whole.Histogram.Buckets(), merged.Histogram.Buckets());
            Assert.Equal(values.Average(), merged.Mean, 12);
            var mean = values.Average();
            Assert.Equal(Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length), merged.StandardDeviation, 12);
        }
    }

    [Theory]
    [InlineData(800, 600, 0.0)]
    [InlineData(800, 600, 0.3)]
    [InlineData(40_000, 20_000, 0.02)]
    public void KolmogorovSmirnovFromHistogramsBracketsTheRowsStatistic(int n1, int n2, double shift)
    {
        var a = Normal(4, n1, 0, 1);
        var b = Normal(5, n2, shift, 1);
        var (grid, bound) = ProfileComparison.KolmogorovSmirnov(Profile("x", a).Histogram, Profile("x", b).Histogram);
        var rows = KolmogorovSmirnov.TwoSample(a, b);
        Assert.InRange(rows.Statistic, grid.Statistic - 1e-12, grid.Statistic + bound + 1e-12);
        Assert.InRange(bound, 0, 0.01);
        // The p-value follows the statistic: the same function of a statistic at most `bound` away.
        Assert.InRange(grid.PValue, rows.PValue - 1e-12, 1);
    }

    [Fact]
    public void WassersteinFromHistogramsIsWithinItsStatedBound()
    {
        var a = Normal(6, 20_000, 10, 3);
        var b = Normal(7, 15_000, 11, 3);
        var rows = Distances.Wasserstein(a.Order().ToArray(), b.Order().ToArray());
        var (grid, bound) = ProfileComparison.Wasserstein(Profile("x", a).Histogram, Profile("x", b).Histogram);
        Assert.InRange(rows, grid - bound, grid + bound);
        // Each value moves at most its bucket's width, under (γ − 1)·|x| ≈ 2α|x|.
        Assert.InRange(bound, 0, 2.02 * LogHistogram.Alpha * (a.Average(Math.Abs) + b.Average(Math.Abs)));
    }

    [Fact]
    public void ATwoFeatureShiftIsFlaggedAndTheRestIsNot()
    {
        var reference = new List<ColumnProfile>();
        var current = new Dictionary<string, ColumnProfile>();
        for (var column = 0; column < 6; column++)
        {
            var shift = column < 2 ? 0.5 : 0.0;
            reference.Add(Profile($"f{column}", Normal((ulong)(100 + column), 20_000, 0, 1)));
            current[$"f{column}"] = Profile($"f{column}", Normal((ulong)(200 + column), 5_000, shift, 1));
        }

        var drift = DriftAnalysis.CompareDataset(reference, current, importance: new Dictionary<string, double> { ["f0"] = 3, ["f1"] = 1, ["f2"] = 1 });
        Assert.Equal([true, true, false, false, false, false], drift.Columns.Select(c => c.Drifted));
        Assert.All(drift.Columns, c => Assert.Equal(DriftMethod.NormedWasserstein, c.Method));
        Assert.InRange(drift.Columns[0].Statistic, 0.4, 0.6);
        Assert.Equal(2.0 / 6, drift.DriftShare, 12);
        Assert.Equal(4.0 / 5, drift.WeightedDriftShare, 12);
        Assert.False(drift.Drifted);
    }

    [Fact]
    public void OnALargeSampleATinyShiftIsSignificantButBelowTheRequiredEffect()
    {
        var reference = Profile("x", Normal(8, 9_000, 0, 1));
        var current = Profile("x", Normal(9, 9_000, 0.08, 1));
        var test = DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.KolmogorovSmirnov))!;
        Assert.True(test.Drifted);
        Assert.InRange(test.PValue!.Value, 0, 0.05);
        var withEffect = DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.KolmogorovSmirnov, MinimumEffect: 0.1))!;
        Assert.False(withEffect.Drifted);
        Assert.Equal(test.Effect, withEffect.Effect);
    }

    [Fact]
    public void LabelsNewToTheWindowAreDriftAndSmallReferencesGetAChiSquareTest()
    {
        var reference = new ColumnProfile("region", ColumnKind.Categorical);
        var current = new ColumnProfile("region", ColumnKind.Categorical);
        foreach (var (label, count) in new[] { ("north", 400), ("south", 350), ("east", 250) })
        {
            for (var i = 0; i < count; i++)
            {
                reference.AddLabel(label);
            }
        }

        foreach (var (label, count) in new[] { ("north", 380), ("south", 300), ("east", 200), ("atlantis", 120) })
        {
            for (var i = 0; i < count; i++)
            {
                current.AddLabel(label);
            }
        }

        current.AddLabel(null);
        var drift = DriftAnalysis.Compare(reference, current)!;
        Assert.Equal(DriftMethod.ChiSquare, drift.Method);
        Assert.Equal(["atlantis"], drift.UnseenLabels);
        // A label the reference never saw was impossible under it: the chi-square over every category is +∞, p = 0.
        Assert.Equal(double.PositiveInfinity, drift.Statistic);
        Assert.Equal(0, drift.PValue);
        Assert.True(drift.Drifted);
        Assert.Equal(1.0 / 1001, drift.Quality.MissingRate, 12);

        // Without it, the same shares are judged on their own: 380/300/200 against 40/35/25 % of 880.
        current.Labels.Remove("atlantis");
        var expected = Distances.ChiSquare([400, 350, 250], [380, 300, 200]);
        Assert.Equal(expected.Statistic, DriftAnalysis.Compare(reference, current)!.Statistic, 12);
    }

    [Fact]
    public void ConstantEmptyAndMissingColumnsNeverGiveNaN()
    {
        var reference = Profile("c", Enumerable.Repeat(5.0, 2000));
        var current = Profile("c", Enumerable.Repeat(5.0, 100).Append(double.NaN).Append(double.PositiveInfinity));
        foreach (var method in new[] { DriftMethod.KolmogorovSmirnov, DriftMethod.NormedWasserstein, DriftMethod.JensenShannon, DriftMethod.PopulationStabilityIndex, DriftMethod.TotalVariation })
        {
            var drift = DriftAnalysis.Compare(reference, current, new ColumnRule(method))!;
            Assert.False(double.IsNaN(drift.Statistic), method.ToString());
            Assert.False(drift.Drifted, method.ToString());
            Assert.True(drift.Quality.Constant);
        }

        Assert.Equal(2.0 / 102, DriftAnalysis.Compare(reference, current)!.Quality.MissingRate, 12);
        Assert.Null(DriftAnalysis.Compare(reference, new ColumnProfile("c", ColumnKind.Numeric)));
        var moved = DriftAnalysis.Compare(reference, Profile("c", Enumerable.Repeat(9.0, 50)))!;
        Assert.True(moved.Drifted);
        Assert.Equal(50, moved.Quality.OutOfRange);
    }

    private static ColumnProfile Profile(string name, IEnumerable<double> values)
    {
        var profile = new ColumnProfile(name, ColumnKind.Numeric);
        foreach (var value in values)
        {
            profile.AddNumber(value);
        }

        return profile;
    }

    // Normal values by Box–Muller over xorshift64* uniforms.
    private static double[] Normal(ulong seed, int count, double mean, double scale)
    {
        var u = XorShift.Uniforms(seed, count + 1);
        return Enumerable.Range(0, count)
            .Select(i => mean + (scale * Math.Sqrt(-2 * Math.Log(1 - u[i])) * Math.Cos(2 * Math.PI * u[i + 1])))
            .ToArray();
    }
}

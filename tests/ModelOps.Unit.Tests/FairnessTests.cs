extern alias fairness;
using System.Text.Json;
using fairness::ModelOps.Fairness.Analysis;
using fairness::ModelOps.Fairness.V1;

namespace ModelOps.Unit.Tests.Fairness;

/// <summary>
/// The fairness analysis against scikit-learn's per-group confusion matrices and the published disparity formulas
/// (Fixtures/make_fairness_fixtures.py), against a textbook case worked by hand, and its bootstrap against a plain row
/// bootstrap.
/// </summary>
public sealed class FairnessTests
{
    private static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "fairness.json"))).RootElement;

    private static readonly (string Json, Func<GroupMetrics, double?> Read)[] Rates =
    [
        ("selection_rate", m => m.HasSelectionRate ? m.SelectionRate : null),
        ("base_rate", m => m.HasBaseRate ? m.BaseRate : null),
        ("tpr", m => m.HasTruePositiveRate ? m.TruePositiveRate : null),
        ("fpr", m => m.HasFalsePositiveRate ? m.FalsePositiveRate : null),
        ("fnr", m => m.HasFalseNegativeRate ? m.FalseNegativeRate : null),
        ("tnr", m => m.HasTrueNegativeRate ? m.TrueNegativeRate : null),
        ("precision", m => m.HasPrecision ? m.Precision : null),
        ("npv", m => m.HasNegativePredictiveValue ? m.NegativePredictiveValue : null),
        ("accuracy", m => m.HasAccuracy ? m.Accuracy : null),
    ];

    public static TheoryData<string> Cases() => [.. Fixture.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryGroupAndDisparityEqualsScikitLearnAndThePublishedFormulas(string name)
    {
        var fixture = Case(name);
        var report = FairnessAnalysis.Analyze(Data(fixture), Settings(fixture, resamples: 50));
        var expected = fixture.GetProperty("expected");
        var groupings = expected.GetProperty("groupings").EnumerateArray().ToList();
        Assert.Equal(groupings.Select(g => g.GetProperty("name").GetString()), report.Groupings.Select(g => g.Name));
        foreach (var (want, got) in groupings.Zip(report.Groupings))
        {
            var groups = want.GetProperty("groups").EnumerateArray().ToList();
            Assert.Equal(groups.Select(g => g.GetProperty("label").GetString()), got.Groups.Select(g => g.Label));
            foreach (var (group, metrics) in groups.Zip(got.Groups))
            {
                Assert.Equal(group.GetProperty("count").GetInt64(), metrics.Count);
                Assert.Equal(!group.GetProperty("judged").GetBoolean(), metrics.TooSmall);
                if (fixture.GetProperty("task").GetString() == "regression")
                {
                    Assert.Equal(group.GetProperty("mean_prediction").GetDouble(), metrics.MeanPrediction, 1e-9);
                    Assert.Equal(group.GetProperty("mae").GetDouble(), metrics.MeanAbsoluteError, 1e-9);
                    Assert.Equal(group.GetProperty("rmse").GetDouble(), metrics.RootMeanSquaredError, 1e-9);
                    continue;
                }

                Assert.Equal(
                    (group.GetProperty("tn").GetInt64(), group.GetProperty("fp").GetInt64(), group.GetProperty("fn").GetInt64(), group.GetProperty("tp").GetInt64()),
                    (metrics.TrueNegatives, metrics.FalsePositives, metrics.FalseNegatives, metrics.TruePositives));
                foreach (var (json, read) in Rates)
                {
                    Close(Optional(group.GetProperty(json)), read(metrics), $"{got.Name} {metrics.Label} {json}");
                }

                if (group.TryGetProperty("calibration", out var bins))
                {
                    foreach (var (bin, calibration) in bins.EnumerateArray().Zip(metrics.Calibration))
                    {
                        Assert.Equal(bin.GetProperty("count").GetInt64(), calibration.Count);
                        Close(Optional(bin.GetProperty("mean_score")), calibration.HasMeanScore ? calibration.MeanScore : null, "mean score");
                        Close(Optional(bin.GetProperty("observed_rate")), calibration.HasObservedRate ? calibration.ObservedRate : null, "observed rate");
                    }
                }
            }

            if (!want.TryGetProperty("disparities", out var disparities))
            {
                Assert.Empty(got.Disparities);
                continue;
            }

            Assert.Equal(want.GetProperty("privileged").GetString(), got.Privileged.Length == 0 ? null : got.Privileged);
            foreach (var disparity in got.Disparities)
            {
                var value = Optional(disparities.GetProperty(disparity.Name));
                Close(value, disparity.HasValue ? disparity.Value : null, $"{got.Name} {disparity.Name}");
                Assert.Equal(disparity.HasValue, disparity.Undefined.Length == 0);
            }
        }
    }

    [Fact]
    public void TheMultinomialBootstrapGivesTheIntervalsOfARowBootstrap()
    {
        var fixture = Case("credit");
        var bootstrap = fixture.GetProperty("row_bootstrap");
        var settings = Settings(fixture, bootstrap.GetProperty("resamples").GetInt32()) with { Confidence = bootstrap.GetProperty("confidence").GetDouble() };
        var sex = FairnessAnalysis.Analyze(Data(fixture), settings).Groupings[0];
        foreach (var disparity in sex.Disparities)
        {
            var interval = bootstrap.GetProperty("intervals").GetProperty(disparity.Name);
            Assert.True(disparity.Lower <= disparity.Value && disparity.Value <= disparity.Upper, disparity.Name);
            // Two Monte Carlo estimates of the same percentiles (4000 resamples each): their standard error is about
            // 0.002 here; 0.01 is five of them.
            Assert.Equal(interval[0].GetDouble(), disparity.Lower, 0.01);
            Assert.Equal(interval[1].GetDouble(), disparity.Upper, 0.01);
        }
    }

    [Fact]
    public void TheSameSeedGivesTheSameIntervalsAndAnotherSeedOthers()
    {
        var fixture = Case("credit");
        var data = Data(fixture);
        var first = FairnessAnalysis.Analyze(data, Settings(fixture, 200) with { Seed = 7 }).Groupings[0].Disparities[0];
        var again = FairnessAnalysis.Analyze(data, Settings(fixture, 200) with { Seed = 7 }).Groupings[0].Disparities[0];
        var other = FairnessAnalysis.Analyze(data, Settings(fixture, 200) with { Seed = 8 }).Groupings[0].Disparities[0];
        Assert.Equal((first.Lower, first.Upper), (again.Lower, again.Upper));
        Assert.NotEqual((first.Lower, first.Upper), (other.Lower, other.Upper));
        Assert.Equal(200, first.Resamples);
    }

    [Fact]
    public void ATextbookCaseWorkedByHand()
    {
        // Group A: 10 rows, 4 labelled 1; predicted 1: 3 of the positives and 1 negative. Group B: 10 rows, 5 labelled 1;
        // predicted 1: 2 of the positives and 0 negatives.
        // SR(A) = 4/10, SR(B) = 2/10: DP difference 0.2, ratio 0.5. TPR(A) = 3/4, TPR(B) = 2/5: gap 0.35;
        // FPR(A) = 1/6, FPR(B) = 0: gap 1/6; equalized odds difference 0.35, ratio min(0.4/0.75, 0/(1/6)) = 0.
        // A is privileged (highest SR): disparate impact 0.5, SPD −0.2, AOD ½[(0 − 1/6) + (0.4 − 0.75)] = −0.258333…,
        // PPV(A) = 3/4, PPV(B) = 1: predictive parity difference 0.25.
        var rows = new List<(string Group, byte Label, byte Prediction)>();
        rows.AddRange(Repeat("A", 1, 1, 3).Concat(Repeat("A", 1, 0, 1)).Concat(Repeat("A", 0, 1, 1)).Concat(Repeat("A", 0, 0, 5)));
        rows.AddRange(Repeat("B", 1, 1, 2).Concat(Repeat("B", 1, 0, 3)).Concat(Repeat("B", 0, 0, 5)));
        var data = new EvaluationData
        {
            Rows = rows.Count,
            Attributes = [new SensitiveAttribute("group", [.. rows.Select(r => r.Group == "A" ? 0 : 1)], ["A", "B"])],
            Labels = [.. rows.Select(r => r.Label)],
            Predictions = [.. rows.Select(r => r.Prediction)],
        };
        var grouping = FairnessAnalysis.Analyze(data, new AnalysisSettings(1, 100, 1, 0.95, new Dictionary<string, string>(), 10)).Groupings.Single();
        var values = grouping.Disparities.ToDictionary(d => d.Name, d => d.Value);
        Assert.Equal(0.2, values["demographic_parity_difference"], 1e-15);
        Assert.Equal(0.5, values["demographic_parity_ratio"], 1e-15);
        Assert.Equal(0.35, values["equalized_odds_difference"], 1e-15);
        Assert.Equal(0.0, values["equalized_odds_ratio"], 1e-15);
        Assert.Equal(0.35, values["equal_opportunity_difference"], 1e-15);
        Assert.Equal(0.5, values["disparate_impact"], 1e-15);
        Assert.Equal(-0.2, values["statistical_parity_difference"], 1e-15);
        Assert.Equal(-0.2583333333333333, values["average_odds_difference"], 1e-15);
        Assert.Equal(0.25, values["predictive_parity_difference"], 1e-15);
        Assert.Equal("group=A", grouping.Privileged);
        Assert.False(grouping.PrivilegedNamed);
        Assert.Equal(["group=B", "group=A"], grouping.Disparities.Single(d => d.Name == "disparate_impact").Groups);
    }

    [Fact]
    public void AGroupWithoutPositivesLeavesItsRatesUndefinedAndEveryGroupTooSmallLeavesTheDisparitiesUndefined()
    {
        var data = new EvaluationData
        {
            Rows = 4,
            Attributes = [new SensitiveAttribute("g", [0, 0, 1, 1], ["x", null])],
            Labels = [0, 0, 1, 0],
            Predictions = [0, 1, 1, 0],
        };
        var grouping = FairnessAnalysis.Analyze(data, new AnalysisSettings(1, 20, 1, 0.95, new Dictionary<string, string>(), 10)).Groupings.Single();
        var x = grouping.Groups[0];
        Assert.Equal(("g=x", "g=(missing)"), (x.Label, grouping.Groups[1].Label));
        Assert.True(grouping.Groups[1].Values.Single().Missing);
        Assert.False(x.HasTruePositiveRate);
        Assert.False(x.HasFalseNegativeRate);
        Assert.Equal(0.5, x.FalsePositiveRate);
        var opportunity = grouping.Disparities.Single(d => d.Name == "equal_opportunity_difference");
        Assert.False(opportunity.HasValue);
        Assert.Equal("fewer than two judged groups with the rate defined", opportunity.Undefined);
        Assert.False(opportunity.HasLower);

        var tooSmall = FairnessAnalysis.Analyze(data, new AnalysisSettings(3, 20, 1, 0.95, new Dictionary<string, string>(), 10)).Groupings.Single();
        Assert.All(tooSmall.Groups, g => Assert.True(g.TooSmall));
        Assert.All(tooSmall.Disparities, d => Assert.False(d.HasValue));
        Assert.All(tooSmall.Disparities, d => Assert.NotEmpty(d.Undefined));
    }

    [Theory]
    [InlineData(20L, 0.3)]
    [InlineData(1000L, 0.02)]
    [InlineData(1000L, 0.4)]
    [InlineData(1_000_000L, 0.7)]
    [InlineData(50L, 0.97)]
    public void BinomialVariatesFollowTheBinomialDistribution(long n, double p)
    {
        // χ² goodness of fit against the exact mass function, over cells of expected count ≥ 5 (tails pooled).
        const int draws = 100_000;
        var random = new Random(42);
        var observed = new Dictionary<long, int>();
        for (var i = 0; i < draws; i++)
        {
            var k = Binomial.Sample(random, n, p);
            Assert.InRange(k, 0, n);
            observed[k] = observed.GetValueOrDefault(k) + 1;
        }

        var distribution = new MathNet.Numerics.Distributions.Binomial(p, (int)n);
        var mean = n * p;
        var sd = Math.Sqrt(n * p * (1 - p));
        var low = (long)Math.Max(0, Math.Floor(mean - (6 * sd) - 1));
        var high = (long)Math.Min(n, Math.Ceiling(mean + (6 * sd) + 1));
        var cells = new List<(double Expected, double Observed)>();
        double pooledExpected = distribution.CumulativeDistribution(low - 0.5), pooledObserved = observed.Where(o => o.Key < low).Sum(o => o.Value);
        for (var k = low; k <= high; k++)
        {
            pooledExpected += distribution.Probability((int)k) * draws;
            pooledObserved += observed.GetValueOrDefault(k);
            if (pooledExpected >= 5)
            {
                cells.Add((pooledExpected, pooledObserved));
                (pooledExpected, pooledObserved) = (0, 0);
            }
        }

        pooledObserved += observed.Where(o => o.Key > high).Sum(o => o.Value);
        pooledExpected += (1 - distribution.CumulativeDistribution(high + 0.5)) * draws;
        cells[^1] = (cells[^1].Expected + pooledExpected, cells[^1].Observed + pooledObserved);
        var chiSquare = cells.Sum(c => (c.Observed - c.Expected) * (c.Observed - c.Expected) / c.Expected);
        var pValue = 1 - MathNet.Numerics.Distributions.ChiSquared.CDF(cells.Count - 1, chiSquare);
        Assert.True(pValue > 1e-4, $"χ² = {chiSquare} over {cells.Count} cells, p = {pValue}");
    }

    [Fact]
    public void AMultinomialVariateSplitsEveryTrialAmongTheCellsInProportion()
    {
        var random = new Random(3);
        long[] weights = [0, 10, 30, 0, 60];
        var counts = new long[weights.Length];
        var sums = new double[weights.Length];
        for (var i = 0; i < 2000; i++)
        {
            Binomial.Multinomial(random, 1000, weights, counts);
            Assert.Equal(1000, counts.Sum());
            Assert.Equal(0, counts[0]);
            Assert.Equal(0, counts[3]);
            for (var c = 0; c < counts.Length; c++)
            {
                sums[c] += counts[c];
            }
        }

        Assert.Equal(100, sums[1] / 2000, 1.0);
        Assert.Equal(300, sums[2] / 2000, 1.0);
        Assert.Equal(600, sums[4] / 2000, 1.0);
    }

    internal static JsonElement Case(string name) =>
        Fixture.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    internal static AnalysisSettings Settings(JsonElement fixture, int resamples)
    {
        var privileged = fixture.TryGetProperty("privileged", out var named)
            ? named.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!)
            : [];
        return new AnalysisSettings(fixture.GetProperty("min_group_size").GetInt32(), resamples, 1, 0.95, privileged, 10);
    }

    /// <summary>The case's rows as the service reads them.</summary>
    internal static EvaluationData Data(JsonElement fixture)
    {
        var rows = fixture.GetProperty("rows").EnumerateArray().ToList();
        var attributes = fixture.GetProperty("sensitive").EnumerateArray().Select(c => c.GetString()!).Select(column =>
        {
            var values = new List<string?>();
            var codes = rows.Select(r =>
            {
                var value = r.GetProperty(column).ValueKind == JsonValueKind.Null ? null : r.GetProperty(column).GetString();
                var code = values.IndexOf(value);
                if (code < 0)
                {
                    values.Add(value);
                    code = values.Count - 1;
                }

                return code;
            }).ToArray();
            return new SensitiveAttribute(column, codes, values);
        }).ToList();
        if (fixture.GetProperty("task").GetString() == "regression")
        {
            return new EvaluationData
            {
                Rows = rows.Count, Attributes = attributes,
                Targets = [.. rows.Select(r => r.GetProperty("target").GetDouble())],
                Estimates = [.. rows.Select(r => r.GetProperty("estimate").GetDouble())],
            };
        }

        var scored = fixture.TryGetProperty("score", out _);
        var threshold = scored ? fixture.GetProperty("threshold").GetDouble() : 0;
        return new EvaluationData
        {
            Rows = rows.Count, Attributes = attributes,
            Labels = [.. rows.Select(r => (byte)r.GetProperty("label").GetInt32())],
            Scores = scored ? [.. rows.Select(r => r.GetProperty("score").GetDouble())] : null,
            Predictions = [.. rows.Select(r => scored ? (byte)(r.GetProperty("score").GetDouble() >= threshold ? 1 : 0) : (byte)r.GetProperty("prediction").GetInt32())],
        };
    }

    private static IEnumerable<(string, byte, byte)> Repeat(string group, byte label, byte prediction, int count) =>
        Enumerable.Repeat((group, label, prediction), count);

    private static double? Optional(JsonElement value) => value.ValueKind == JsonValueKind.Null ? null : value.GetDouble();

    private static void Close(double? expected, double? actual, string what)
    {
        Assert.True(expected.HasValue == actual.HasValue, $"{what}: expected {expected?.ToString() ?? "undefined"}, got {actual?.ToString() ?? "undefined"}");
        if (expected is { } e)
        {
            Assert.True(Math.Abs(e - actual!.Value) <= 1e-12 * Math.Max(1, Math.Abs(e)), $"{what}: expected {e}, got {actual}");
        }
    }
}

/// <summary>A production window judged from its counts per group: the same as the rows it counts.</summary>
public sealed class WindowAnalysisTests
{
    [Fact]
    public void AWindowsCountsPerGroupGiveTheReportOfItsRows()
    {
        var fixture = FairnessTests.Case("credit");
        var data = FairnessTests.Data(fixture);
        var rows = FairnessAnalysis.Analyze(data, FairnessTests.Settings(fixture, 10) with { Privileged = new Dictionary<string, string>() });

        // What drift counts: per intersectional group, records, those selected and the confusion of the labelled ones.
        var sex = data.Attributes[0];
        var band = data.Attributes[1];
        var counts = new Dictionary<(string?, string?), long[]>();
        for (var row = 0; row < data.Rows; row++)
        {
            var key = (sex.Values[sex.Codes[row]], band.Values[band.Codes[row]]);
            if (!counts.TryGetValue(key, out var cells))
            {
                counts[key] = cells = new long[6];
            }

            cells[0]++;
            cells[1] += data.Predictions![row];
            cells[2 + (2 * data.Labels![row]) + data.Predictions[row]]++;
        }

        var window = new ModelOps.Contracts.Drift.V1.WindowGroupsReported
        {
            Actor = "drift", Model = "m", Version = "1", WindowStart = DateTimeOffset.UnixEpoch, WindowEnd = DateTimeOffset.UnixEpoch.AddHours(1),
            SensitiveColumns = ["sex", "age_band"], DecisionThreshold = 0.5, MinGroupSize = 30, Watched = true,
            Groups = [.. counts.Select(c => new ModelOps.Contracts.Drift.V1.GroupCounts(
                new Dictionary<string, string?> { ["sex"] = c.Key.Item1, ["age_band"] = c.Key.Item2 }, c.Value[0], c.Value[1], c.Value[2], c.Value[3], c.Value[4], c.Value[5]))],
        };
        var (report, violations) = WindowAnalysis.Analyze(window);
        Assert.Equal(rows.Groupings.Select(g => g.Name), report.Groupings.Select(g => g.Name));
        foreach (var (expected, actual) in rows.Groupings.Zip(report.Groupings))
        {
            Assert.Equal(expected.Groups.Select(g => (g.Label, g.Count, g.TooSmall, g.SelectionRate, g.TruePositiveRate)),
                actual.Groups.Select(g => (g.Label, g.Count, g.TooSmall, g.SelectionRate, g.TruePositiveRate)));
            Assert.Equal(expected.Privileged, actual.Privileged);
            Assert.Equal(expected.Disparities.Select(d => (d.Name, d.HasValue, d.HasValue ? d.Value : 0, string.Join("|", d.Groups))),
                actual.Disparities.Select(d => (d.Name, d.HasValue, d.HasValue ? d.Value : 0, string.Join("|", d.Groups))));
        }

        // The page of the dataset's report charts the windows over time; it is well-formed markup without script.
        var second = report.Clone();
        second.Window.Start = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddHours(1));
        second.Window.Biased = false;
        rows.Dataset = new Dataset { RunId = new string('a', 32), ArtifactPath = "eval.csv", LabelColumn = "label", ScoreColumn = "score", Threshold = 0.5 };
        rows.Settings = new Settings { MinGroupSize = 30, Resamples = 10, Confidence = 0.95 };
        var page = fairness::ModelOps.Fairness.Domain.ReportPage.Render(rows, [second, report]);
        var document = System.Xml.Linq.XDocument.Parse(page.Replace("<!DOCTYPE html>", "", StringComparison.Ordinal));
        Assert.Equal(4, document.Descendants("section").Count());
        Assert.Contains("2 windows", page, StringComparison.Ordinal);
        Assert.Contains("1 crossed the limits", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", page, StringComparison.Ordinal);

        // The built-in bias: the sexes' selection rates are about 0.72 apart in ratio, below the four-fifths rule.
        Assert.True(report.Window.Biased);
        Assert.Contains(violations, v => v.Grouping == "sex" && v.Name == "demographic_parity_ratio" && v.Limit == 0.8);
        Assert.Equal(data.Rows, report.Window.Records);
        Assert.Equal(data.Rows, report.Window.Labelled);

        // Intervals by the same bootstrap over the window's cells, close to the rows' own.
        var windowRatio = report.Groupings[0].Disparities.Single(d => d.Name == "demographic_parity_ratio");
        var rowsRatio = FairnessAnalysis.Analyze(data, FairnessTests.Settings(fixture, 200) with { Privileged = new Dictionary<string, string>() })
            .Groupings[0].Disparities.Single(d => d.Name == "demographic_parity_ratio");
        Assert.Equal(200, windowRatio.Resamples);
        Assert.True(windowRatio.Lower <= windowRatio.Value && windowRatio.Value <= windowRatio.Upper, $"{windowRatio}");
        Assert.Equal(rowsRatio.Lower, windowRatio.Lower, 0.03);
        Assert.Equal(rowsRatio.Upper, windowRatio.Upper, 0.03);
    }
}

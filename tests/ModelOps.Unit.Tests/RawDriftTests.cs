extern alias drift;
using System.Globalization;
using System.Text.Json;
using drift::ModelOps.Drift.Profiles;
using drift::ModelOps.Drift.Statistics;

namespace ModelOps.Unit.Tests.Drift;

/// <summary>
/// Column comparisons of profiles against scipy and numpy on the raw rows (Fixtures/make_raw_drift_fixtures.py), for
/// columns of every shape: far from zero compared with their spread, near 1e±100, integers with ties, heavy tails,
/// constants, small and large samples; and categories the reference never saw.
/// </summary>
public sealed class RawDriftTests
{
    /// <summary>The fixture: scipy's figures on the raw rows of every case.</summary>
    internal static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "raw_drift.json"))).RootElement;

    public static TheoryData<string> NumericCases() => [.. Fixture.GetProperty("numeric").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    public static TheoryData<string> EvidentlyCases() => [.. Fixture.GetProperty("evidently").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    public static TheoryData<int> CategoricalCases() => [.. Enumerable.Range(0, Fixture.GetProperty("categorical").GetArrayLength())];

    [Theory]
    [MemberData(nameof(NumericCases))]
    public void BelowTheExactCapEveryStatisticIsThatOfTheRows(string name)
    {
        var expected = Fixture.GetProperty("numeric").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        var (reference, current) = (Profile(expected.GetProperty("reference")), Profile(expected.GetProperty("current")));
        Assert.True(reference.IsExact && current.IsExact);

        var ks = DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.KolmogorovSmirnov))!;
        AssertClose(expected.GetProperty("ks_statistic").GetDouble(), ks.Statistic, 1e-12);
        AssertClose(expected.GetProperty("ks_pvalue").GetDouble(), ks.PValue!.Value, 1e-9);
        Assert.Equal(0, ks.StatisticBound);
        // The verdict at the default threshold is scipy's.
        Assert.Equal(expected.GetProperty("ks_pvalue").GetDouble() <= 0.05, ks.Drifted);

        var wasserstein = DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.NormedWasserstein))!;
        var scale = Math.Max(expected.GetProperty("reference_std").GetDouble(), Distances.MinimumScale);
        AssertClose(expected.GetProperty("wasserstein").GetDouble() / scale, wasserstein.Statistic, 1e-9);

        AssertClose(expected.GetProperty("jensen_shannon").GetDouble(), DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.JensenShannon))!.Statistic, 1e-9);
        AssertClose(expected.GetProperty("psi").GetDouble(), DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.PopulationStabilityIndex))!.Statistic, 1e-9);
        AssertClose(expected.GetProperty("total_variation").GetDouble(), DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.TotalVariation))!.Statistic, 1e-9);
        Assert.Equal(expected.GetProperty("out_of_range").GetInt64(), ks.Quality.OutOfRange);
    }

    [Theory]
    [MemberData(nameof(NumericCases))]
    public void ExactValuesSurviveStorageAndMergeAcrossReplicas(string name)
    {
        var expected = Fixture.GetProperty("numeric").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        var values = Column(expected.GetProperty("current"));
        var whole = Profile("x", values);

        // Three replicas each see every third row; their stored profiles merge into the profile of all rows.
        var merged = new DatasetProfile([new ColumnSchema("x", ColumnKind.Numeric)]);
        for (var replica = 0; replica < 3; replica++)
        {
            var part = new DatasetProfile([new ColumnSchema("x", ColumnKind.Numeric)]);
            foreach (var value in values.Where((_, i) => i % 3 == replica))
            {
                part.Columns[0].AddNumber(value);
            }

            merged.Merge(ProfileCodec.Decode(ProfileCodec.Encode(part)));
        }

        Assert.True(merged.Columns[0].IsExact);
        Assert.Equal(whole.ExactValues().Values, merged.Columns[0].ExactValues().Values);
        Assert.Equal(whole.ExactValues().Counts, merged.Columns[0].ExactValues().Counts);
    }

    [Fact]
    public void BeyondTheCapTheHistogramsStatisticsHoldTheRowsWithinTheirBound()
    {
        // More distinct values than the cap: the profile keeps its histogram only, and says so.
        var reference = Profile("x", XorShift.Uniforms(41, ColumnProfile.ExactCap + 1).Select(u => 300 + (3 * u)).ToArray());
        var currentValues = XorShift.Uniforms(42, 5000).Select(u => 300.3 + (3 * u)).ToArray();
        var current = Profile("x", currentValues);
        Assert.False(reference.IsExact);
        Assert.True(current.IsExact);

        var ks = DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.KolmogorovSmirnov))!;
        var rows = KolmogorovSmirnov.TwoSample(XorShift.Uniforms(41, ColumnProfile.ExactCap + 1).Select(u => 300 + (3 * u)).ToArray(), currentValues);
        Assert.InRange(rows.Statistic, ks.Statistic, ks.Statistic + ks.StatisticBound);

        // A stored profile past the cap stays past it once merged with an exact one.
        var stored = ProfileCodec.Decode(ProfileCodec.Encode(Dataset(reference)));
        stored.Columns[0].Merge(current);
        Assert.False(stored.Columns[0].IsExact);
    }

    [Fact]
    public void ExactValuesCountEveryValueAsBruteForceDoesUpToTheCapAndNotBeyond()
    {
        // Values arrive in any order, repeated, as −0 and +0, in several parts merged: the counts are those of the rows.
        var random = new Random(7);
        var rows = Enumerable.Range(0, 50_000).Select(_ => random.Next(3) == 0 ? -0.0 : Math.Round(random.NextDouble() * 2000) / 7).ToArray();
        var parts = Enumerable.Range(0, 4).Select(_ => new ColumnProfile("x", ColumnKind.Numeric)).ToArray();
        for (var i = 0; i < rows.Length; i++)
        {
            parts[i % 4].AddNumber(rows[i]);
        }

        var merged = parts[0];
        foreach (var part in parts.Skip(1))
        {
            merged.Merge(part);
        }

        var brute = rows.GroupBy(v => v == 0 ? 0.0 : v).OrderBy(g => g.Key).ToList();
        var exact = merged.ExactValues();
        Assert.Equal(brute.Select(g => g.Key), exact.Values);
        Assert.Equal(brute.Select(g => (long)g.Count()), exact.Counts);
        Assert.Equal(rows.Count(v => v < 1 || v > 200), merged.CountOutside(1, 200));

        // Exactly the cap of distinct values, each seen twice, stays exact; one more value does not.
        var atCap = new ColumnProfile("x", ColumnKind.Numeric);
        for (var round = 0; round < 2; round++)
        {
            for (var v = 0; v < ColumnProfile.ExactCap; v++)
            {
                atCap.AddNumber(v);
            }
        }

        Assert.True(atCap.IsExact);
        Assert.Equal(ColumnProfile.ExactCap, atCap.ExactValues().Values.Length);
        atCap.AddNumber(-1);
        Assert.False(atCap.IsExact);
        Assert.Null(atCap.CountOutside(0, 1));
    }

    [Fact]
    public void AConfiguredCapIsHonouredAndZeroKeepsHistogramsOnly()
    {
        var small = new DatasetProfile([new ColumnSchema("x", ColumnKind.Numeric)], exactCap: 10);
        foreach (var value in Enumerable.Range(0, 30).Select(i => (double)(i % 10)))
        {
            small.Columns[0].AddNumber(value);
        }

        Assert.True(small.Columns[0].IsExact);
        small.Columns[0].AddNumber(10);
        Assert.False(ProfileCodec.Decode(ProfileCodec.Encode(small)).Columns[0].IsExact);

        var none = new DatasetProfile([new ColumnSchema("x", ColumnKind.Numeric)], exactCap: 0);
        none.Columns[0].AddNumber(1);
        Assert.False(none.Columns[0].IsExact);
        Assert.False(ProfileCodec.Decode(ProfileCodec.Encode(none)).Columns[0].IsExact);
        Assert.Equal(1, ProfileCodec.Decode(ProfileCodec.Encode(none)).Columns[0].Histogram.Count);
    }

    [Fact]
    public void TheRadixSortOrdersDoublesAsArraySortDoes()
    {
        var random = new Random(11);
        foreach (var length in new[] { 0, 1, 511, 512, 5000, 70_000 })
        {
            // Both signs, tiny and huge magnitudes, ties, zeros.
            var values = Enumerable.Range(0, length).Select(i => (i % 7) switch
            {
                0 => 0.0,
                1 => -random.NextDouble() * 1e300,
                2 => random.NextDouble() * 1e-300,
                3 => Math.Round(random.NextDouble() * 10),
                4 => -Math.Round(random.NextDouble() * 10),
                _ => (random.NextDouble() - 0.5) * 1000,
            }).ToArray();
            var expected = values.Order().ToArray();
            drift::ModelOps.Drift.Profiles.ExactValues.RadixSort(values, values.Length);
            Assert.Equal(expected, values);
        }
    }

    [Theory]
    [MemberData(nameof(CategoricalCases))]
    public void CategoriesTheReferenceNeverSawCountAsEvidentlyCountsThem(int index)
    {
        var expected = Fixture.GetProperty("categorical")[index];
        var reference = Labels(expected.GetProperty("reference"));
        var current = Labels(expected.GetProperty("current"));
        var drift = DriftAnalysis.Compare(reference, current, new ColumnRule(DriftMethod.ChiSquare))!;

        var statistic = expected.GetProperty("chi_square");
        var pValue = expected.GetProperty("chi_square_pvalue");
        if (pValue.ValueKind == JsonValueKind.String)
        {
            // One category on both sides (scipy: NaN, no degree of freedom) is no evidence of change.
            Assert.Equal((0.0, 1.0), (drift.Statistic, drift.PValue!.Value));
            Assert.False(drift.Drifted);
            return;
        }

        if (statistic.ValueKind == JsonValueKind.String)
        {
            Assert.Equal(double.PositiveInfinity, drift.Statistic);
            Assert.Equal(double.PositiveInfinity, drift.Effect);
        }
        else
        {
            AssertClose(statistic.GetDouble(), drift.Statistic, 1e-12);
        }

        Assert.Equal(pValue.GetDouble(), drift.PValue!.Value, 1e-12);
        Assert.Equal(pValue.GetDouble() <= 0.05, drift.Drifted);
    }

    [Theory]
    [MemberData(nameof(EvidentlyCases))]
    public void TheEvidentlyPresetChoosesComputesAndJudgesAsEvidentlyDoes(string name)
    {
        var expected = Fixture.GetProperty("evidently").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        var numeric = expected.GetProperty("kind").GetString() == "numeric";
        var (reference, current) = numeric
            ? (Profile(expected.GetProperty("reference")), Profile(expected.GetProperty("current")))
            : (Labels(expected.GetProperty("reference_labels")), Labels(expected.GetProperty("current_labels")));
        var (method, explicitly) = expected.GetProperty("method").GetString() switch
        {
            "ks" => (DriftMethod.KolmogorovSmirnov, false),
            "chisquare" => (DriftMethod.ChiSquare, false),
            "z" => (DriftMethod.ZTest, false),
            "wasserstein" => (DriftMethod.NormedWasserstein, false),
            "jensenshannon" => (DriftMethod.JensenShannon, name.Contains("Sturges", StringComparison.Ordinal)),
            "psi" => (DriftMethod.PopulationStabilityIndex, true),
            var other => throw new ArgumentException(other),
        };

        // Evidently's default test is chosen unless the case names one (as a rule would).
        var drift = DriftAnalysis.Compare(reference, current, explicitly ? new ColumnRule(method) : null, DriftPreset.Evidently)!;
        Assert.Equal(method, drift.Method);
        var score = expected.GetProperty("score").GetDouble();
        var ours = drift.PValue ?? drift.Statistic;
        Assert.True(Math.Abs(score - ours) <= Math.Max(1e-9 * Math.Abs(score), 1e-12),
            string.Create(CultureInfo.InvariantCulture, $"{name}: expected {score:R}, got {ours:R}"));
        Assert.Equal(expected.GetProperty("drifted").GetBoolean(), drift.Drifted);
    }

    [Fact]
    public void AnAnnouncementCarriesAnUnboundedStatisticAsNone()
    {
        var drift = DriftAnalysis.Compare(Labels(JsonDocument.Parse("""{"false": 400}""").RootElement), Labels(JsonDocument.Parse("""{"true": 300}""").RootElement))!;
        Assert.True(drift.Drifted);
        var verdict = new drift::ModelOps.Drift.Domain.WindowVerdict(new DatasetDrift([drift], 1, 1, true), null);
        var announced = Assert.IsType<ModelOps.Contracts.Drift.V1.DriftDetected>(
            drift::ModelOps.Drift.Domain.Announcements.Change("m", "1", DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMinutes(1), verdict, announced: false));
        Assert.Null(Assert.Single(announced.Columns).Statistic);
        // The event serialises (an infinity would not).
        Assert.Contains("\"statistic\":null", JsonSerializer.Serialize(announced, new JsonSerializerOptions(JsonSerializerDefaults.Web)), StringComparison.Ordinal);
    }

    internal static double[] Column(JsonElement spec)
    {
        var (shape, seed, n) = (spec.GetProperty("shape").GetString(), (ulong)spec.GetProperty("seed").GetInt64(), spec.GetProperty("n").GetInt32());
        var (loc, scale) = (spec.GetProperty("loc").GetDouble(), spec.GetProperty("scale").GetDouble());
        switch (shape)
        {
            case "uniform":
                return [.. XorShift.Uniforms(seed, n).Select(u => loc + (scale * u))];
            case "bell":
            case "integer":
                var u4 = XorShift.Uniforms(seed, 4 * n);
                var bell = Enumerable.Range(0, n).Select(i => loc + (scale * (u4[4 * i] + u4[(4 * i) + 1] + u4[(4 * i) + 2] + u4[(4 * i) + 3] - 2.0)));
                return shape == "bell" ? [.. bell] : [.. bell.Select(Math.Floor)];
            case "pareto":
                return [.. XorShift.Uniforms(seed, n).Select(u => loc + (scale / (1.0 - u)))];
            case "constant":
                return [.. Enumerable.Repeat(loc, n)];
            case "bernoulli":
                return [.. XorShift.Uniforms(seed, n).Select(u => Math.Floor(u + loc))];
            default:
                throw new ArgumentException(shape);
        }
    }

    private static ColumnProfile Profile(JsonElement spec) => Profile("x", Column(spec));

    private static ColumnProfile Profile(string name, double[] values)
    {
        var profile = new ColumnProfile(name, ColumnKind.Numeric);
        foreach (var value in values)
        {
            profile.AddNumber(value);
        }

        return profile;
    }

    /// <summary>A dataset profile of one column: <paramref name="column"/>.</summary>
    internal static DatasetProfile Dataset(ColumnProfile column)
    {
        var dataset = new DatasetProfile([new ColumnSchema(column.Name, column.Kind)]);
        dataset.Columns[0].Merge(column);
        return dataset;
    }

    private static ColumnProfile Labels(JsonElement counts)
    {
        var profile = new ColumnProfile("c", ColumnKind.Categorical);
        foreach (var label in counts.EnumerateObject())
        {
            for (var i = 0; i < label.Value.GetInt32(); i++)
            {
                profile.AddLabel(label.Name);
            }
        }

        return profile;
    }

    private static void AssertClose(double expected, double actual, double relative)
    {
        var tolerance = relative * Math.Max(Math.Abs(expected), double.Epsilon);
        Assert.True(Math.Abs(expected - actual) <= tolerance,
            string.Create(CultureInfo.InvariantCulture, $"expected {expected:R}, got {actual:R} (relative error {Math.Abs(expected - actual) / Math.Abs(expected):E2})"));
    }
}

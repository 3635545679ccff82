extern alias drift;
using System.Globalization;
using System.Text.Json;
using drift::ModelOps.Drift.Profiles;
using drift::ModelOps.Drift.Statistics;

namespace ModelOps.Unit.Tests.Drift;

/// <summary>
/// Column comparisons past the exact cap, against scipy on the raw rows (Fixtures/make_raw_drift_fixtures.py): the
/// statistics come from histograms of the values centred and scaled by the reference, and every gap to scipy's must
/// lie within the bound the report publishes — small against the thresholds for any location and scale.
/// </summary>
public sealed class BeyondTheCapTests
{
    // A cap this low sends every fixture column with more distinct values past it, as 100,000 would larger ones.
    private const int SmallCap = 8;

    private static JsonElement Fixture => RawDriftTests.Fixture;

    public static TheoryData<string> SmallCases() => [.. Fixture.GetProperty("numeric").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    public static TheoryData<string> LargeCases() => [.. Fixture.GetProperty("beyond_cap").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    [Theory]
    [MemberData(nameof(SmallCases))]
    public void PastASmallCapEveryGapToScipyLiesWithinTheReportedBound(string name)
    {
        var expected = Case("numeric", name);
        var (reference, window) = Profiles(expected, SmallCap);
        var (ks, wasserstein) = AssertWithinBounds(expected, reference, window);
        if (!reference.IsExact && expected.GetProperty("reference").GetProperty("shape").GetString() != "integer")
        {
            // A few hundred rows: one bucket may hold a few of both, never a hundredth. (Integers repeated past the cap
            // report an atom's share: a bucket holding one value costs nothing, but a histogram cannot tell.)
            Assert.InRange(ks.StatisticBound, 0, 0.01);
            Assert.InRange(wasserstein.StatisticBound, 0, 0.01);
        }
    }

    [Theory]
    [MemberData(nameof(LargeCases))]
    public void PastTheCapEveryGapToScipyLiesWithinABoundSmallAgainstTheThresholds(string name)
    {
        var expected = Case("beyond_cap", name);
        var (reference, window) = Profiles(expected, ColumnProfile.ExactCap);
        Assert.False(reference.IsExact || window.IsExact);
        var (ks, wasserstein) = AssertWithinBounds(expected, reference, window);

        // Whatever the location and scale (300 ± 3, 1e6 ± 1e-3, near 1e-100 and −1e+100, a heavy tail): a D error of at
        // most 0.005, and a normed Wasserstein error a tenth of its threshold at most.
        Assert.InRange(ks.StatisticBound, 0, 0.005);
        Assert.InRange(wasserstein.StatisticBound, 0, 0.01);

        // The verdicts are scipy's wherever scipy's figure is further from the threshold than the bound.
        var scipyWasserstein = expected.GetProperty("wasserstein").GetDouble() / Math.Max(expected.GetProperty("reference_std").GetDouble(), Distances.MinimumScale);
        if (Math.Abs(scipyWasserstein - wasserstein.Threshold) > wasserstein.StatisticBound)
        {
            Assert.Equal(scipyWasserstein >= wasserstein.Threshold, wasserstein.Drifted);
        }

        var scipyP = expected.GetProperty("ks_pvalue").GetDouble();
        if (ks.PValue is > 0.1 or < 0.01)
        {
            Assert.Equal(scipyP <= ks.Threshold, ks.Drifted);
        }
    }

    [Fact]
    public void CentredWindowsMergeExactlyAcrossReplicasAndThroughStorage()
    {
        var expected = Case("beyond_cap", "N(300, 3) shifted by 0.1 sigma, beyond the cap");
        var (reference, whole) = Profiles(expected, ColumnProfile.ExactCap);
        var centring = reference.CentringForWindows()!.Value;
        var values = RawDriftTests.Column(expected.GetProperty("current"));

        // Three replicas each see every third record, their partials are stored, read back and merged in another order.
        var parts = Enumerable.Range(0, 3).Select(_ => new DatasetProfile([new ColumnSchema("x", ColumnKind.Numeric, centring)])).ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            parts[i % 3].Columns[0].AddNumber(values[i]);
        }

        var stored = parts.Select(p => ProfileCodec.Decode(ProfileCodec.Encode(p))).ToArray();
        var merged = stored[2];
        merged.Merge(stored[0]);
        merged.Merge(stored[1]);
        var column = merged.Columns[0];

        Assert.Equal(centring, column.Centring);
        Assert.Equal(whole.CentredHistogram(centring)!.Buckets(), column.CentredHistogram(centring)!.Buckets());
        Assert.Equal(DriftAnalysis.Compare(reference, whole)!.Statistic, DriftAnalysis.Compare(reference, column)!.Statistic);
        // A replica still exact (few values) merges into a spilled one by bucketing its values.
        var few = new ColumnProfile("x", ColumnKind.Numeric, ColumnProfile.ExactCap, centring);
        few.AddNumber(values[0]);
        Assert.True(few.IsExact);
        var before = column.CentredHistogram(centring)!.Count;
        column.Merge(few);
        Assert.Equal(before + 1, column.CentredHistogram(centring)!.Count);
    }

    [Fact]
    public void AWindowCentredOtherwiseThanItsReferenceFallsBackToThePlainGridAndItsBound()
    {
        var expected = Case("numeric", "N(300, 3) shifted by 0.8");
        var reference = Profile(RawDriftTests.Column(expected.GetProperty("reference")), SmallCap, centring: null);
        // Built under an older reference: another centring. Its histogram cannot be compared with this reference's.
        var window = Profile(RawDriftTests.Column(expected.GetProperty("current")), SmallCap, new Centring(0, 1));
        Assert.NotEqual(reference.Centring, window.Centring);
        Assert.Null(reference.CentredHistogram(window.Centring!.Value));

        var ks = DriftAnalysis.Compare(reference, window, new ColumnRule(DriftMethod.KolmogorovSmirnov))!;
        var rows = expected.GetProperty("ks_statistic").GetDouble();
        Assert.InRange(rows, ks.Statistic - 1e-12, ks.Statistic + ks.StatisticBound + 1e-12);
        // The plain grid at 300 is a σ wide, and the bound says so.
        Assert.True(ks.StatisticBound > 0.05, $"bound {ks.StatisticBound}");

        // Partials centred differently merge into the plain histogram only.
        var other = Profile(RawDriftTests.Column(expected.GetProperty("current")), SmallCap, new Centring(300, 3));
        window.Merge(other);
        Assert.Null(window.CentredHistogram(new Centring(0, 1)));
        Assert.Null(window.CentredHistogram(new Centring(300, 3)));
        Assert.Equal(2 * other.Count, window.Histogram.Count);
    }

    [Fact]
    public void AReferenceCarriesItsCentringToItsWindowsSchema()
    {
        var values = RawDriftTests.Column(Case("beyond_cap", "values near 1e-100 that triple, beyond the cap").GetProperty("reference"));
        // Kept exactly: chosen from the values (median, IQR / 1.349); past the cap: the one chosen when it was passed.
        var exact = Profile(values.Take(1000).ToArray(), ColumnProfile.ExactCap, centring: null);
        var (median, spread) = MedianAndSpread(values.Take(1000).ToArray());
        Assert.Equal(new Centring(median, spread), exact.CentringForWindows());
        Assert.Null(exact.Centring);

        var spilled = Profile(values, ColumnProfile.ExactCap, centring: null);
        Assert.False(spilled.IsExact);
        Assert.Equal(spilled.Centring, spilled.CentringForWindows());
        Assert.InRange(spilled.Centring!.Value.Centre, 4e-101, 6e-101);
        Assert.InRange(spilled.Centring!.Value.Scale, 3e-101, 4.5e-101);
    }

    [Fact]
    public void TheRawHistogramIsTheSameWhetherTheValuesWereKeptExactlySpilledOrNeverKept()
    {
        // While exact, the raw histogram is bucketed from the values when asked for (and not stored); past the cap it is kept.
        var values = RawDriftTests.Column(Case("numeric", "heavy tail, scaled by 1.3").GetProperty("current"));
        var never = Profile(values, 0, centring: null);
        foreach (var cap in new[] { ColumnProfile.ExactCap, SmallCap })
        {
            var profile = Profile(values, cap, centring: null);
            Assert.Equal(cap == SmallCap, !profile.IsExact);
            Assert.Equal(never.Histogram.Buckets(), profile.Histogram.Buckets());
            var stored = ProfileCodec.Decode(ProfileCodec.Encode(RawDriftTests.Dataset(profile))).Columns[0];
            Assert.Equal(never.Histogram.Buckets(), stored.Histogram.Buckets());
            Assert.Equal(profile.IsExact, stored.IsExact);
        }
    }

    private static (ColumnDrift Ks, ColumnDrift Wasserstein) AssertWithinBounds(JsonElement expected, ColumnProfile reference, ColumnProfile window)
    {
        var ks = DriftAnalysis.Compare(reference, window, new ColumnRule(DriftMethod.KolmogorovSmirnov))!;
        var rows = expected.GetProperty("ks_statistic").GetDouble();
        Assert.True(rows >= ks.Statistic - 1e-12 && rows <= ks.Statistic + ks.StatisticBound + 1e-12,
            Text($"KS: scipy {rows:R}, reported {ks.Statistic:R} + {ks.StatisticBound:R}"));

        var wasserstein = DriftAnalysis.Compare(reference, window, new ColumnRule(DriftMethod.NormedWasserstein))!;
        var scale = Math.Max(expected.GetProperty("reference_std").GetDouble(), Distances.MinimumScale);
        var scipy = expected.GetProperty("wasserstein").GetDouble() / scale;
        Assert.True(Math.Abs(scipy - wasserstein.Statistic) <= wasserstein.StatisticBound + (1e-9 * Math.Abs(scipy)),
            Text($"Wasserstein: scipy {scipy:R}, reported {wasserstein.Statistic:R} ± {wasserstein.StatisticBound:R}"));
        return (ks, wasserstein);
    }

    // The reference as the service builds it, and a window built with the centring the reference hands its windows.
    private static (ColumnProfile Reference, ColumnProfile Window) Profiles(JsonElement expected, int cap)
    {
        var reference = Profile(RawDriftTests.Column(expected.GetProperty("reference")), cap, centring: null);
        var window = Profile(RawDriftTests.Column(expected.GetProperty("current")), cap, reference.CentringForWindows());
        return (reference, window);
    }

    private static ColumnProfile Profile(double[] values, int cap, Centring? centring)
    {
        var profile = new DatasetProfile([new ColumnSchema("x", ColumnKind.Numeric, centring)], cap).Columns[0];
        foreach (var value in values)
        {
            profile.AddNumber(value);
        }

        return profile;
    }

    private static (double Median, double Spread) MedianAndSpread(double[] values)
    {
        var sorted = values.Order().ToArray();
        double At(double q) => sorted[(int)Math.Floor(q * (sorted.Length - 1))];
        return (At(0.5), (At(0.75) - At(0.25)) / 1.349);
    }

    private static JsonElement Case(string group, string name) =>
        Fixture.GetProperty(group).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

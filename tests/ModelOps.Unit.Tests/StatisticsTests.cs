extern alias drift;
using System.Text.Json;
using drift::ModelOps.Drift.Statistics;

namespace ModelOps.Unit.Tests.Drift;

/// <summary>The drift statistics against scipy 1.10's answers on fixed data (Fixtures/make_fixtures.py wrote them).</summary>
public sealed class StatisticsTests
{
    private static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "scipy.json"))).RootElement;

    public static TheoryData<int> ExactCases() => [.. Enumerable.Range(0, Fixture.GetProperty("ks_exact").GetArrayLength())];

    public static TheoryData<int> AsymptoticCases() => [.. Enumerable.Range(0, Fixture.GetProperty("ks_asymptotic").GetArrayLength())];

    public static TheoryData<int> WassersteinCases() => [.. Enumerable.Range(0, Fixture.GetProperty("wasserstein").GetArrayLength())];

    public static TheoryData<int> CategoricalCases() => [.. Enumerable.Range(0, Fixture.GetProperty("categorical").GetArrayLength())];

    [Theory]
    [MemberData(nameof(ExactCases))]
    public void TwoSampleKolmogorovSmirnovIsExactForSmallSamples(int index)
    {
        var expected = Fixture.GetProperty("ks_exact")[index];
        var result = KolmogorovSmirnov.TwoSample(Values(expected, "a"), Values(expected, "b"));
        AssertClose(expected.GetProperty("statistic").GetDouble(), result.Statistic, 1e-12);
        AssertClose(expected.GetProperty("pvalue").GetDouble(), result.PValue, 1e-9);
    }

    [Theory]
    [MemberData(nameof(AsymptoticCases))]
    public void TwoSampleKolmogorovSmirnovIsAsymptoticForLargeSamples(int index)
    {
        var expected = Fixture.GetProperty("ks_asymptotic")[index];
        var a = XorShift.Uniforms((ulong)expected.GetProperty("seed_a").GetInt64(), expected.GetProperty("n1").GetInt32());
        var shift = expected.GetProperty("shift").GetDouble();
        var b = XorShift.Uniforms((ulong)expected.GetProperty("seed_b").GetInt64(), expected.GetProperty("n2").GetInt32()).Select(v => v + shift).ToArray();
        var result = KolmogorovSmirnov.TwoSample(a, b);
        AssertClose(expected.GetProperty("statistic").GetDouble(), result.Statistic, 1e-12);
        AssertClose(expected.GetProperty("pvalue").GetDouble(), result.PValue, 1e-9);
    }

    [Fact]
    public void TheOneSampleDistributionMatchesScipysKstwoOnEveryMethod()
    {
        foreach (var point in Fixture.GetProperty("kstwo_sf").EnumerateArray())
        {
            var (n, x) = (point.GetProperty("n").GetInt64(), point.GetProperty("x").GetDouble());
            AssertClose(point.GetProperty("sf").GetDouble(), KolmogorovDistribution.Survival(n, x), 1e-9, $"kstwo.sf({x}, {n})");
        }
    }

    [Theory]
    [MemberData(nameof(WassersteinCases))]
    public void WassersteinDistanceMatchesScipy(int index)
    {
        var expected = Fixture.GetProperty("wasserstein")[index];
        var a = Values(expected, "a").Order().ToArray();
        var b = Values(expected, "b").Order().ToArray();
        AssertClose(expected.GetProperty("distance").GetDouble(), Distances.Wasserstein(a, b), 1e-9);
        AssertClose(expected.GetProperty("distance").GetDouble() / Math.Max(expected.GetProperty("reference_std").GetDouble(), Distances.MinimumScale),
            Distances.NormedWasserstein(a, b), 1e-9);
    }

    [Theory]
    [MemberData(nameof(CategoricalCases))]
    public void CategoricalTestsAndDistancesMatchScipy(int index)
    {
        var expected = Fixture.GetProperty("categorical")[index];
        var reference = Values(expected, "reference");
        var current = Values(expected, "current");
        var chi = Distances.ChiSquare(reference, current);
        AssertClose(expected.GetProperty("chi_square").GetDouble(), chi.Statistic, 1e-9);
        AssertClose(expected.GetProperty("chi_square_pvalue").GetDouble(), chi.PValue, 1e-9);
        AssertClose(expected.GetProperty("jensen_shannon").GetDouble(), Distances.JensenShannon(reference, current), 1e-9);
        AssertClose(expected.GetProperty("psi").GetDouble(), Distances.PopulationStabilityIndex(reference, current), 1e-9);
        AssertClose(expected.GetProperty("total_variation").GetDouble(), Distances.TotalVariation(reference, current), 1e-9);
    }

    [Fact]
    public void ConstantAndDegenerateInputsGiveNumbersNotNaN()
    {
        double[] constant = [3, 3, 3, 3, 3];
        Assert.Equal(new TestOutcome(0, 1), KolmogorovSmirnov.TwoSample(constant, constant));
        Assert.Equal(0, Distances.NormedWasserstein(constant, constant));
        Assert.Equal(1.0 / Distances.MinimumScale, Distances.NormedWasserstein(constant, [4, 4, 4]), 9);
        var ks = KolmogorovSmirnov.TwoSample(constant, [4, 4, 4]);
        Assert.Equal(1, ks.Statistic);
        Assert.InRange(ks.PValue, 0, 0.05);

        // One category, an empty current window, a category only the current window has.
        Assert.Equal(new TestOutcome(0, 1), Distances.ChiSquare([10], [7]));
        Assert.Equal(new TestOutcome(0, 1), Distances.ChiSquare([10, 5], [0, 0]));
        Assert.Equal(0, Distances.JensenShannon([10, 0], [20, 0]));
        Assert.False(double.IsNaN(Distances.PopulationStabilityIndex([10, 0], [0, 10])));
        Assert.Equal(1, Distances.TotalVariation([10, 0], [0, 10]));
        Assert.Equal(Math.Sqrt(Math.Log(2)), Distances.JensenShannon([10, 0], [0, 10]), 12);
    }

    private static double[] Values(JsonElement element, string name) =>
        element.GetProperty(name).EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static void AssertClose(double expected, double actual, double relative, string what = "")
    {
        var tolerance = relative * Math.Max(Math.Abs(expected), double.Epsilon);
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what} expected {expected:R}, got {actual:R} (relative error {Math.Abs(expected - actual) / Math.Abs(expected):E2})");
    }
}

/// <summary>xorshift64* → doubles in [0, 1): the same integers, hence the same doubles, as Fixtures/make_fixtures.py.</summary>
public static class XorShift
{
    public static double[] Uniforms(ulong seed, int count)
    {
        var state = seed == 0 ? 1 : seed;
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            values[i] = ((state * 0x2545F4914F6CDD1DUL) >> 11) * (1.0 / (1UL << 53));
        }

        return values;
    }
}

using System.Globalization;
using ModelOps.Drift.Profiles;

namespace ModelOps.Drift.Statistics;

/// <summary>Whose conventions choose and compute a column's drift statistic.</summary>
public enum DriftPreset
{
    /// <summary>
    /// ModelOps's: a test below 1000 reference values, a distance above; numeric bins between the reference's deciles
    /// (bins that mean the same thing in every window); Jensen–Shannon in nats; an empty PSI bin counts 0.0001; a test
    /// drifts at p ≤ threshold. Chosen for correctness: the bins do not move with the window being judged.
    /// </summary>
    ModelOps,

    /// <summary>
    /// Evidently's (its data-drift preset's default tests): a Z-test for two values, chi-square for up to five, KS
    /// beyond, at most 1000 reference values; Jensen–Shannon or normed Wasserstein above; numeric bins by Sturges' rule
    /// over both samples (value counts while the reference has at most 20 distinct values); Jensen–Shannon in bits;
    /// PSI's empty bins filled as Evidently fills them; chi-square and Z drift at p &lt; threshold, KS at p ≤ threshold.
    /// </summary>
    Evidently,
}

/// <summary>
/// Evidently's conventions (evidently.calculations.stattests), reproduced so that a team moving from Evidently sees
/// the same verdicts: the same test for the same column, the same bins, the same smoothing, the same thresholds.
/// </summary>
public static class EvidentlyPreset
{
    /// <summary>Numeric columns whose reference has at most this many distinct values are binned by value.</summary>
    public const int ValueBinnedDistinct = 20;

    /// <summary>Columns with at most this many distinct values (both samples together) get a test on their values.</summary>
    public const int FewValues = 5;

    /// <summary>
    /// The default method of a column: <paramref name="distinct"/> counts the values of both samples together (a
    /// column past the exact cap has more than any of these limits).
    /// </summary>
    public static DriftMethod DefaultMethod(ColumnKind kind, long referenceCount, long distinct) =>
        (referenceCount <= DriftAnalysis.SmallReference, kind == ColumnKind.Numeric) switch
        {
            (true, true) => distinct <= FewValues ? (distinct > 2 ? DriftMethod.ChiSquare : DriftMethod.ZTest) : DriftMethod.KolmogorovSmirnov,
            (true, false) => distinct > 2 ? DriftMethod.ChiSquare : DriftMethod.ZTest,
            (false, true) => distinct <= FewValues ? DriftMethod.JensenShannon : DriftMethod.NormedWasserstein,
            (false, false) => DriftMethod.JensenShannon,
        };

    /// <summary>Evidently's default threshold of <paramref name="method"/> (PSI 0.1 where ModelOps uses 0.2).</summary>
    public static double DefaultThreshold(DriftMethod method) => method switch
    {
        DriftMethod.KolmogorovSmirnov or DriftMethod.ChiSquare or DriftMethod.ZTest => 0.05,
        _ => 0.1,
    };

    /// <summary>Whether a p-value drifts: KS at p ≤ threshold, chi-square and Z at p &lt; threshold.</summary>
    public static bool TestDrifts(DriftMethod method, double pValue, double threshold) =>
        method == DriftMethod.KolmogorovSmirnov ? pValue <= threshold : pValue < threshold;

    /// <summary>
    /// Counts of both samples in the bins of <c>numpy.histogram_bin_edges(both, bins="sturges")</c>: ⌈range/width⌉
    /// equal bins with width = range/(log₂ n + 1), edges i·step + min, the last closed (numpy's <c>histogram</c>).
    /// From exact values the counts are numpy's; from histograms each bucket is counted at its boundary.
    /// </summary>
    public static (double[] Reference, double[] Current, double[] Edges) SturgesBinned(
        ColumnProfile reference, ColumnProfile current, ExactSample? exactReference, ExactSample? exactCurrent)
    {
        double first = Math.Min(reference.Min, current.Min), last = Math.Max(reference.Max, current.Max);
        var range = last - first;
        if (first == last)
        {
            (first, last) = (first - 0.5, last + 0.5);
        }

        var width = range / (Math.Log2(reference.Count + current.Count) + 1.0);
        var bins = width > 0 ? (int)Math.Ceiling(range / width) : 1;
        var step = (last - first) / bins;
        var edges = new double[bins + 1];
        for (var i = 0; i < bins; i++)
        {
            edges[i] = (i * step) + first;
        }

        edges[bins] = last;
        return (Bin(reference, exactReference, edges), Bin(current, exactCurrent, edges), edges);
    }

    /// <summary>A numeric column's values as categories (Evidently's value counts), over the values of both samples in ascending order.</summary>
    public static (double[] Reference, double[] Current, IReadOnlyList<string> Unseen, IReadOnlyList<string> Bins) ValueCounts(ExactSample reference, ExactSample current)
    {
        var values = reference.Values.Union(current.Values).Order().ToArray();
        double[] Counts(ExactSample sample) => [.. values.Select(v => { var i = Array.BinarySearch(sample.Values, v); return i >= 0 ? (double)sample.Counts[i] : 0; })];
        var labels = values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)).ToList();
        var unseen = values.Where(v => Array.BinarySearch(reference.Values, v) < 0).Select(v => v.ToString("R", CultureInfo.InvariantCulture)).ToList();
        return (Counts(reference), Counts(current), unseen, labels);
    }

    /// <summary>
    /// PSI as Evidently computes it: Σ (p − q) ln(p/q) over shares whose zeros are filled, per sample, with its smallest
    /// nonzero share / 10⁶ when that is at most 0.0001, else with 0.0001.
    /// </summary>
    public static double PopulationStabilityIndex(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        var p = FilledShares(referenceCounts);
        var q = FilledShares(currentCounts);
        var psi = 0.0;
        for (var k = 0; k < p.Length; k++)
        {
            psi += (p[k] - q[k]) * Math.Log(p[k] / q[k]);
        }

        return psi;
    }

    /// <summary>The Jensen–Shannon distance in bits (scipy's <c>jensenshannon(p, q, base=2)</c>, as Evidently calls it).</summary>
    public static double JensenShannonBits(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts) =>
        Distances.JensenShannon(referenceCounts, currentCounts) / Math.Sqrt(Math.Log(2));

    /// <summary>
    /// Evidently's Z-test for a difference of proportions: the share of values other than the first (smallest) category
    /// in each sample, pooled; p = 2(1 − Φ(|z|)). Both samples of one and the same value: z 0, p 1. The effect is the
    /// difference of the two shares.
    /// </summary>
    public static (TestOutcome Test, double Effect) ZTest(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        double n1 = 0, n2 = 0;
        for (var k = 0; k < referenceCounts.Length; k++)
        {
            (n1, n2) = (n1 + referenceCounts[k], n2 + currentCounts[k]);
        }

        var present = 0;
        for (var k = 0; k < referenceCounts.Length; k++)
        {
            present += referenceCounts[k] > 0 || currentCounts[k] > 0 ? 1 : 0;
        }

        if (present <= 1 || n1 == 0 || n2 == 0)
        {
            return (new TestOutcome(0, 1), 0);
        }

        var p1 = (n1 - referenceCounts[0]) / n1;
        var p2 = (n2 - currentCounts[0]) / n2;
        var pooled = ((p1 * n1) + (p2 * n2)) / (n1 + n2);
        var z = (p1 - p2) / Math.Sqrt(pooled * (1 - pooled) * ((1.0 / n1) + (1.0 / n2)));
        var pValue = MathNet.Numerics.SpecialFunctions.Erfc(Math.Abs(z) / Math.Sqrt(2));
        return (new TestOutcome(z, Math.Clamp(pValue, 0, 1)), Math.Abs(p1 - p2));
    }

    private static double[] FilledShares(ReadOnlySpan<double> counts)
    {
        var total = 0.0;
        foreach (var count in counts)
        {
            total += count;
        }

        var shares = new double[counts.Length];
        var smallest = double.PositiveInfinity;
        for (var k = 0; k < shares.Length; k++)
        {
            shares[k] = total > 0 ? counts[k] / total : 0;
            smallest = shares[k] > 0 ? Math.Min(smallest, shares[k]) : smallest;
        }

        var fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
        for (var k = 0; k < shares.Length; k++)
        {
            shares[k] = shares[k] == 0 ? fill : shares[k];
        }

        return shares;
    }

    // numpy.histogram's counts on given edges: edges[i] ≤ x < edges[i+1], the last bin closed.
    private static double[] Bin(ColumnProfile profile, ExactSample? exact, double[] edges)
    {
        var counts = new double[edges.Length - 1];
        void Count(double value, long count)
        {
            var i = Array.BinarySearch(edges, value);
            var bin = i >= 0 ? i : ~i - 1;
            counts[Math.Clamp(bin, 0, counts.Length - 1)] += count;
        }

        if (exact is { } sample)
        {
            for (var i = 0; i < sample.Values.Length; i++)
            {
                Count(sample.Values[i], sample.Counts[i]);
            }
        }
        else if (profile.Centring is { } centring && profile.CentredHistogram(centring) is { } centred)
        {
            // Past the cap, the centred histogram's buckets are the narrow ones.
            foreach (var (upper, count) in centred.Buckets())
            {
                Count(Math.Clamp(centring.Invert(upper), profile.Min, profile.Max), count);
            }
        }
        else
        {
            foreach (var (upper, count) in profile.Histogram.Buckets())
            {
                Count(Math.Clamp(upper, profile.Min, profile.Max), count);
            }
        }

        return counts;
    }
}

using ModelOps.Drift.Profiles;

namespace ModelOps.Drift.Statistics;

/// <summary>
/// The statistics of <see cref="KolmogorovSmirnov"/> and <see cref="Distances"/>, computed from two histograms rather
/// than from rows. Both histograms share one logarithmic grid, so the empirical CDFs are compared exactly at every
/// bucket boundary; what is lost inside a bucket is bounded and reported. The histograms may be of values centred
/// alike (<see cref="Profiles.Centring"/>): KS is the same under that monotone map, and a distance scales with it.
/// </summary>
public static class ProfileComparison
{
    /// <summary>Bins of the numeric histograms behind PSI and Jensen–Shannon: the reference's deciles.</summary>
    public const int QuantileBins = 10;

    /// <summary>
    /// KS from two histograms. The statistic is the largest CDF gap at a bucket boundary, exact there. Inside a bucket
    /// where the CDFs rise from (a, b) by (δ₁, δ₂), both monotone, the gap is at most max(a + δ₁ − b, b + δ₂ − a), which
    /// exceeds the larger of the gaps at the bucket's two ends by at most min(δ₁, δ₂): the largest such smaller share
    /// is returned as <c>Bound</c>, so the KS statistic of the rows lies in [Statistic, Statistic + Bound] — a bucket
    /// only one sample has values in costs nothing. The p-value is computed for the grid statistic.
    /// </summary>
    public static (TestOutcome Test, double Bound) KolmogorovSmirnov(LogHistogram reference, LogHistogram current)
    {
        long n1 = reference.Count, n2 = current.Count;
        if (n1 == 0 || n2 == 0)
        {
            return (new TestOutcome(0, 1), 0);
        }

        long c1 = 0, c2 = 0, widest = 0;
        var bound = 0.0;
        foreach (var (_, first, second) in Aligned(reference, current))
        {
            c1 += first;
            c2 += second;
            widest = Math.Max(widest, Math.Abs((c1 * n2) - (c2 * n1)));
            bound = Math.Max(bound, Math.Min((double)first / n1, (double)second / n2));
        }

        return (new TestOutcome((double)widest / (n1 * n2), Statistics.KolmogorovSmirnov.PValue(n1, n2, widest)), bound);
    }

    /// <summary>
    /// The Wasserstein distance between two histograms, from their CDFs between consecutive bucket boundaries, and how
    /// far the rows' can be from it: taking each value for its bucket's boundary moves it at most its bucket's width, so
    /// by the triangle inequality the rows' distance lies within the two samples' mean bucket widths added.
    /// </summary>
    public static (double Distance, double Bound) Wasserstein(LogHistogram reference, LogHistogram current) =>
        (ExactComparison.AreaBetween(Aligned(reference, current), reference.Count, current.Count),
         reference.MeanBucketWidth() + current.MeanBucketWidth());

    /// <summary>
    /// Counts of both samples in the bins between the reference's deciles (outer bins open-ended), every edge on a
    /// bucket boundary so the counts are exact: the histograms PSI and Jensen–Shannon compare.
    /// </summary>
    public static (double[] Reference, double[] Current, double[] Edges) QuantileBinned(LogHistogram reference, LogHistogram current)
    {
        var edges = Enumerable.Range(1, QuantileBins - 1)
            .Select(k => reference.UpperBoundOf(reference.Quantile((double)k / QuantileBins)))
            .Distinct()
            .ToArray();
        return (Bin(reference, edges), Bin(current, edges), edges);
    }

    private static double[] Bin(LogHistogram histogram, double[] edges)
    {
        var counts = new double[edges.Length + 1];
        foreach (var (upper, count) in histogram.Buckets())
        {
            var bin = Array.BinarySearch(edges, upper);
            counts[bin >= 0 ? bin : ~bin] += count;
        }

        return counts;
    }

    // Both histograms' buckets in ascending order of boundary, with each one's count (0 where it has none).
    private static IEnumerable<(double Boundary, long First, long Second)> Aligned(LogHistogram first, LogHistogram second)
    {
        using var a = first.Buckets().GetEnumerator();
        using var b = second.Buckets().GetEnumerator();
        bool hasA = a.MoveNext(), hasB = b.MoveNext();
        while (hasA || hasB)
        {
            if (hasA && (!hasB || a.Current.UpperBound < b.Current.UpperBound))
            {
                yield return (a.Current.UpperBound, a.Current.Count, 0);
                hasA = a.MoveNext();
            }
            else if (hasB && (!hasA || b.Current.UpperBound < a.Current.UpperBound))
            {
                yield return (b.Current.UpperBound, 0, b.Current.Count);
                hasB = b.MoveNext();
            }
            else
            {
                yield return (a.Current.UpperBound, a.Current.Count, b.Current.Count);
                hasA = a.MoveNext();
                hasB = b.MoveNext();
            }
        }
    }
}

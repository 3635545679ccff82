namespace ModelOps.Drift.Statistics;

/// <summary>A column's values kept exactly: the distinct values in ascending order, and how often each occurred.</summary>
/// <param name="Values">Distinct values, ascending.</param>
/// <param name="Counts">Occurrences of each.</param>
public readonly record struct ExactSample(double[] Values, long[] Counts)
{
    /// <summary>Values in all.</summary>
    public long Count => Counts.Sum();
}

/// <summary>
/// The statistics of <see cref="KolmogorovSmirnov"/> and <see cref="Distances"/> on columns whose values were kept
/// exactly (<see cref="Profiles.ColumnProfile.IsExact"/>): the same numbers as on the rows, with no error bound, since
/// a value that occurs k times contributes to an empirical CDF exactly as k equal rows do.
/// </summary>
public static class ExactComparison
{
    /// <summary>
    /// The two-sample KS test on the rows: D = max |c₁n₂ − c₂n₁| / (n₁n₂) over every value of either sample, with c
    /// the counts at or below it; the p-value as <see cref="KolmogorovSmirnov.TwoSampleSorted"/> gives it.
    /// </summary>
    public static TestOutcome KolmogorovSmirnov(ExactSample reference, ExactSample current)
    {
        long n1 = reference.Count, n2 = current.Count;
        if (n1 == 0 || n2 == 0)
        {
            return new TestOutcome(0, 1);
        }

        long c1 = 0, c2 = 0, widest = 0;
        foreach (var (_, first, second) in Aligned(reference, current))
        {
            c1 += first;
            c2 += second;
            widest = Math.Max(widest, Math.Abs((c1 * n2) - (c2 * n1)));
        }

        return new TestOutcome((double)widest / (n1 * n2), Statistics.KolmogorovSmirnov.PValue(n1, n2, widest));
    }

    /// <summary>The Wasserstein distance of the rows: ∫ |F₁ − F₂| dx between consecutive distinct values (scipy's <c>wasserstein_distance</c>).</summary>
    public static double Wasserstein(ExactSample reference, ExactSample current) =>
        AreaBetween(Aligned(reference, current), reference.Count, current.Count);

    /// <summary>
    /// ∫ |F₁ − F₂| dx for two step CDFs given as their steps in ascending order (where, and how much each rises): the
    /// Wasserstein distance of samples, or of histograms stepping at their bucket boundaries.
    /// </summary>
    internal static double AreaBetween(IEnumerable<(double At, long First, long Second)> steps, double n1, double n2)
    {
        if (n1 == 0 || n2 == 0)
        {
            return 0;
        }

        double c1 = 0, c2 = 0, total = 0;
        double? previous = null;
        foreach (var (at, first, second) in steps)
        {
            if (previous is { } start)
            {
                total += Math.Abs((c1 / n1) - (c2 / n2)) * (at - start);
            }

            c1 += first;
            c2 += second;
            previous = at;
        }

        return total;
    }

    /// <summary>
    /// Counts of both samples in the bins between the reference's deciles (the value of rank ⌊q(n − 1)⌋, numpy's
    /// <c>quantile(method="lower")</c>; repeated edges merged): bin k holds edge[k−1] &lt; x ≤ edge[k], the outer bins are open.
    /// </summary>
    public static (double[] Reference, double[] Current, double[] Edges) QuantileBinned(ExactSample reference, ExactSample current, int bins)
    {
        var n = reference.Count;
        var edges = new List<double>();
        if (n > 0)
        {
            for (var k = 1; k < bins; k++)
            {
                var edge = ValueAtRank(reference.Values, reference.Counts, (long)Math.Floor((double)k / bins * (n - 1)));
                if (edges.Count == 0 || edges[^1] != edge)
                {
                    edges.Add(edge);
                }
            }
        }

        var cut = edges.ToArray();
        return (Bin(reference, cut), Bin(current, cut), cut);
    }

    /// <summary>The value of rank <paramref name="rank"/> (0-based) among distinct ascending values with their counts.</summary>
    internal static double ValueAtRank(ReadOnlySpan<double> values, ReadOnlySpan<long> counts, long rank)
    {
        long seen = 0;
        for (var i = 0; i < values.Length; i++)
        {
            seen += counts[i];
            if (seen > rank)
            {
                return values[i];
            }
        }

        return values[^1];
    }

    private static double[] Bin(ExactSample sample, double[] edges)
    {
        var counts = new double[edges.Length + 1];
        for (var i = 0; i < sample.Values.Length; i++)
        {
            var bin = Array.BinarySearch(edges, sample.Values[i]);
            counts[bin >= 0 ? bin : ~bin] += sample.Counts[i];
        }

        return counts;
    }

    // Every distinct value of either sample in ascending order, with each sample's count of it (0 where it has none).
    private static IEnumerable<(double Value, long First, long Second)> Aligned(ExactSample first, ExactSample second)
    {
        int i = 0, j = 0;
        while (i < first.Values.Length || j < second.Values.Length)
        {
            if (j == second.Values.Length || (i < first.Values.Length && first.Values[i] < second.Values[j]))
            {
                yield return (first.Values[i], first.Counts[i], 0);
                i++;
            }
            else if (i == first.Values.Length || second.Values[j] < first.Values[i])
            {
                yield return (second.Values[j], 0, second.Counts[j]);
                j++;
            }
            else
            {
                yield return (first.Values[i], first.Counts[i], second.Counts[j]);
                i++;
                j++;
            }
        }
    }
}

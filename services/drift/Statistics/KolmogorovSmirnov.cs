namespace ModelOps.Drift.Statistics;

/// <summary>The outcome of a two-sample test: its statistic and p-value.</summary>
/// <param name="Statistic">The test statistic.</param>
/// <param name="PValue">The probability, under "same distribution", of a statistic at least this large.</param>
public readonly record struct TestOutcome(double Statistic, double PValue);

/// <summary>
/// The two-sided two-sample Kolmogorov–Smirnov test. MathNet.Numerics has no two-sample KS, so it is written here:
/// D = sup |F₁ − F₂| from the merged sorted samples; the p-value exactly by lattice-path counting when both samples
/// have at most <see cref="ExactLimit"/> values, else from the distribution of the one-sample statistic Dₙ with
/// n = round(n₁n₂/(n₁+n₂)) (<see cref="KolmogorovDistribution"/>), as <c>scipy.stats.ks_2samp</c> computes it.
/// </summary>
public static class KolmogorovSmirnov
{
    /// <summary>Largest sample size for which the p-value is exact (scipy's <c>ks_2samp</c> chooses the same way).</summary>
    public const int ExactLimit = 10_000;

    /// <summary>Tests two samples (in any order; NaN must be removed first).</summary>
    public static TestOutcome TwoSample(ReadOnlySpan<double> first, ReadOnlySpan<double> second)
    {
        var a = first.ToArray();
        var b = second.ToArray();
        Array.Sort(a);
        Array.Sort(b);
        return TwoSampleSorted(a, b);
    }

    /// <summary>Tests two samples sorted ascending.</summary>
    public static TestOutcome TwoSampleSorted(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.IsEmpty || b.IsEmpty)
        {
            throw new ArgumentException("Both samples need at least one value.");
        }

        long n1 = a.Length, n2 = b.Length;
        // |F₁(x) − F₂(x)| = |c₁n₂ − c₂n₁| / (n₁n₂) with c the counts at or below x: kept as an integer, so D is exact
        // and ties (equal values in both samples) are stepped over together.
        long widest = 0;
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            var x = Math.Min(a[i], b[j]);
            while (i < a.Length && a[i] <= x)
            {
                i++;
            }

            while (j < b.Length && b[j] <= x)
            {
                j++;
            }

            widest = Math.Max(widest, Math.Abs((i * n2) - (j * n1)));
        }

        return new TestOutcome((double)widest / (n1 * n2), PValue(n1, n2, widest));
    }

    /// <summary>
    /// The p-value of D = <paramref name="widest"/>/(n₁n₂) (the widest gap |c₁n₂ − c₂n₁| between the counts at or
    /// below a value): exact up to <see cref="ExactLimit"/> values per sample, asymptotic beyond.
    /// </summary>
    internal static double PValue(long n1, long n2, long widest)
    {
        if (Math.Max(n1, n2) <= ExactLimit)
        {
            return ExactPValue((int)n1, (int)n2, widest / Gcd(n1, n2));
        }

        // scipy's ks_2samp: the one-sample distribution of Dₙ (kstwo) with n = round(n₁n₂/(n₁ + n₂)), half to even as numpy rounds.
        var effective = Math.Round((double)n1 * n2 / (n1 + n2), MidpointRounding.ToEven);
        return KolmogorovDistribution.Survival((long)Math.Max(effective, 1), (double)widest / (n1 * n2));
    }

    /// <summary>
    /// P(D ≥ h/lcm(m, n)) for samples of sizes m and n, by counting lattice paths from (0, 0) to (m, n) that leave the
    /// band |x·n/g − y·m/g| &lt; h (Hodges 1958). Rather than counting paths (which overflows) and subtracting from
    /// one (which cancels), each point carries the share of the paths reaching it that have already left the band:
    /// u(x, y) = (x·u(x−1, y) + y·u(x, y−1)) / (x + y) inside, 1 outside (Viehmann 2021, arXiv:2102.08037), so the
    /// answer u(m, n) is accurate however small it is.
    /// </summary>
    internal static double ExactPValue(int m, int n, long h)
    {
        if (h <= 0)
        {
            return 1.0;
        }

        if (m < n)
        {
            (m, n) = (n, m);
        }

        long g = Gcd(m, n), mg = m / g, ng = n / g;
        // Column x of u, over y = 0..n; points below the band stay 1 for good, points above it are 1 until the band
        // reaches them.
        var u = new double[n + 1];
        Array.Fill(u, 1.0);
        var previousLow = 0;
        for (var x = 0; x <= m; x++)
        {
            // Inside: x·ng − h < y·mg < x·ng + h.
            var low = (int)Math.Max(0, FloorDiv((x * ng) - h, mg) + 1);
            var high = (int)Math.Min(n, CeilDiv((x * ng) + h, mg) - 1);
            for (var y = previousLow; y < Math.Min(low, n + 1); y++)
            {
                u[y] = 1.0;
            }

            for (var y = low; y <= high; y++)
            {
                u[y] = x + y == 0 ? 0.0 : ((x * u[y]) + (y > 0 ? y * u[y - 1] : 0.0)) / (x + y);
            }

            previousLow = low;
            if (low > n)
            {
                return 1.0;
            }
        }

        return Math.Clamp(u[n], 0.0, 1.0);
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    private static long CeilDiv(long a, long b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
}

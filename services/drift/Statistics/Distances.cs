namespace ModelOps.Drift.Statistics;

/// <summary>
/// Distances and tests between a reference and a current distribution. Histogram-based ones take counts over the
/// same bins or categories; none of them returns NaN for a constant or empty input.
/// </summary>
public static class Distances
{
    /// <summary>The share a bin with no observations counts as in PSI, so that its logarithm stays finite (as Evidently).</summary>
    public const double EmptyBinShare = 1e-4;

    /// <summary>Smallest standard deviation a normed Wasserstein distance divides by, so a constant reference gives no infinity.</summary>
    public const double MinimumScale = 1e-3;

    /// <summary>
    /// The first Wasserstein (earth mover's) distance between two samples sorted ascending: ∫ |F₁(x) − F₂(x)| dx over
    /// the merged values.
    /// </summary>
    public static double Wasserstein(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.IsEmpty || b.IsEmpty)
        {
            throw new ArgumentException("Both samples need at least one value.");
        }

        double n1 = a.Length, n2 = b.Length;
        int i = 0, j = 0;
        var total = 0.0;
        var x = Math.Min(a[0], b[0]);
        while (i < a.Length || j < b.Length)
        {
            while (i < a.Length && a[i] <= x)
            {
                i++;
            }

            while (j < b.Length && b[j] <= x)
            {
                j++;
            }

            if (i == a.Length && j == b.Length)
            {
                break;
            }

            var next = Math.Min(i < a.Length ? a[i] : double.PositiveInfinity, j < b.Length ? b[j] : double.PositiveInfinity);
            total += Math.Abs((i / n1) - (j / n2)) * (next - x);
            x = next;
        }

        return total;
    }

    /// <summary>
    /// The Wasserstein distance in units of the reference's standard deviation (population, at least
    /// <see cref="MinimumScale"/>): comparable across columns, so one threshold (0.1) serves them all.
    /// </summary>
    public static double NormedWasserstein(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        var mean = 0.0;
        foreach (var value in reference)
        {
            mean += value;
        }

        mean /= reference.Length;
        var squares = 0.0;
        foreach (var value in reference)
        {
            squares += (value - mean) * (value - mean);
        }

        return Wasserstein(reference, current) / Math.Max(Math.Sqrt(squares / reference.Length), MinimumScale);
    }

    /// <summary>
    /// The Jensen–Shannon distance (natural logarithm, so within [0, √ln 2]) between two histograms: the square root
    /// of the mean Kullback–Leibler divergence of each from their midpoint. Empty bins need no smoothing.
    /// </summary>
    public static double JensenShannon(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        var (p, q) = Shares(referenceCounts, currentCounts);
        var divergence = 0.0;
        for (var k = 0; k < p.Length; k++)
        {
            var m = (p[k] + q[k]) / 2;
            if (p[k] > 0)
            {
                divergence += p[k] * Math.Log(p[k] / m);
            }

            if (q[k] > 0)
            {
                divergence += q[k] * Math.Log(q[k] / m);
            }
        }

        return Math.Sqrt(Math.Max(divergence / 2, 0));
    }

    /// <summary>
    /// The population stability index Σ (qₖ − pₖ) ln(qₖ/pₖ) over shares, an empty bin counting as
    /// <see cref="EmptyBinShare"/>. Conventional reading: below 0.1 stable, 0.1–0.25 moderate shift, above 0.25 large.
    /// </summary>
    public static double PopulationStabilityIndex(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        var (p, q) = Shares(referenceCounts, currentCounts);
        var psi = 0.0;
        for (var k = 0; k < p.Length; k++)
        {
            var pk = p[k] == 0 ? EmptyBinShare : p[k];
            var qk = q[k] == 0 ? EmptyBinShare : q[k];
            psi += (qk - pk) * Math.Log(qk / pk);
        }

        return psi;
    }

    /// <summary>The total variation distance: half the sum of the absolute differences of the shares, within [0, 1].</summary>
    public static double TotalVariation(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        var (p, q) = Shares(referenceCounts, currentCounts);
        var sum = 0.0;
        for (var k = 0; k < p.Length; k++)
        {
            sum += Math.Abs(p[k] - q[k]);
        }

        return sum / 2;
    }

    /// <summary>
    /// Pearson's chi-square goodness-of-fit test of the current counts against the reference's shares, over every
    /// category either side has (k − 1 degrees of freedom), as Evidently and <c>scipy.stats.chisquare</c> compute it:
    /// expected counts are the reference's scaled to the current total. A category the reference never saw expects
    /// nothing, so any value of it makes the statistic +∞ and the p-value 0: a label that was impossible is drift.
    /// A single category on both sides is no evidence of change: statistic 0, p-value 1.
    /// </summary>
    public static TestOutcome ChiSquare(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        Check(referenceCounts, currentCounts);
        double referenceTotal = 0, currentTotal = 0;
        var categories = 0;
        for (var k = 0; k < referenceCounts.Length; k++)
        {
            referenceTotal += referenceCounts[k];
            currentTotal += currentCounts[k];
            categories += referenceCounts[k] > 0 || currentCounts[k] > 0 ? 1 : 0;
        }

        if (categories < 2 || currentTotal == 0 || referenceTotal == 0)
        {
            return new TestOutcome(0, 1);
        }

        var statistic = 0.0;
        for (var k = 0; k < referenceCounts.Length; k++)
        {
            if (referenceCounts[k] == 0)
            {
                if (currentCounts[k] > 0)
                {
                    return new TestOutcome(double.PositiveInfinity, 0);
                }

                continue;
            }

            var expected = referenceCounts[k] * (currentTotal / referenceTotal);
            statistic += (currentCounts[k] - expected) * (currentCounts[k] - expected) / expected;
        }

        // The upper regularized gamma function keeps its relative accuracy where 1 − CDF would round to zero.
        var pValue = MathNet.Numerics.SpecialFunctions.GammaUpperRegularized((categories - 1) / 2.0, statistic / 2);
        return new TestOutcome(statistic, Math.Clamp(pValue, 0, 1));
    }

    private static (double[] P, double[] Q) Shares(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        Check(referenceCounts, currentCounts);
        double referenceTotal = 0, currentTotal = 0;
        for (var k = 0; k < referenceCounts.Length; k++)
        {
            referenceTotal += referenceCounts[k];
            currentTotal += currentCounts[k];
        }

        var p = new double[referenceCounts.Length];
        var q = new double[referenceCounts.Length];
        for (var k = 0; k < p.Length; k++)
        {
            p[k] = referenceTotal > 0 ? referenceCounts[k] / referenceTotal : 0;
            q[k] = currentTotal > 0 ? currentCounts[k] / currentTotal : 0;
        }

        return (p, q);
    }

    private static void Check(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        if (referenceCounts.Length != currentCounts.Length)
        {
            throw new ArgumentException("Both histograms must have the same bins.");
        }

        foreach (var count in referenceCounts)
        {
            if (!(count >= 0))
            {
                throw new ArgumentException("Counts must be non-negative numbers.");
            }
        }

        foreach (var count in currentCounts)
        {
            if (!(count >= 0))
            {
                throw new ArgumentException("Counts must be non-negative numbers.");
            }
        }
    }
}

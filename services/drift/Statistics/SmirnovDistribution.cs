namespace ModelOps.Drift.Statistics;

/// <summary>
/// The one-sided Smirnov statistic Dₙ⁺ = sup (F − Fₙ) of a sample of n (scipy's <c>smirnov</c>): the upper tail of
/// <see cref="KolmogorovDistribution"/> is twice its survival function. Written here for the same reason (no .NET
/// library has it), after Birnbaum and Tingey (1951) and Loader's saddle-point binomial probabilities.
/// </summary>
public static class SmirnovDistribution
{
    /// <summary>Largest n for which the one-sided Smirnov probability is summed exactly (beyond, its asymptotic form).</summary>
    public const int ExactLimit = 1_000_000;

    /// <summary>
    /// P(Dₙ⁺ ≥ x), the one-sided Smirnov probability, by Birnbaum and Tingey's sum x Σⱼ C(n, j) pⱼ^(j−1) (1 − pⱼ)^(n−j)
    /// with pⱼ = x + j/n over j ≤ n(1 − x). Every term is x/pⱼ times a binomial probability, computed by Loader's
    /// saddle-point form so that it keeps its relative accuracy for n up to <see cref="ExactLimit"/>.
    /// </summary>
    public static double Survival(long n, double x)
    {
        if (x >= 1)
        {
            return 0;
        }

        if (x <= 0)
        {
            return 1;
        }

        if (n > ExactLimit)
        {
            // Smirnov's limit exp(−2nx²) with its first correction, exp(−2n(x + 1/(6n))²).
            var z = Math.Sqrt(n) * x + (1 / (6 * Math.Sqrt(n)));
            return Clip(Math.Exp(-2 * z * z));
        }

        var last = (long)Math.Floor(n * (1 - x));
        var sum = 0.0;
        for (long j = 0; j <= last; j++)
        {
            var p = x + ((double)j / n);
            var q = ((double)(n - j) / n) - x;
            if (q <= 0)
            {
                break;
            }

            sum += BinomialProbability(j, n, p, q) / p;
        }

        return Clip(x * sum);
    }

    /// <summary>The binomial probability of x successes in n trials of probability p (q = 1 − p), by Loader's saddle-point form.</summary>
    private static double BinomialProbability(long x, long n, double p, double q)
    {
        if (x == 0)
        {
            return Math.Exp(p < 0.1 ? -Deviance(n, n * q) - (n * p) : n * Math.Log(q));
        }

        if (x == n)
        {
            return Math.Exp(q < 0.1 ? -Deviance(n, n * p) - (n * q) : n * Math.Log(p));
        }

        var logCore = StirlingError(n) - StirlingError(x) - StirlingError(n - x) - Deviance(x, n * p) - Deviance(n - x, n * q);
        var logScale = Math.Log(2 * Math.PI) + Math.Log(x) + Math.Log((double)(n - x) / n);
        return Math.Exp(logCore - (0.5 * logScale));
    }

    // log(n!) − log(√(2πn) (n/e)ⁿ): directly for small n (an absolute error of a few ulps of log n! is all that matters), else its series.
    private static double StirlingError(long n)
    {
        if (n <= 15)
        {
            return MathNet.Numerics.SpecialFunctions.GammaLn(n + 1) - ((n + 0.5) * Math.Log(n)) + n - (0.5 * Math.Log(2 * Math.PI));
        }

        double nn = (double)n * n;
        const double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680, s4 = 1.0 / 1188;
        return n switch
        {
            > 500 => (s0 - (s1 / nn)) / n,
            > 80 => (s0 - ((s1 - (s2 / nn)) / nn)) / n,
            > 35 => (s0 - ((s1 - ((s2 - (s3 / nn)) / nn)) / nn)) / n,
            _ => (s0 - ((s1 - ((s2 - ((s3 - (s4 / nn)) / nn)) / nn)) / nn)) / n,
        };
    }

    // x log(x/μ) + μ − x, by its series where x is near μ (where the direct form cancels).
    private static double Deviance(double x, double mu)
    {
        if (Math.Abs(x - mu) < 0.1 * (x + mu))
        {
            var v = (x - mu) / (x + mu);
            var s = (x - mu) * v;
            var ej = 2 * x * v;
            v *= v;
            for (var j = 1; j < 1000; j++)
            {
                ej *= v;
                var next = s + (ej / ((2 * j) + 1));
                if (next == s)
                {
                    return next;
                }

                s = next;
            }

            return s;
        }

        return (x * Math.Log(x / mu)) + mu - x;
    }

    private static double Clip(double p) => Math.Clamp(p, 0, 1);
}

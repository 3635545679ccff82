namespace ModelOps.Fairness.Analysis;

/// <summary>
/// Binomial and multinomial variates in time independent of the number of trials. Math.NET's <c>Binomial.Sample</c>
/// draws one Bernoulli variate per trial, which makes a bootstrap of a million rows cost a million draws per resample;
/// this is Hörmann's BTRS ("The generation of binomial random variates", J. Stat. Comput. Simul. 46, 1993) for
/// n·min(p, 1 − p) ≥ 10 and inversion below, as numpy and TensorFlow sample them. Its distribution is checked against
/// the exact probability mass function (a χ² goodness-of-fit test in the unit tests).
/// </summary>
public static class Binomial
{
    // log(k!) − [(k + ½)·log(k + 1) − (k + 1) + ½·log(2π)], exact for k < 10 (Hörmann's table).
    private static readonly double[] StirlingTail =
    [
        0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509, 0.0166446911898211,
        0.0138761288230707, 0.0118967099458917, 0.0104112652619720, 0.00925546218271273, 0.00833056343336287,
    ];

    /// <summary>A variate of Binomial(<paramref name="n"/>, <paramref name="p"/>).</summary>
    public static long Sample(Random random, long n, double p)
    {
        if (n <= 0 || p <= 0)
        {
            return 0;
        }

        if (p >= 1)
        {
            return n;
        }

        if (p > 0.5)
        {
            return n - Sample(random, n, 1 - p);
        }

        return n * p < 10 ? Inversion(random, n, p) : Btrs(random, n, p);
    }

    /// <summary>
    /// A variate of Multinomial(<paramref name="n"/>, <paramref name="weights"/> / Σ weights) into
    /// <paramref name="counts"/>, by conditional binomials: cell i gets Binomial(trials left, wᵢ / weight left).
    /// </summary>
    public static void Multinomial(Random random, long n, ReadOnlySpan<long> weights, Span<long> counts)
    {
        double left = 0;
        foreach (var weight in weights)
        {
            left += weight;
        }

        var trials = n;
        for (var i = 0; i < weights.Length; i++)
        {
            if (trials == 0 || left <= 0)
            {
                counts[i] = 0;
                continue;
            }

            var drawn = weights[i] >= left ? trials : Sample(random, trials, weights[i] / left);
            counts[i] = drawn;
            trials -= drawn;
            left -= weights[i];
        }
    }

    private static long Inversion(Random random, long n, double p)
    {
        var q = 1 - p;
        var s = p / q;
        var a = (n + 1) * s;
        while (true)
        {
            var r = Math.Exp(n * Math.Log(q));
            var u = random.NextDouble();
            long x = 0;
            while (u > r)
            {
                u -= r;
                x++;
                if (x > n)
                {
                    break; // rounding left u above the total mass: draw again
                }

                r *= (a / x) - s;
            }

            if (x <= n)
            {
                return x;
            }
        }
    }

    private static long Btrs(Random random, long n, double p)
    {
        var q = 1 - p;
        var spq = Math.Sqrt(n * p * q);
        var b = 1.15 + (2.53 * spq);
        var a = -0.0873 + (0.0248 * b) + (0.01 * p);
        var c = (n * p) + 0.5;
        var vr = 0.92 - (4.2 / b);
        var r = p / q;
        var alpha = (2.83 + (5.1 / b)) * spq;
        var m = Math.Floor((n + 1) * p);
        while (true)
        {
            var u = random.NextDouble() - 0.5;
            var v = random.NextDouble();
            var us = 0.5 - Math.Abs(u);
            var k = Math.Floor((((2 * a / us) + b) * u) + c);
            if (k < 0 || k > n)
            {
                continue;
            }

            if (us >= 0.07 && v <= vr)
            {
                return (long)k;
            }

            v = Math.Log(v * alpha / ((a / (us * us)) + b));
            var bound = ((m + 0.5) * Math.Log((m + 1) / (r * (n - m + 1))))
                        + ((n + 1) * Math.Log((n - m + 1) / (n - k + 1)))
                        + ((k + 0.5) * Math.Log(r * (n - k + 1) / (k + 1)))
                        + Tail(m) + Tail(n - m) - Tail(k) - Tail(n - k);
            if (v <= bound)
            {
                return (long)k;
            }
        }
    }

    private static double Tail(double k)
    {
        if (k < StirlingTail.Length)
        {
            return StirlingTail[(int)k];
        }

        var square = (k + 1) * (k + 1);
        return (1.0 / 12 - ((1.0 / 360 - (1.0 / 1260 / square)) / square)) / (k + 1);
    }
}

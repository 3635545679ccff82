namespace ModelOps.Drift.Statistics;

/// <summary>
/// The distribution of the one-sample two-sided Kolmogorov–Smirnov statistic Dₙ = sup |Fₙ − F| for a sample of n
/// (scipy's <c>kstwo</c>): what <c>scipy.stats.ks_2samp</c> uses for large two-sample tests, with n = round(n₁n₂/(n₁+n₂)).
/// No .NET library computes it, so it is written here after Simard and L'Ecuyer (2011), "Computing the two-sided
/// Kolmogorov–Smirnov distribution", J. Stat. Softw. 39(11), who choose among exact and asymptotic methods by n and
/// nx²: Ruben–Gambino's closed forms at the ends, the Durbin matrix (Marsaglia, Tsang and Wang 2003) and Pomeranz's
/// recursion (1974) for small nx², twice the one-sided Smirnov probability (Birnbaum and Tingey 1951) in the upper
/// tail, and Pelz and Good's expansion (1976) for large n.
/// </summary>
public static class KolmogorovDistribution
{
    private const int ScaleExponent = 128;
    private static readonly double Big = Math.ScaleB(1.0, ScaleExponent);
    private static readonly double Small = Math.ScaleB(1.0, -ScaleExponent);

    /// <summary>P(Dₙ ≥ x), the survival function.</summary>
    public static double Survival(long n, double x)
    {
        if (n <= 0 || double.IsNaN(x))
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "The sample size must be positive and x a number.");
        }

        if (x >= 1)
        {
            return 0;
        }

        if (x <= 0)
        {
            return 1;
        }

        var t = n * x;
        if (t <= 1)
        {
            // Ruben and Gambino: for 1/(2n) ≤ x ≤ 1/n, P(Dₙ ≤ x) = n!/nⁿ (2t − 1)ⁿ.
            if (t <= 0.5)
            {
                return 1;
            }

            var cdf = n <= 140
                ? Product(n, 2 * t - 1)
                : Math.Exp(LogFactorialOverPower(n) + (n * Math.Log((2 * t) - 1)));
            return Clip(1 - cdf);
        }

        if (t >= n - 1)
        {
            return Clip(2 * Math.Pow(1 - x, n));
        }

        if (x >= 0.5)
        {
            return Clip(2 * SmirnovDistribution.Survival(n, x));
        }

        var nxSquared = t * x;
        if (n <= 140)
        {
            if (nxSquared <= 0.754693)
            {
                return Clip(1 - DurbinMatrixCdf((int)n, x));
            }

            return nxSquared <= 4 ? Clip(1 - PomeranzCdf((int)n, x)) : Clip(2 * SmirnovDistribution.Survival(n, x));
        }

        if (nxSquared >= 370)
        {
            return 0;
        }

        if (nxSquared >= 2.2)
        {
            return Clip(2 * SmirnovDistribution.Survival(n, x));
        }

        var lower = n <= 100_000 && n * Math.Pow(x, 1.5) <= 1.4 ? DurbinMatrixCdf((int)n, x) : PelzGoodCdf(n, x);
        return Clip(1 - lower);
    }

    /// <summary>
    /// P(Dₙ &lt; d) by the Durbin matrix: with k = ⌈nd⌉ and h = k − nd, the (k, k) entry of Hⁿ times n!/nⁿ, for an
    /// m × m matrix H (m = 2k − 1) of reciprocal factorials corrected in its first column and last row (Marsaglia, Tsang
    /// and Wang 2003). Powers are kept in range by scaling with powers of two.
    /// </summary>
    internal static double DurbinMatrixCdf(int n, double d)
    {
        var nd = n * d;
        if (nd <= 0.5)
        {
            return 0;
        }

        var k = (int)Math.Ceiling(nd);
        var h = k - nd;
        var m = (2 * k) - 1;
        var matrix = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < m; j++)
            {
                matrix[i, j] = i - j + 1 >= 0 ? 1 : 0;
            }
        }

        for (var i = 0; i < m; i++)
        {
            matrix[i, 0] -= Math.Pow(h, i + 1);
            matrix[m - 1, i] -= Math.Pow(h, m - i);
        }

        matrix[m - 1, 0] += (2 * h) - 1 > 0 ? Math.Pow((2 * h) - 1, m) : 0;
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < m; j++)
            {
                for (var g = 1; g <= i - j + 1; g++)
                {
                    matrix[i, j] /= g;
                }
            }
        }

        var (power, exponent) = Power(matrix, n, k - 1);
        var p = power[k - 1, k - 1];
        for (var i = 1; i <= n; i++)
        {
            p = i * p / n;
            if (Math.Abs(p) < Small)
            {
                p *= Big;
                exponent -= ScaleExponent;
            }
        }

        return Math.Clamp(Math.ScaleB(p, exponent), 0, 1);
    }

    /// <summary>
    /// P(Dₙ ≤ x) by Pomeranz's recursion: 2n + 1 rows, each the convolution of the previous one with one of three
    /// Poisson-like weight sequences, over a band of at most 2(⌊nx⌋ + 1) entries; the answer is n! times the last entry.
    /// </summary>
    internal static double PomeranzCdf(int n, double x)
    {
        var t = n * x;
        var ll = (int)Math.Floor(t);
        var f = t - ll;
        var g = Math.Min(f, 1 - f);
        var ceilF = f > 0 ? 1 : 0;
        var roundF = f > 0.5 ? 1 : 0;
        var size = 2 * (ll + 1);
        var gPower = new double[size];
        var twoGPower = new double[size];
        var oneMinusTwoGPower = new double[size];
        gPower[0] = twoGPower[0] = oneMinusTwoGPower[0] = 1;
        for (var i = 1; i < size; i++)
        {
            gPower[i] = gPower[i - 1] * (g / n) / i;
            twoGPower[i] = twoGPower[i - 1] * (2 * g / n) / i;
            oneMinusTwoGPower[i] = oneMinusTwoGPower[i - 1] * ((1 - (2 * g)) / n) / i;
        }

        var previous = new double[size];
        var current = new double[size];
        current[0] = 1;
        int previousStart = 0, currentStart = 0, exponent = 0;
        var (j1, _) = PomeranzBand(0, n, ll, ceilF, roundF);
        for (var i = 1; i <= (2 * n) + 1; i++)
        {
            var k1 = j1;
            (previous, current) = (current, previous);
            (previousStart, currentStart) = (currentStart, previousStart);
            Array.Clear(current);
            (j1, var j2) = PomeranzBand(i, n, ll, ceilF, roundF);
            var weights = i == 1 || i == (2 * n) + 1 ? gPower : i % 2 == 1 ? twoGPower : oneMinusTwoGPower;
            var length = j2 - k1 + 1;
            if (length <= 0)
            {
                continue;
            }

            // current[r] = Σ previous[k1 − previousStart + a] · weights[(j1 − k1 + r) − a]: the used part of the full convolution.
            var offset = k1 - previousStart;
            var available = Math.Min(length, size - offset);
            var max = 0.0;
            for (var r = 0; r <= j2 - j1; r++)
            {
                var index = j1 - k1 + r;
                var sum = 0.0;
                for (var a = Math.Max(0, index - (length - 1)); a <= Math.Min(index, available - 1); a++)
                {
                    sum += previous[offset + a] * weights[index - a];
                }

                current[r] = sum;
                max = Math.Max(max, sum);
            }

            if (max > 0 && max < Small)
            {
                for (var r = 0; r < size; r++)
                {
                    current[r] *= Big;
                }

                exponent -= ScaleExponent;
            }

            currentStart = previousStart + j1 - k1;
        }

        var answer = current[n - currentStart];
        for (var i = 1; i <= n; i++)
        {
            if (Math.Abs(answer) > Big)
            {
                answer *= Small;
                exponent += ScaleExponent;
            }

            answer *= i;
        }

        return Math.Clamp(Math.ScaleB(answer, exponent), 0, 1);
    }

    // The band of row i of Pomeranz's recursion: the first and last entries that can be nonzero.
    private static (int J1, int J2) PomeranzBand(int i, int n, int ll, int ceilF, int roundF)
    {
        int j1, j2;
        if (i == 0)
        {
            (j1, j2) = (-ll - ceilF - 1, ll + ceilF - 1);
        }
        else
        {
            var half = (i + 1) / 2;
            if ((i + 1) % 2 == 0)
            {
                (j1, j2) = half == n + 1
                    ? (n - ll - ceilF - 1, n + ll + ceilF - 1)
                    : (half - 1 - ll - roundF - 1, half + ll - 1 + ceilF - 1);
            }
            else
            {
                (j1, j2) = (half - 1 - ll - 1, half + ll + roundF - 1);
            }
        }

        return (Math.Max(j1 + 2, 0), Math.Min(j2, n));
    }

    /// <summary>
    /// P(Dₙ ≤ x) by Pelz and Good's expansion K₀ + K₁/√n + K₂/n + K₃/n^1.5 in z = x√n, each Kᵢ in its Jacobi-theta form
    /// that converges fast for small z.
    /// </summary>
    internal static double PelzGoodCdf(long n, double x)
    {
        var z = Math.Sqrt(n) * x;
        double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
        const double pi2 = Math.PI * Math.PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
        var qLog = -pi2 / 8 / z2;
        if (qLog < -708)
        {
            return 0;
        }

        var q = Math.Exp(qLog);
        double k1a = -z2, k1b = pi2 / 4;
        double k2a = (6 * z6) + (2 * z4), k2b = ((2 * z4) - (5 * z2)) * pi2 / 4, k2c = pi4 * (1 - (2 * z2)) / 16;
        double k3d = pi6 * (5 - (30 * z2)) / 64, k3c = pi4 * ((-60 * z2) + (212 * z4)) / 16;
        double k3b = pi2 * ((135 * z4) - (96 * z6)) / 4, k3a = (-30 * z6) - (90 * z4 * z4);

        // Σ over odd m = 2k − 1 of cᵢ(m) q^(m²), by Horner's scheme in q^(8k).
        Span<double> terms = stackalloc double[4];
        var maxK = (int)Math.Ceiling(16 * z / Math.PI);
        for (var k = maxK; k >= 1; k--)
        {
            double m = (2 * k) - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
            var qPower = Math.Pow(q, 8 * k);
            terms[0] = (terms[0] * qPower) + 1;
            terms[1] = (terms[1] * qPower) + k1a + (k1b * m2);
            terms[2] = (terms[2] * qPower) + k2a + (k2b * m2) + (k2c * m4);
            terms[3] = (terms[3] * qPower) + k3a + (k3b * m2) + (k3c * m4) + (k3d * m6);
        }

        var factor = q * Math.Sqrt(2 * Math.PI);
        terms[0] *= factor / z;
        terms[1] *= factor / (6 * z4);
        terms[2] *= factor / (72 * z6 * z);
        terms[3] *= factor / (6480 * z6 * z4);

        // The sums over all k of K₂'s and K₃'s other terms.
        var q2 = Math.Exp(-pi2 / 2 / z2);
        double extra2 = 0, extra3 = 0;
        var sqrt3z = Math.Sqrt(3) * z;
        for (var k = maxK; k >= 1; k--)
        {
            var k2 = (double)k * k;
            var qk = Math.Pow(q2, k2);
            extra2 += k2 * qk;
            extra3 += (sqrt3z + (Math.PI * k)) * (sqrt3z - (Math.PI * k)) * k2 * qk;
        }

        terms[2] += extra2 * pi2 * Math.Sqrt(2 * Math.PI) / (-36 * z3);
        terms[3] += extra3 * pi2 * Math.Sqrt(2 * Math.PI) / (216 * z6);
        var rootN = Math.Sqrt(n);
        return terms[0] + (terms[1] / rootN) + (terms[2] / n) + (terms[3] / (n * rootN));
    }

    // Hⁿ by repeated squaring, with a power-of-two exponent that keeps the (k, k) entry of the squares in range.
    private static (double[,] Power, int Exponent) Power(double[,] matrix, int n, int watch)
    {
        var m = matrix.GetLength(0);
        var result = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            result[i, i] = 1;
        }

        int exponent = 0, matrixExponent = 0;
        var square = matrix;
        for (var remaining = n; remaining > 0; remaining /= 2)
        {
            if (remaining % 2 == 1)
            {
                result = Multiply(result, square);
                exponent += matrixExponent;
            }

            square = Multiply(square, square);
            matrixExponent *= 2;
            if (Math.Abs(square[watch, watch]) > Big)
            {
                for (var i = 0; i < m; i++)
                {
                    for (var j = 0; j < m; j++)
                    {
                        square[i, j] /= Big;
                    }
                }

                matrixExponent += ScaleExponent;
            }
        }

        return (result, exponent);
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        var m = a.GetLength(0);
        var product = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            for (var l = 0; l < m; l++)
            {
                var ail = a[i, l];
                if (ail == 0)
                {
                    continue;
                }

                for (var j = 0; j < m; j++)
                {
                    product[i, j] += ail * b[l, j];
                }
            }
        }

        return product;
    }

    // n!/nⁿ · yⁿ as a running product (n ≤ 140, where it cannot underflow before the end).
    private static double Product(long n, double y)
    {
        var product = 1.0;
        for (long i = 1; i <= n; i++)
        {
            product *= i * (1.0 / n) * y;
        }

        return product;
    }

    // log(n!/nⁿ) by Stirling's series with n log n taken out first, so nothing cancels.
    private static double LogFactorialOverPower(long n)
    {
        double rn = 1.0 / n, rn2 = rn * rn;
        var series = rn * (1.0 / 12 - (rn2 * (1.0 / 360 - (rn2 * (1.0 / 1260 - (rn2 * (1.0 / 1680)))))));
        return (Math.Log(n) / 2) - n + (Math.Log(2 * Math.PI) / 2) + series;
    }

    private static double Clip(double p) => Math.Clamp(p, 0, 1);
}

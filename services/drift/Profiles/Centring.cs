namespace ModelOps.Drift.Profiles;

/// <summary>
/// Where a numeric column's values are centred and how they are scaled before a relative-error histogram buckets them
/// beyond the exact cap: z = (x − <paramref name="Centre"/>) / <paramref name="Scale"/>. A bucket of a
/// <see cref="LogHistogram"/> of accuracy <see cref="HistogramAccuracy"/> is about 0.4% of |z| wide, so centred on the
/// column's median and scaled by its spread the buckets are narrow where the values are, whatever the column's
/// location and magnitude — around 300 with a spread of 3, around 1e-100 or 1e+100 — where on the raw values they
/// would be about 1% of |x| wide, a σ at N(300, 3), and every magnitude below <see cref="LogHistogram.ZeroThreshold"/>
/// would be zero. Windows are centred as their reference is, so
/// their histograms share one grid with it and merge exactly across replicas.
/// </summary>
/// <param name="Centre">Subtracted from each value: the median of the values the centring was chosen from.</param>
/// <param name="Scale">Each difference is divided by it: their interquartile range / 1.349 (σ for a normal column), positive.</param>
public readonly record struct Centring(double Centre, double Scale)
{
    /// <summary>
    /// Relative accuracy of the centred histogram's grid: finer than the raw grid's, since the bound on a KS statistic
    /// is about 2α·max f(x)|x − centre| (0.001 for a normal column, 0.003 for a Pareto tail at its minimum).
    /// </summary>
    public const double HistogramAccuracy = 0.002;

    /// <summary>The centred value of <paramref name="value"/> (beyond ±double.MaxValue: ±double.MaxValue).</summary>
    public double Apply(double value)
    {
        var z = (value - Centre) / Scale;
        return double.IsFinite(z) ? z : Math.CopySign(double.MaxValue, z);
    }

    /// <summary>The value whose centred value is <paramref name="z"/>.</summary>
    public double Invert(double z) => Centre + (z * Scale);

    /// <summary>
    /// The centring of a column from its <paramref name="count"/> values, given by their rank (0-based, ascending): the
    /// median, and the interquartile range / 1.349 as the scale — robust where a mean and a standard deviation are not
    /// (a heavy tail moves the mean far from where the values are). Where more than half the values are equal the IQR is 0, and the
    /// scale is then <paramref name="standardDeviation"/>, else |median|, else 1. Null for an empty sample.
    /// </summary>
    public static Centring? Of(long count, Func<long, double> valueAtRank, double standardDeviation)
    {
        if (count == 0)
        {
            return null;
        }

        // The values of rank ⌊q (n − 1)⌋: values of the sample, so the centre is one of the column's own values.
        double Quantile(double q) => valueAtRank((long)Math.Floor(q * (count - 1)));
        var median = Quantile(0.5);
        var spread = (Quantile(0.75) - Quantile(0.25)) / 1.349;
        var scale = spread > 0 && double.IsFinite(spread) ? spread
            : standardDeviation > 0 && double.IsFinite(standardDeviation) ? standardDeviation
            : median != 0 ? Math.Abs(median)
            : 1;
        return new Centring(median, scale);
    }
}

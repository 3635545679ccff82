namespace ModelOps.Drift.Profiles;

/// <summary>
/// A mergeable histogram of real values on a logarithmic grid (the bucket mapping of DDSketch, Masson, Rim and Lee,
/// VLDB 2019): a value x ≠ 0 falls in bucket ⌈log_γ |x|⌉ of its sign, γ = (1 + α)/(1 − α), and |x| below
/// <see cref="ZeroThreshold"/> counts as zero. Every value of a bucket lies within relative distance α of the bucket's
/// representative, so quantiles are accurate to relative error α; counts per bucket are integers, so merging
/// histograms (windows from several replicas or shards) is exact and independent of order, and the empirical CDF is
/// exact at every bucket boundary. Written here because no library the project uses offers a mergeable sketch.
/// </summary>
public sealed class LogHistogram
{
    /// <summary>Relative accuracy of the grid.</summary>
    public const double Alpha = 0.005;

    /// <summary>Magnitudes below this count as zero.</summary>
    public const double ZeroThreshold = 1e-12;

    private static readonly double Gamma = (1 + Alpha) / (1 - Alpha);
    private static readonly double LogGamma = Math.Log(Gamma);

    private readonly SortedDictionary<int, long> _positive = [];
    private readonly SortedDictionary<int, long> _negative = [];

    /// <summary>Values counted.</summary>
    public long Count { get; private set; }

    /// <summary>Values counted as zero.</summary>
    public long Zeros { get; private set; }

    /// <summary>Buckets in use (the sketch's size).</summary>
    public int BucketCount => _positive.Count + _negative.Count + (Zeros > 0 ? 1 : 0);

    /// <summary>Counts a finite value (the caller counts NaN and infinities as missing).</summary>
    public void Add(double value, long count = 1)
    {
        Count += count;
        if (Math.Abs(value) < ZeroThreshold)
        {
            Zeros += count;
            return;
        }

        var buckets = value > 0 ? _positive : _negative;
        var index = Index(Math.Abs(value));
        buckets[index] = buckets.GetValueOrDefault(index) + count;
    }

    /// <summary>Adds every count of <paramref name="other"/>: the histogram of both samples together.</summary>
    public void Merge(LogHistogram other)
    {
        Count += other.Count;
        Zeros += other.Zeros;
        foreach (var (index, count) in other._positive)
        {
            _positive[index] = _positive.GetValueOrDefault(index) + count;
        }

        foreach (var (index, count) in other._negative)
        {
            _negative[index] = _negative.GetValueOrDefault(index) + count;
        }
    }

    /// <summary>
    /// The buckets in ascending order of value: each bucket's upper boundary (values at most it) and its count. Zero
    /// is a bucket whose boundary is +<see cref="ZeroThreshold"/>.
    /// </summary>
    public IEnumerable<(double UpperBound, long Count)> Buckets()
    {
        foreach (var (index, count) in _negative.Reverse())
        {
            // Negative bucket i holds -γ^i ≤ x < -γ^(i-1).
            yield return (-Math.Pow(Gamma, index - 1), count);
        }

        if (Zeros > 0)
        {
            yield return (ZeroThreshold, Zeros);
        }

        foreach (var (index, count) in _positive)
        {
            yield return (Math.Pow(Gamma, index), count);
        }
    }

    /// <summary>The value at quantile <paramref name="q"/> in [0, 1], within relative error <see cref="Alpha"/>.</summary>
    public double Quantile(double q)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        var rank = (long)Math.Floor(Math.Clamp(q, 0, 1) * (Count - 1));
        long seen = 0;
        foreach (var (index, count) in _negative.Reverse())
        {
            seen += count;
            if (seen > rank)
            {
                return -Representative(index);
            }
        }

        seen += Zeros;
        if (seen > rank)
        {
            return 0;
        }

        foreach (var (index, count) in _positive)
        {
            seen += count;
            if (seen > rank)
            {
                return Representative(index);
            }
        }

        return Representative(_positive.Keys.Last());
    }

    /// <summary>The boundary of the bucket that holds <paramref name="value"/>: where an empirical CDF step is exact.</summary>
    public static double UpperBoundOf(double value) => Math.Abs(value) < ZeroThreshold
        ? ZeroThreshold
        : value > 0 ? Math.Pow(Gamma, Index(value)) : -Math.Pow(Gamma, Index(-value) - 1);

    private static int Index(double magnitude) => (int)Math.Ceiling(Math.Log(magnitude) / LogGamma);

    // The point of bucket i (γ^(i−1), γ^i] whose relative distance to both ends is α.
    private static double Representative(int index) => 2 * Math.Pow(Gamma, index) / (Gamma + 1);
}

namespace ModelOps.Drift.Profiles;

/// <summary>
/// A mergeable histogram of real values on a logarithmic grid (the bucket mapping of DDSketch, Masson, Rim and Lee,
/// VLDB 2019): a value x ≠ 0 falls in bucket ⌈log_γ |x|⌉ of its sign, γ = (1 + α)/(1 − α), and |x| below
/// <see cref="ZeroThreshold"/> counts as zero. Every value of a bucket lies within relative distance α of the bucket's
/// representative, so quantiles are accurate to relative error α; counts per bucket are integers, so merging
/// histograms (windows from several replicas or shards) is exact and independent of order, and the empirical CDF is
/// exact at every bucket boundary. Written here because no library the project uses offers a mergeable sketch.
/// </summary>
/// <param name="alpha">Relative accuracy of the grid: <see cref="Alpha"/> unless given (histograms merge and compare only on one grid).</param>
public sealed class LogHistogram(double alpha = LogHistogram.Alpha)
{
    /// <summary>Relative accuracy of the default grid.</summary>
    public const double Alpha = 0.005;

    /// <summary>Magnitudes below this count as zero.</summary>
    public const double ZeroThreshold = 1e-12;

    private readonly double _gamma = (1 + alpha) / (1 - alpha);
    private readonly double _logGamma = Math.Log((1 + alpha) / (1 - alpha));

    /// <summary>Relative accuracy of this histogram's grid.</summary>
    public double Accuracy { get; } = alpha;

    private readonly DenseCounts _positive = new();
    private readonly DenseCounts _negative = new();

    /// <summary>Values counted.</summary>
    public long Count { get; private set; }

    /// <summary>Values counted as zero.</summary>
    public long Zeros { get; private set; }

    /// <summary>Buckets in use (the sketch's size).</summary>
    public int BucketCount => _positive.Used + _negative.Used + (Zeros > 0 ? 1 : 0);

    /// <summary>Counts a finite value (the caller counts NaN and infinities as missing).</summary>
    public void Add(double value, long count = 1)
    {
        Count += count;
        if (Math.Abs(value) < ZeroThreshold)
        {
            Zeros += count;
            return;
        }

        (value > 0 ? _positive : _negative).Add(Index(Math.Abs(value)), count);
    }

    /// <summary>The nonzero buckets of one sign by index (for storing a histogram).</summary>
    internal IEnumerable<(int Index, long Count)> Indexed(bool positive) => (positive ? _positive : _negative).Ascending();

    /// <summary>Adds a stored bucket's count (for reading a histogram back).</summary>
    internal void AddBucket(bool positive, int index, long count)
    {
        Count += count;
        (positive ? _positive : _negative).Add(index, count);
    }

    /// <summary>Adds stored zeros (for reading a histogram back).</summary>
    internal void AddZeros(long count)
    {
        Count += count;
        Zeros += count;
    }

    /// <summary>Adds every count of <paramref name="other"/>: the histogram of both samples together.</summary>
    public void Merge(LogHistogram other)
    {
        if (other.Accuracy != Accuracy)
        {
            throw new ArgumentException($"A histogram of accuracy {other.Accuracy} cannot merge into one of {Accuracy}.", nameof(other));
        }

        Count += other.Count;
        Zeros += other.Zeros;
        foreach (var (index, count) in other._positive.Ascending())
        {
            _positive.Add(index, count);
        }

        foreach (var (index, count) in other._negative.Ascending())
        {
            _negative.Add(index, count);
        }
    }

    /// <summary>
    /// The buckets in ascending order of value: each bucket's upper boundary (values at most it) and its count. Zero
    /// is a bucket whose boundary is +<see cref="ZeroThreshold"/>.
    /// </summary>
    public IEnumerable<(double UpperBound, long Count)> Buckets()
    {
        foreach (var (index, count) in _negative.Descending())
        {
            // Negative bucket i holds -γ^i ≤ x < -γ^(i-1).
            yield return (-Math.Pow(_gamma, index - 1), count);
        }

        if (Zeros > 0)
        {
            yield return (ZeroThreshold, Zeros);
        }

        foreach (var (index, count) in _positive.Ascending())
        {
            yield return (Math.Pow(_gamma, index), count);
        }
    }

    /// <summary>
    /// The mean width of the buckets the values lie in (the zero bucket 2·<see cref="ZeroThreshold"/> wide): the most a
    /// value moves, on average, when it is taken for its bucket's boundary — what bounds a distance computed from the
    /// histogram against the values'. 0 when empty.
    /// </summary>
    public double MeanBucketWidth()
    {
        if (Count == 0)
        {
            return 0;
        }

        var total = 2 * ZeroThreshold * Zeros;
        foreach (var (index, count) in _positive.Ascending().Concat(_negative.Ascending()))
        {
            total += count * (Math.Pow(_gamma, index) - Math.Pow(_gamma, index - 1));
        }

        return total / Count;
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
        foreach (var (index, count) in _negative.Descending())
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

        foreach (var (index, count) in _positive.Ascending())
        {
            seen += count;
            if (seen > rank)
            {
                return Representative(index);
            }
        }

        return Representative(_positive.Ascending().Last().Index);
    }

    /// <summary>The boundary of the bucket that holds <paramref name="value"/>: where an empirical CDF step is exact.</summary>
    public double UpperBoundOf(double value) => Math.Abs(value) < ZeroThreshold
        ? ZeroThreshold
        : value > 0 ? Math.Pow(_gamma, Index(value)) : -Math.Pow(_gamma, Index(-value) - 1);

    private int Index(double magnitude) => (int)Math.Ceiling(Math.Log(magnitude) / _logGamma);

    // The point of bucket i (γ^(i−1), γ^i] whose relative distance to both ends is α.
    private double Representative(int index) => 2 * Math.Pow(_gamma, index) / (_gamma + 1);

    // Counts of consecutive bucket indexes in one array that grows at either end: a bucket update is an array
    // increment, where a sorted map would cost a tree walk per value.
    private sealed class DenseCounts
    {
        private long[] _counts = [];
        private int _offset;

        public int Used { get; private set; }

        public void Add(int index, long count)
        {
            if (_counts.Length == 0)
            {
                _counts = new long[64];
                _offset = index - 32;
            }

            var slot = index - _offset;
            if (slot < 0 || slot >= _counts.Length)
            {
                Grow(index);
                slot = index - _offset;
            }

            if (_counts[slot] == 0)
            {
                Used++;
            }

            _counts[slot] += count;
        }

        public IEnumerable<(int Index, long Count)> Ascending()
        {
            for (var slot = 0; slot < _counts.Length; slot++)
            {
                if (_counts[slot] != 0)
                {
                    yield return (slot + _offset, _counts[slot]);
                }
            }
        }

        public IEnumerable<(int Index, long Count)> Descending()
        {
            for (var slot = _counts.Length - 1; slot >= 0; slot--)
            {
                if (_counts[slot] != 0)
                {
                    yield return (slot + _offset, _counts[slot]);
                }
            }
        }

        private void Grow(int index)
        {
            var low = Math.Min(_offset, index);
            var high = Math.Max(_offset + _counts.Length - 1, index);
            var size = Math.Max((high - low + 1) * 2, 64);
            var offset = low - ((size - (high - low + 1)) / 2);
            var counts = new long[size];
            Array.Copy(_counts, 0, counts, _offset - offset, _counts.Length);
            _counts = counts;
            _offset = offset;
        }
    }
}

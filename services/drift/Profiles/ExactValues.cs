using System.Buffers;
using ModelOps.Drift.Statistics;

namespace ModelOps.Drift.Profiles;

/// <summary>
/// A column's distinct values with their counts, kept as two sorted arrays. New values are appended to a buffer (one
/// array store each on the ingestion path), merged sets to a second one, and both are sorted into the arrays only when
/// the values are read, or when there may be more distinct values than the cap and the buffers have grown as large as
/// the arrays: so a sample that never passes the cap is sorted once, and each value costs O(log n) overall.
/// </summary>
internal sealed class ExactValues
{
    private const int MinimumBuffer = 1024;

    private double[] _values = [];
    private long[] _counts = [];
    private int _distinct;
    private double[] _singles = [];
    private int _singleCount;
    private double[] _mergedValues = [];
    private long[] _mergedCounts = [];
    private int _mergedCount;

    /// <summary>Distinct values (sorting the buffers in first).</summary>
    public int Distinct
    {
        get
        {
            Compact();
            return _distinct;
        }
    }

    // At least as many entries as there are distinct values.
    private long UpperBound => (long)_distinct + _singleCount + _mergedCount;

    /// <summary>
    /// Counts a finite value (−0 as +0); returns false, without counting it, once more than <paramref name="cap"/>
    /// distinct values have been seen (found when the buffers are sorted in): the caller then reads the set out
    /// (<see cref="Sample"/>) and drops it (<see cref="Release"/>).
    /// </summary>
    public bool Add(double value, int cap)
    {
        if (_singleCount == _singles.Length)
        {
            if (UpperBound > cap && _singleCount + _mergedCount >= Math.Max(MinimumBuffer, _distinct))
            {
                Compact();
                if (_distinct > cap)
                {
                    return false;
                }
            }

            if (_singleCount == _singles.Length)
            {
                Grow(ref _singles, _singleCount);
            }
        }

        _singles[_singleCount++] = value == 0 ? 0.0 : value;
        return true;
    }

    /// <summary>Adds <paramref name="values"/> (ascending, distinct), each as often as <paramref name="counts"/> says: a stored or merged set.</summary>
    public void AddSorted(IReadOnlyList<double> values, IReadOnlyList<long> counts)
    {
        if (_mergedCount + values.Count > _mergedValues.Length)
        {
            var size = Math.Max(MinimumBuffer, Math.Max(_mergedValues.Length * 2, _mergedCount + values.Count));
            Array.Resize(ref _mergedValues, size);
            Array.Resize(ref _mergedCounts, size);
        }

        for (var i = 0; i < values.Count; i++)
        {
            (_mergedValues[_mergedCount], _mergedCounts[_mergedCount]) = (values[i], counts[i]);
            _mergedCount++;
        }
    }

    /// <summary>Adds every value of <paramref name="other"/>; returns false, as <see cref="Add"/> does, once past <paramref name="cap"/> (with every value counted).</summary>
    public bool Merge(ExactValues other, int cap)
    {
        other.Compact();
        AddSorted(new ArraySegment<double>(other._values, 0, other._distinct), new ArraySegment<long>(other._counts, 0, other._distinct));
        if (UpperBound > cap && _singleCount + _mergedCount >= Math.Max(MinimumBuffer, _distinct))
        {
            Compact();
            if (_distinct > cap)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The values, ascending, with their counts (copies).</summary>
    public ExactSample Sample()
    {
        Compact();
        return new ExactSample(_values[.._distinct], _counts[.._distinct]);
    }

    /// <summary>Counts every value, centred by <paramref name="centring"/> when given, into <paramref name="histogram"/> (without copying the set).</summary>
    public void AddTo(LogHistogram histogram, Centring? centring)
    {
        Compact();
        for (var i = 0; i < _distinct; i++)
        {
            histogram.Add(centring is { } c ? c.Apply(_values[i]) : _values[i], _counts[i]);
        }
    }

    /// <summary>The centring chosen from these values (as <see cref="Profiles.Centring.Of(long, Func{long, double}, double)"/>), without copying the set.</summary>
    public Centring? Centring(double standardDeviation)
    {
        Compact();
        long total = 0;
        for (var i = 0; i < _distinct; i++)
        {
            total += _counts[i];
        }

        return Profiles.Centring.Of(total, rank => ExactComparison.ValueAtRank(_values.AsSpan(0, _distinct), _counts.AsSpan(0, _distinct), rank), standardDeviation);
    }

    /// <summary>How many values lie outside [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public long CountOutside(double min, double max)
    {
        Compact();
        long outside = 0;
        for (var i = 0; i < _distinct; i++)
        {
            outside += _values[i] < min || _values[i] > max ? _counts[i] : 0;
        }

        return outside;
    }

    /// <summary>Returns the buffers (the set is no longer used).</summary>
    public void Release()
    {
        if (_singles.Length > 0)
        {
            ArrayPool<double>.Shared.Return(_singles);
        }

        (_singles, _singleCount, _values, _counts, _distinct, _mergedValues, _mergedCounts, _mergedCount) = ([], 0, [], [], 0, [], [], 0);
    }

    // Sorts the buffers and merges them into the arrays, folding equal values.
    private void Compact()
    {
        if (_singleCount == 0 && _mergedCount == 0)
        {
            return;
        }

        RadixSort(_singles, _singleCount);
        Array.Sort(_mergedValues, _mergedCounts, 0, _mergedCount);
        var size = _distinct + _singleCount + _mergedCount;
        var values = new double[size];
        var counts = new long[size];
        int a = 0, b = 0, c = 0, k = 0;
        while (a < _distinct || b < _singleCount || c < _mergedCount)
        {
            // The smallest of the three heads, with the count each source holds of it.
            var next = Math.Min(a < _distinct ? _values[a] : double.PositiveInfinity,
                Math.Min(b < _singleCount ? _singles[b] : double.PositiveInfinity, c < _mergedCount ? _mergedValues[c] : double.PositiveInfinity));
            long count = 0;
            while (a < _distinct && _values[a] == next)
            {
                count += _counts[a++];
            }

            while (b < _singleCount && _singles[b] == next)
            {
                count++;
                b++;
            }

            while (c < _mergedCount && _mergedValues[c] == next)
            {
                count += _mergedCounts[c++];
            }

            (values[k], counts[k]) = (next, count);
            k++;
        }

        (_values, _counts, _distinct, _singleCount, _mergedCount) = (values, counts, k, 0, 0);
    }

    /// <summary>
    /// Sorts the first <paramref name="length"/> values (finite, no −0) ascending: a least-significant-digit radix sort
    /// on the IEEE bits mapped to unsigned order, 11 bits a pass, passes where every key has the same digit skipped.
    /// Written here because Array.Sort's comparison sort is what made ingesting a column several times slower, and no
    /// library in use sorts doubles by radix.
    /// </summary>
    internal static void RadixSort(double[] values, int length)
    {
        if (length < 512)
        {
            Array.Sort(values, 0, length);
            return;
        }

        const int bits = 11;
        const int buckets = 1 << bits;
        var keys = ArrayPool<ulong>.Shared.Rent(length);
        var scratch = ArrayPool<ulong>.Shared.Rent(length);
        try
        {
            for (var i = 0; i < length; i++)
            {
                var raw = (ulong)BitConverter.DoubleToInt64Bits(values[i]);
                keys[i] = (raw & SignBit) != 0 ? ~raw : raw | SignBit;
            }

            Span<int> offsets = stackalloc int[buckets];
            for (var shift = 0; shift < 64; shift += bits)
            {
                offsets.Clear();
                for (var i = 0; i < length; i++)
                {
                    offsets[(int)((keys[i] >> shift) & (buckets - 1))]++;
                }

                if (offsets[(int)((keys[0] >> shift) & (buckets - 1))] == length)
                {
                    continue;
                }

                var total = 0;
                for (var d = 0; d < buckets; d++)
                {
                    (offsets[d], total) = (total, total + offsets[d]);
                }

                for (var i = 0; i < length; i++)
                {
                    scratch[offsets[(int)((keys[i] >> shift) & (buckets - 1))]++] = keys[i];
                }

                (keys, scratch) = (scratch, keys);
            }

            for (var i = 0; i < length; i++)
            {
                var key = keys[i];
                values[i] = BitConverter.Int64BitsToDouble((long)((key & SignBit) != 0 ? key & ~SignBit : ~key));
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(keys);
            ArrayPool<ulong>.Shared.Return(scratch);
        }
    }

    private const ulong SignBit = 0x8000_0000_0000_0000UL;

    private static void Grow(ref double[] buffer, int used)
    {
        var larger = ArrayPool<double>.Shared.Rent(Math.Max(64, buffer.Length * 2));
        Array.Copy(buffer, larger, used);
        if (buffer.Length > 0)
        {
            ArrayPool<double>.Shared.Return(buffer);
        }

        buffer = larger;
    }
}

namespace ModelOps.Drift.Profiles;

/// <summary>How a column's values are compared.</summary>
public enum ColumnKind
{
    /// <summary>Real numbers.</summary>
    Numeric,

    /// <summary>Labels from a set.</summary>
    Categorical,

    /// <summary>True or false (a categorical column with two labels).</summary>
    Boolean,
}

/// <summary>
/// What is kept of one column of a dataset or window instead of its rows: counts of missing values, moments, range,
/// and the distribution — a <see cref="LogHistogram"/> for numbers, counts per label otherwise. While a numeric
/// column has at most <see cref="ExactCap"/> distinct values, the values themselves are kept too (value → count), so
/// that its statistics are those of the rows, not of the sketch. Two profiles of the same column merge into the
/// profile of both samples: exactly for counts, range, exact values and histograms; the moments by Chan's parallel
/// formulas (exact up to floating-point rounding).
/// </summary>
public sealed class ColumnProfile(string name, ColumnKind kind, int exactCap = ColumnProfile.ExactCap)
{
    /// <summary>
    /// Most distinct numeric values kept exactly (value → count, so discrete columns stay exact whatever their size);
    /// beyond it only the histogram is kept, and the statistics carry its error bound.
    /// </summary>
    public const int ExactCap = 100_000;

    private ExactValues? _exact = kind == ColumnKind.Numeric && exactCap > 0 ? new() : null;

    /// <summary>Most distinct values this profile keeps exactly (<see cref="ExactCap"/> unless configured lower; 0: none).</summary>
    public int Cap { get; } = Math.Clamp(exactCap, 0, ExactCap);

    /// <summary>Most distinct labels a categorical profile keeps; further ones are counted under <see cref="OtherLabel"/>.</summary>
    public const int MaxLabels = 10_000;

    /// <summary>Longest label accepted, in UTF-16 code units: what is ingested is refused beyond it.</summary>
    public const int MaxLabelLength = 200;

    /// <summary>Where labels beyond <see cref="MaxLabels"/> are counted.</summary>
    public const string OtherLabel = "__other__";

    /// <summary>The column.</summary>
    public string Name { get; } = name;

    /// <summary>Its kind.</summary>
    public ColumnKind Kind { get; } = kind;

    /// <summary>Values present.</summary>
    public long Count { get; private set; }

    /// <summary>Values missing: null, NaN, ±∞ or empty.</summary>
    public long Missing { get; private set; }

    /// <summary>Values of the wrong type (text in a numeric column), counted apart from missing ones.</summary>
    public long TypeViolations { get; private set; }

    /// <summary>Smallest numeric value (+∞ while none).</summary>
    public double Min { get; private set; } = double.PositiveInfinity;

    /// <summary>Largest numeric value (−∞ while none).</summary>
    public double Max { get; private set; } = double.NegativeInfinity;

    /// <summary>Mean of the numeric values.</summary>
    public double Mean { get; private set; }

    /// <summary>Sum of squared deviations from the mean (Welford's M2).</summary>
    public double SquaredDeviations { get; private set; }

    /// <summary>Population standard deviation of the numeric values (0 for fewer than two).</summary>
    public double StandardDeviation => Count > 1 ? Math.Sqrt(SquaredDeviations / Count) : 0;

    /// <summary>The numeric distribution.</summary>
    public LogHistogram Histogram { get; } = new();

    /// <summary>Counts per label (categorical and boolean columns).</summary>
    public Dictionary<string, long> Labels { get; } = new(StringComparer.Ordinal);

    /// <summary>Counts a number; NaN and infinities count as missing.</summary>
    public void AddNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            Missing++;
            return;
        }

        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        SquaredDeviations += delta * (value - Mean);
        Min = Math.Min(Min, value);
        Max = Math.Max(Max, value);
        Histogram.Add(value);
        if (_exact is not null && !_exact.Add(value, Cap))
        {
            _exact = null;
        }
    }

    /// <summary>Whether the numeric values are kept exactly (at most <see cref="Cap"/> distinct ones, in every part merged).</summary>
    public bool IsExact
    {
        get
        {
            // The cap is checked when buffered values are sorted in: a set that passed it is dropped here.
            if (_exact is not null && _exact.Distinct > Cap)
            {
                _exact.Release();
                _exact = null;
            }

            return _exact is not null;
        }
    }

    /// <summary>The distinct numeric values in ascending order with their counts, when <see cref="IsExact"/>; else empty.</summary>
    public Statistics.ExactSample ExactValues() => IsExact ? _exact!.Sample() : new([], []);

    /// <summary>How many values lie outside [<paramref name="min"/>, <paramref name="max"/>], when <see cref="IsExact"/>; else null.</summary>
    public long? CountOutside(double min, double max) => IsExact ? _exact!.CountOutside(min, max) : null;

    /// <summary>Restores stored exact values (<paramref name="exact"/> false: the stored profile had passed the cap).</summary>
    internal void RestoreExact(bool exact, IReadOnlyList<double> values, IReadOnlyList<long> counts)
    {
        if (Kind != ColumnKind.Numeric)
        {
            return;
        }

        if (!exact)
        {
            _exact = null;
            return;
        }

        _exact = new ExactValues();
        _exact.AddSorted(values, counts);
    }

    /// <summary>Counts a label; null or empty counts as missing.</summary>
    public void AddLabel(string? label)
    {
        if (string.IsNullOrEmpty(label))
        {
            Missing++;
            return;
        }

        Count++;
        if (!Labels.ContainsKey(label) && Labels.Count >= MaxLabels)
        {
            label = OtherLabel;
        }

        Labels[label] = Labels.GetValueOrDefault(label) + 1;
    }

    /// <summary>Counts a missing value.</summary>
    public void AddMissing() => Missing++;

    /// <summary>Counts a value of the wrong type.</summary>
    public void AddTypeViolation() => TypeViolations++;

    /// <summary>Turns the last value counted as missing into a type violation.</summary>
    internal void ReclassifyMissingAsTypeViolation()
    {
        Missing--;
        TypeViolations++;
    }

    /// <summary>Sets the moments and counters of a stored profile (its histogram and labels are added separately).</summary>
    internal void Restore(long count, long missing, long typeViolations, double min, double max, double mean, double squaredDeviations)
    {
        (Count, Missing, TypeViolations, Min, Max, Mean, SquaredDeviations) = (count, missing, typeViolations, min, max, mean, squaredDeviations);
    }

    /// <summary>Adds <paramref name="other"/>, a profile of the same column over other rows.</summary>
    public void Merge(ColumnProfile other)
    {
        if (other.Name != Name || other.Kind != Kind)
        {
            throw new ArgumentException($"Cannot merge column {other.Name} ({other.Kind}) into {Name} ({Kind}).", nameof(other));
        }

        if (other.Count > 0 && Kind == ColumnKind.Numeric)
        {
            var total = Count + other.Count;
            var delta = other.Mean - Mean;
            SquaredDeviations += other.SquaredDeviations + (delta * delta * Count * other.Count / total);
            Mean += delta * other.Count / total;
            Min = Math.Min(Min, other.Min);
            Max = Math.Max(Max, other.Max);
            Histogram.Merge(other.Histogram);
            MergeExact(other._exact);
        }

        foreach (var (label, count) in other.Labels)
        {
            var key = Labels.ContainsKey(label) || Labels.Count < MaxLabels ? label : OtherLabel;
            Labels[key] = Labels.GetValueOrDefault(key) + count;
        }

        Count += other.Count;
        Missing += other.Missing;
        TypeViolations += other.TypeViolations;
    }

    private void MergeExact(ExactValues? other)
    {
        if (_exact is null || other is null)
        {
            _exact?.Release();
            _exact = null;
            return;
        }

        if (!_exact.Merge(other, Cap))
        {
            _exact = null;
        }
    }
}

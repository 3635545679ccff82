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
/// and the distribution — a <see cref="LogHistogram"/> for numbers, counts per label otherwise. Two profiles of the
/// same column merge into the profile of both samples: exactly for counts, range and histograms; the moments by
/// Chan's parallel formulas (exact up to floating-point rounding).
/// </summary>
public sealed class ColumnProfile(string name, ColumnKind kind)
{
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
}

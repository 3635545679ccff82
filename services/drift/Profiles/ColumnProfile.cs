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
/// that its statistics are those of the rows, not of the sketch. Past the cap they go into a second histogram of the
/// values centred and scaled (<see cref="Centring"/>: the reference's, for a window; else chosen from the values held
/// when the cap was passed), whose buckets are narrow where the values are, whatever the column's location and scale.
/// Two profiles of the same column merge into the profile of both samples: exactly for counts, range, exact values
/// and histograms (centred ones when both are centred alike); the moments by Chan's parallel formulas (exact up to
/// floating-point rounding).
/// </summary>
public sealed class ColumnProfile(string name, ColumnKind kind, int exactCap = ColumnProfile.ExactCap, Centring? centring = null)
{
    /// <summary>
    /// Most distinct numeric values kept exactly (value → count, so discrete columns stay exact whatever their size);
    /// beyond it only the histogram is kept, and the statistics carry its error bound.
    /// </summary>
    public const int ExactCap = 100_000;

    private ExactValues? _exact = kind == ColumnKind.Numeric && exactCap > 0 ? new() : null;

    // Without exact values from the start, the values go straight into the centred histogram (when the centring is known).
    private LogHistogram? _centred = kind == ColumnKind.Numeric && exactCap <= 0 && centring is not null ? new(Profiles.Centring.HistogramAccuracy) : null;

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

    // The histogram of the raw values, kept only once they are no longer exact (spilled into it then); while they are,
    // it is bucketed from them when asked for, so ingesting a value into an exact profile costs no logarithm.
    private readonly LogHistogram _histogram = new();
    private LogHistogram? _fromExact;

    /// <summary>The numeric distribution on the raw values' grid.</summary>
    public LogHistogram Histogram
    {
        get
        {
            if (!IsExact)
            {
                return _histogram;
            }

            if (_fromExact is null)
            {
                _fromExact = new LogHistogram();
                _exact!.AddTo(_fromExact, null);
            }

            return _fromExact;
        }
    }

    private Centring? _centring = kind == ColumnKind.Numeric ? centring : null;

    /// <summary>How the values are centred and scaled for <see cref="CentredHistogram"/>: given (a window takes its reference's), or chosen when the cap was passed.</summary>
    public Centring? Centring
    {
        get
        {
            _ = IsExact; // a set found past the cap only now is spilled first, which may choose the centring
            return _centring;
        }
    }

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
        if (_exact is not null)
        {
            if (_exact.Add(value, Cap))
            {
                _fromExact = null;
                return;
            }

            Spill(); // the value was not counted in the set that passed the cap: it is counted below
        }

        _histogram.Add(value);
        _centred?.Add(_centring!.Value.Apply(value));
    }

    /// <summary>Whether the numeric values are kept exactly (at most <see cref="Cap"/> distinct ones, in every part merged).</summary>
    public bool IsExact
    {
        get
        {
            // The cap is checked when buffered values are sorted in: a set that passed it is spilled here.
            if (_exact is not null && _exact.Distinct > Cap)
            {
                Spill();
            }

            return _exact is not null;
        }
    }

    /// <summary>The distinct numeric values in ascending order with their counts, when <see cref="IsExact"/>; else empty.</summary>
    public Statistics.ExactSample ExactValues() => IsExact ? _exact!.Sample() : new([], []);

    /// <summary>How many values lie outside [<paramref name="min"/>, <paramref name="max"/>], when <see cref="IsExact"/>; else null.</summary>
    public long? CountOutside(double min, double max) => IsExact ? _exact!.CountOutside(min, max) : null;

    /// <summary>
    /// The histogram of the values centred by <paramref name="centring"/>: bucketed from the exact values while they
    /// are kept, the centred histogram when it was centred alike; else null (only <see cref="Histogram"/> is left).
    /// </summary>
    public LogHistogram? CentredHistogram(Centring centring)
    {
        if (IsExact)
        {
            var histogram = new LogHistogram(Profiles.Centring.HistogramAccuracy);
            _exact!.AddTo(histogram, centring);
            return histogram;
        }

        return _centring == centring ? _centred : null;
    }

    /// <summary>
    /// The centring windows compared with this profile (a reference) are built with: its own once it passed the cap;
    /// while it keeps its values exactly, chosen from them; null without either (a cap of 0 and no centring given).
    /// </summary>
    public Centring? CentringForWindows() => Kind == ColumnKind.Numeric && IsExact ? _centring ?? _exact!.Centring(StandardDeviation) : _centring;

    /// <summary>Restores a stored centring and centred histogram (null: none was stored).</summary>
    internal void RestoreCentred(Centring? centring, LogHistogram? centred)
    {
        if (Kind != ColumnKind.Numeric)
        {
            return;
        }

        _centring = centring;
        _centred = _exact is null && centring is not null ? centred : null;
    }

    /// <summary>The centred histogram as stored (null while the values are exact, or when it was lost to a merge of profiles centred differently).</summary>
    internal LogHistogram? Centred => _exact is null ? _centred : null;

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
        _fromExact = null;
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

        var numeric = other.Count > 0 && Kind == ColumnKind.Numeric;
        if (numeric)
        {
            var total = Count + other.Count;
            var delta = other.Mean - Mean;
            SquaredDeviations += other.SquaredDeviations + (delta * delta * Count * other.Count / total);
            Mean += delta * other.Count / total;
            Min = Math.Min(Min, other.Min);
            Max = Math.Max(Max, other.Max);
        }

        foreach (var (label, count) in other.Labels)
        {
            var key = Labels.ContainsKey(label) || Labels.Count < MaxLabels ? label : OtherLabel;
            Labels[key] = Labels.GetValueOrDefault(key) + count;
        }

        Count += other.Count;
        Missing += other.Missing;
        TypeViolations += other.TypeViolations;
        if (numeric)
        {
            MergeValues(other);
        }
    }

    // Exact values merge while both sides keep them (spilled past the cap); otherwise the plain histograms merge, and
    // the centred ones — a side still exact bucketed first — when both are centred alike; else only the plain one is left.
    private void MergeValues(ColumnProfile other)
    {
        if (_exact is not null && other._exact is not null)
        {
            _fromExact = null;
            if (!_exact.Merge(other._exact, Cap))
            {
                Spill();
            }

            return;
        }

        var centring = _centring ?? other._centring;
        var lost = centring is not { } shared
            || (_centring is { } mine && mine != shared)
            || (other._centring is { } theirs && theirs != shared)
            || (_exact is null && _centred is null)
            || (other._exact is null && other._centred is null);
        if (!lost)
        {
            _centring = centring;
        }

        if (_exact is not null)
        {
            Spill();
        }

        _histogram.Merge(other.Histogram);
        if (lost)
        {
            _centred = null;
        }
        else if (other._exact is not null)
        {
            // Both centred alike now (a spill with a centring always leaves a centred histogram).
            other._exact.AddTo(_centred!, centring!.Value);
        }
        else
        {
            _centred!.Merge(other._centred!);
        }
    }

    // The exact set passed the cap (or meets a profile that did): its values go into the plain histogram and the centred
    // one, centred as given, else by the values themselves, and the set is dropped.
    private void Spill()
    {
        _exact!.AddTo(_histogram, null);
        _centring ??= _exact.Centring(StandardDeviation);
        _centred = null;
        if (_centring is { } centring)
        {
            _centred = new LogHistogram(Profiles.Centring.HistogramAccuracy);
            _exact.AddTo(_centred, centring);
        }

        _exact.Release();
        (_exact, _fromExact) = (null, null);
    }
}

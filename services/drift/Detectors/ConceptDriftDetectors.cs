namespace ModelOps.Drift.Detectors;

/// <summary>What a concept-drift detector concludes after a value.</summary>
public enum DetectorState
{
    /// <summary>No evidence of change.</summary>
    Stable,

    /// <summary>Evidence is building (DDM's warning level): the start of a new concept may lie here.</summary>
    Warning,

    /// <summary>The stream changed; the detector has started over on the new concept.</summary>
    Drift,
}

/// <summary>
/// A detector of change in a stream of per-prediction errors (1 wrong / 0 right, or a loss). None of these is in
/// MathNet or Microsoft.ML, so they are written here from their papers, with the defaults their authors and the river
/// library use.
/// </summary>
public interface IConceptDriftDetector
{
    /// <summary>Feeds one value; says whether the stream has changed.</summary>
    DetectorState Update(double value);

    /// <summary>The detector's state as numbers, so it can be stored and resumed (<see cref="Restore"/>) by any replica.</summary>
    double[] Save();

    /// <summary>Resumes the state <see cref="Save"/> gave.</summary>
    void Restore(double[] state);
}

/// <summary>
/// DDM (Gama, Medas, Castillo, Rodrigues 2004) as river's <c>drift.binary.DDM</c>: tracks the error rate p and its
/// standard deviation s = √(p(1−p)/n); once more than <see cref="MinimumSamples"/> values have been seen (river's
/// <c>warm_start</c>: the test runs when n &gt; 30), warns when p + s exceeds the lowest p + s seen by
/// <see cref="WarningLevel"/>·s_min and signals drift at <see cref="DriftLevel"/>·s_min, then starts over.
/// </summary>
public sealed class Ddm(int minimumSamples = 30, double warningLevel = 2.0, double driftLevel = 3.0) : IConceptDriftDetector
{
    private long _n;
    private double _p;
    private double _pMin = double.MaxValue;
    private double _sMin = double.MaxValue;

    /// <summary>The test runs once more than this many values have been seen (river's <c>warm_start</c>).</summary>
    public int MinimumSamples { get; } = minimumSamples;

    /// <summary>Warning threshold in standard deviations.</summary>
    public double WarningLevel { get; } = warningLevel;

    /// <summary>Drift threshold in standard deviations.</summary>
    public double DriftLevel { get; } = driftLevel;

    /// <inheritdoc />
    public DetectorState Update(double value)
    {
        _n++;
        _p += (value - _p) / _n;
        var s = Math.Sqrt(_p * (1 - _p) / _n);
        if (_n <= MinimumSamples)
        {
            return DetectorState.Stable;
        }

        if (_p + s <= _pMin + _sMin)
        {
            _pMin = _p;
            _sMin = s;
        }

        if (_p + s > _pMin + (DriftLevel * _sMin))
        {
            Reset();
            return DetectorState.Drift;
        }

        return _p + s > _pMin + (WarningLevel * _sMin) ? DetectorState.Warning : DetectorState.Stable;
    }

    /// <inheritdoc />
    public double[] Save() => [_n, _p, _pMin, _sMin];

    /// <inheritdoc />
    public void Restore(double[] state) => (_n, _p, _pMin, _sMin) = ((long)state[0], state[1], state[2], state[3]);

    private void Reset()
    {
        _n = 0;
        _p = 0;
        _pMin = double.MaxValue;
        _sMin = double.MaxValue;
    }
}

/// <summary>Which changes of the mean a Page–Hinkley test watches.</summary>
public enum PageHinkleyMode
{
    /// <summary>Increases only: for an error stream, where a fall is good news and not worth a page.</summary>
    Up,

    /// <summary>Decreases only.</summary>
    Down,

    /// <summary>Both directions (river's default): for a monitored mean, where either way is a change.</summary>
    Both,
}

/// <summary>
/// The Page–Hinkley test (Page 1954) as river's <c>drift.PageHinkley</c>: the cumulative deviation from the running mean
/// with forgetting factor α, less (for increases) or plus (for decreases) a tolerated magnitude δ, against its extreme
/// so far; drift when the gap exceeds λ, once <c>minimumSamples</c> values have been seen, then it starts over.
/// Defaults δ = 0.005, λ = 50, α = 1 − 10⁻⁴, 30 values, both directions (river's); the drift service watches error
/// streams with <see cref="PageHinkleyMode.Up"/> (see <see cref="ConceptDriftDetectors.ForErrors"/>).
/// </summary>
public sealed class PageHinkley(
    int minimumSamples = 30, double delta = 0.005, double threshold = 50, double alpha = 1 - 0.0001, PageHinkleyMode mode = PageHinkleyMode.Both)
    : IConceptDriftDetector
{
    private long _n;
    private double _mean;
    private double _sumIncrease;
    private double _minIncrease = double.PositiveInfinity;
    private double _sumDecrease;
    // river starts the running maximum of the decrease sum at −1, not −∞; kept, since it decides early verdicts.
    private double _maxDecrease = -1;

    /// <summary>The directions watched.</summary>
    public PageHinkleyMode Mode { get; } = mode;

    /// <inheritdoc />
    public DetectorState Update(double value)
    {
        _n++;
        _mean += (value - _mean) / _n;
        var deviation = value - _mean;
        _sumIncrease = (alpha * _sumIncrease) + deviation - delta;
        _sumDecrease = (alpha * _sumDecrease) + deviation + delta;
        _minIncrease = Math.Min(_minIncrease, _sumIncrease);
        _maxDecrease = Math.Max(_maxDecrease, _sumDecrease);
        if (_n < minimumSamples)
        {
            return DetectorState.Stable;
        }

        var increased = _sumIncrease - _minIncrease > threshold;
        var decreased = _maxDecrease - _sumDecrease > threshold;
        if (Mode switch { PageHinkleyMode.Up => increased, PageHinkleyMode.Down => decreased, _ => increased || decreased })
        {
            Reset();
            return DetectorState.Drift;
        }

        return DetectorState.Stable;
    }

    /// <inheritdoc />
    public double[] Save() => [_n, _mean, _sumIncrease, _minIncrease, _sumDecrease, _maxDecrease];

    /// <inheritdoc />
    /// <remarks>A state of four numbers was saved before decreases were tracked: it resumes with no decrease yet.</remarks>
    public void Restore(double[] state)
    {
        (_n, _mean, _sumIncrease, _minIncrease) = ((long)state[0], state[1], state[2], state[3]);
        (_sumDecrease, _maxDecrease) = state.Length >= 6 ? (state[4], state[5]) : (0, -1);
    }

    private void Reset()
    {
        _n = 0;
        _mean = 0;
        _sumIncrease = 0;
        _minIncrease = double.PositiveInfinity;
        _sumDecrease = 0;
        _maxDecrease = -1;
    }
}

/// <summary>
/// ADWIN (Bifet and Gavaldà 2007): an adaptive window, kept as an exponential histogram of buckets (at most
/// <c>maxBuckets</c> per size 2ⁱ), that drops its oldest part whenever two sub-windows have means further apart than
/// ε_cut = √(2·m·σ²·ln(2 ln n/δ)) + ⅔·m·ln(2 ln n/δ), m = 1/(n₀−k+1) + 1/(n₁−k+1). Checked every
/// <c>clock</c> values once <c>gracePeriod</c> have been seen; δ = 0.002. As river's <c>drift.ADWIN</c>, it starts over
/// with an empty window after a drift, so one abrupt change is one signal; <c>keepWindowAfterDrift</c> gives MOA's
/// behaviour instead (the shrunk window is kept and goes on being cut, which signals a change several times).
/// </summary>
public sealed class Adwin(
    double delta = 0.002, int clock = 32, int maxBuckets = 5, int minimumWindow = 5, int gracePeriod = 10, bool keepWindowAfterDrift = false)
    : IConceptDriftDetector
{
    // rows[i] holds buckets of 2^i values, oldest first: (sum, variance sum of squares about their mean).
    private readonly List<List<(double Total, double Variance)>> _rows = [];
    private long _ticks;

    /// <summary>Values in the window.</summary>
    public long Width { get; private set; }

    /// <summary>Their sum.</summary>
    public double Total { get; private set; }

    /// <summary>Their sum of squared deviations from the mean.</summary>
    public double Variance { get; private set; }

    /// <summary>The window's mean.</summary>
    public double Mean => Width > 0 ? Total / Width : 0;

    /// <inheritdoc />
    public DetectorState Update(double value)
    {
        if (Width > 0)
        {
            Variance += Width * (value - Mean) * (value - Mean) / (Width + 1);
        }

        Width++;
        Total += value;
        Insert(0, (value, 0));
        _ticks++;
        if (_ticks % clock != 0 || Width <= gracePeriod || !Shrink())
        {
            return DetectorState.Stable;
        }

        if (!keepWindowAfterDrift)
        {
            _rows.Clear();
            (_ticks, Width, Total, Variance) = (0, 0, 0, 0);
        }

        return DetectorState.Drift;
    }

    /// <inheritdoc />
    /// <remarks>Ticks, width, total, variance, then per row its bucket count and its (total, variance) pairs.</remarks>
    public double[] Save()
    {
        var state = new List<double> { _ticks, Width, Total, Variance };
        foreach (var row in _rows)
        {
            state.Add(row.Count);
            foreach (var (total, variance) in row)
            {
                state.Add(total);
                state.Add(variance);
            }
        }

        return [.. state];
    }

    /// <inheritdoc />
    public void Restore(double[] state)
    {
        (_ticks, Width, Total, Variance) = ((long)state[0], (long)state[1], state[2], state[3]);
        _rows.Clear();
        for (var i = 4; i < state.Length;)
        {
            var count = (int)state[i++];
            var row = new List<(double Total, double Variance)>(count);
            for (var b = 0; b < count; b++, i += 2)
            {
                row.Add((state[i], state[i + 1]));
            }

            _rows.Add(row);
        }
    }

    private void Insert(int row, (double Total, double Variance) bucket)
    {
        while (_rows.Count <= row)
        {
            _rows.Add([]);
        }

        _rows[row].Add(bucket);
        if (_rows[row].Count <= maxBuckets)
        {
            return;
        }

        // Merge the two oldest buckets of this size into one of the next.
        var first = _rows[row][0];
        var second = _rows[row][1];
        _rows[row].RemoveRange(0, 2);
        var size = 1L << row;
        var meanGap = (first.Total / size) - (second.Total / size);
        Insert(row + 1, (first.Total + second.Total, first.Variance + second.Variance + (size * size * meanGap * meanGap / (2.0 * size))));
    }

    // Drops the oldest buckets while some split of the window shows two different means; true when any was dropped.
    private bool Shrink()
    {
        var changed = false;
        while (Width > 2 * minimumWindow && HasCut())
        {
            var row = _rows.Count - 1;
            var (total, variance) = _rows[row][0];
            _rows[row].RemoveAt(0);
            if (_rows[row].Count == 0)
            {
                _rows.RemoveAt(row);
            }

            var size = 1L << row;
            var restMean = (Total - total) / (Width - size);
            Variance -= variance + (size * (Width - size) * ((total / size) - restMean) * ((total / size) - restMean) / Width);
            Variance = Math.Max(Variance, 0);
            Width -= size;
            Total -= total;
            changed = true;
        }

        return changed;
    }

    private bool HasCut()
    {
        long n0 = 0;
        double u0 = 0;
        var windowVariance = Variance / Width;
        var logTerm = Math.Log(2 * Math.Log(Width) / delta);
        // From the oldest bucket to the newest: W0 is everything before the split, W1 the rest.
        for (var row = _rows.Count - 1; row >= 0; row--)
        {
            var size = 1L << row;
            foreach (var (total, _) in _rows[row])
            {
                n0 += size;
                u0 += total;
                var n1 = Width - n0;
                if (n1 < minimumWindow)
                {
                    return false;
                }

                if (n0 < minimumWindow)
                {
                    continue;
                }

                var gap = Math.Abs((u0 / n0) - ((Total - u0) / n1));
                var m = (1.0 / (n0 - minimumWindow + 1)) + (1.0 / (n1 - minimumWindow + 1));
                var epsilon = Math.Sqrt(2 * m * windowVariance * logTerm) + (2.0 / 3.0 * logTerm * m);
                if (gap > epsilon)
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>The detectors the drift service runs on a version's error stream, by their stored names.</summary>
public static class ConceptDriftDetectors
{
    /// <summary>
    /// A fresh detector for an error stream (1 wrong / 0 right, or a loss): river's defaults, except that Page–Hinkley
    /// watches increases only — a falling error rate is the model doing better, which is not a change anyone should be
    /// paged for (DDM, by construction, also sees only rises).
    /// </summary>
    public static IConceptDriftDetector ForErrors(string name) => name switch
    {
        "ADWIN" => new Adwin(),
        "DDM" => new Ddm(),
        "PAGE_HINKLEY" => new PageHinkley(mode: PageHinkleyMode.Up),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such detector"),
    };
}

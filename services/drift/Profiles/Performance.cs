namespace ModelOps.Drift.Profiles;

/// <summary>
/// A binary classifier's performance over a window, from (score, label) pairs as labels arrive: exact counts at the
/// decision threshold (accuracy, precision, recall, F1), the summed log loss, and per-class histograms of the score on
/// <see cref="ScoreBins"/> equal bins of [0, 1] for the AUC. Everything is a sum, so windows from several replicas
/// merge exactly.
/// </summary>
public sealed class ClassificationPerformance(double threshold = 0.5)
{
    /// <summary>Bins of the score histograms behind the AUC.</summary>
    public const int ScoreBins = 10_000;

    /// <summary>Scores are clipped to [ε, 1 − ε] in the log loss, as scikit-learn does.</summary>
    public const double LogLossEpsilon = 1e-15;

    private readonly long[] _positives = new long[ScoreBins];
    private readonly long[] _negatives = new long[ScoreBins];

    /// <summary>The score at or above which the prediction is positive.</summary>
    public double Threshold { get; } = threshold;

    /// <summary>True positives.</summary>
    public long TruePositives { get; private set; }

    /// <summary>False positives.</summary>
    public long FalsePositives { get; private set; }

    /// <summary>True negatives.</summary>
    public long TrueNegatives { get; private set; }

    /// <summary>False negatives.</summary>
    public long FalseNegatives { get; private set; }

    /// <summary>Sum of the per-record log losses.</summary>
    public double LogLossSum { get; private set; }

    /// <summary>Labelled records.</summary>
    public long Count => TruePositives + FalsePositives + TrueNegatives + FalseNegatives;

    /// <summary>Share of correct predictions.</summary>
    public double Accuracy => Count > 0 ? (double)(TruePositives + TrueNegatives) / Count : double.NaN;

    /// <summary>TP / (TP + FP); 0 when nothing was predicted positive.</summary>
    public double Precision => TruePositives + FalsePositives > 0 ? (double)TruePositives / (TruePositives + FalsePositives) : 0;

    /// <summary>TP / (TP + FN); 0 when no label was positive.</summary>
    public double Recall => TruePositives + FalseNegatives > 0 ? (double)TruePositives / (TruePositives + FalseNegatives) : 0;

    /// <summary>The harmonic mean of precision and recall; 0 when both are.</summary>
    public double F1 => Precision + Recall > 0 ? 2 * Precision * Recall / (Precision + Recall) : 0;

    /// <summary>Mean log loss.</summary>
    public double LogLoss => Count > 0 ? LogLossSum / Count : double.NaN;

    /// <summary>
    /// The area under the ROC curve: the chance that a positive scores above a negative (ties count half), with scores
    /// in the same bin counted as ties. It is NaN while one class is absent (it has no meaning then). Scores closer than
    /// 1/<see cref="ScoreBins"/> count as tied, so the AUC of the raw scores differs by at most half the share of
    /// (positive, negative) pairs that share a bin — see <see cref="AucBound"/>.
    /// </summary>
    public double Auc
    {
        get
        {
            var (positives, negatives, ordered, tied) = Pairs();
            return positives == 0 || negatives == 0 ? double.NaN : (ordered + (tied / 2)) / ((double)positives * negatives);
        }
    }

    /// <summary>The most the AUC of the raw scores can differ from <see cref="Auc"/>.</summary>
    public double AucBound
    {
        get
        {
            var (positives, negatives, _, tied) = Pairs();
            return positives == 0 || negatives == 0 ? 0 : tied / 2 / ((double)positives * negatives);
        }
    }

    /// <summary>Counts one labelled prediction (a score in [0, 1], clipped; NaN is refused).</summary>
    public void Add(double score, bool label)
    {
        if (double.IsNaN(score))
        {
            throw new ArgumentException("A score must be a number.", nameof(score));
        }

        score = Math.Clamp(score, 0, 1);
        var predicted = score >= Threshold;
        if (label)
        {
            _ = predicted ? TruePositives++ : FalseNegatives++;
        }
        else
        {
            _ = predicted ? FalsePositives++ : TrueNegatives++;
        }
        var p = Math.Clamp(score, LogLossEpsilon, 1 - LogLossEpsilon);
        LogLossSum -= label ? Math.Log(p) : Math.Log(1 - p);
        var bin = Math.Min((int)(score * ScoreBins), ScoreBins - 1);
        (label ? _positives : _negatives)[bin]++;
    }

    /// <summary>Adds another window's counts (same threshold).</summary>
    public void Merge(ClassificationPerformance other)
    {
        if (other.Threshold != Threshold)
        {
            throw new ArgumentException("Performance at different thresholds does not merge.", nameof(other));
        }

        TruePositives += other.TruePositives;
        FalsePositives += other.FalsePositives;
        TrueNegatives += other.TrueNegatives;
        FalseNegatives += other.FalseNegatives;
        LogLossSum += other.LogLossSum;
        for (var b = 0; b < ScoreBins; b++)
        {
            _positives[b] += other._positives[b];
            _negatives[b] += other._negatives[b];
        }
    }

    /// <summary>The non-empty bins of the score histograms: (bin, positives, negatives).</summary>
    public IEnumerable<(int Bin, long Positives, long Negatives)> Bins()
    {
        for (var b = 0; b < ScoreBins; b++)
        {
            if (_positives[b] != 0 || _negatives[b] != 0)
            {
                yield return (b, _positives[b], _negatives[b]);
            }
        }
    }

    /// <summary>Rebuilds stored counts (see <see cref="Bins"/>).</summary>
    public static ClassificationPerformance Restore(
        double threshold, long truePositives, long falsePositives, long trueNegatives, long falseNegatives, double logLossSum,
        IEnumerable<(int Bin, long Positives, long Negatives)> bins)
    {
        var performance = new ClassificationPerformance(threshold)
        {
            TruePositives = truePositives,
            FalsePositives = falsePositives,
            TrueNegatives = trueNegatives,
            FalseNegatives = falseNegatives,
            LogLossSum = logLossSum,
        };
        foreach (var (bin, positives, negatives) in bins)
        {
            performance._positives[bin] += positives;
            performance._negatives[bin] += negatives;
        }

        return performance;
    }

    private (long Positives, long Negatives, double Ordered, double Tied) Pairs()
    {
        long negativesBelow = 0, positives = 0, negatives = 0;
        double ordered = 0, tied = 0;
        for (var b = 0; b < ScoreBins; b++)
        {
            ordered += (double)_positives[b] * negativesBelow;
            tied += (double)_positives[b] * _negatives[b];
            negativesBelow += _negatives[b];
            positives += _positives[b];
            negatives += _negatives[b];
        }

        return (positives, negatives, ordered, tied);
    }
}

/// <summary>A regression model's errors over a window: sums, so windows merge exactly.</summary>
public sealed class RegressionPerformance
{
    /// <summary>Labelled records.</summary>
    public long Count { get; private set; }

    /// <summary>Σ |prediction − label|.</summary>
    public double AbsoluteErrorSum { get; private set; }

    /// <summary>Σ (prediction − label)².</summary>
    public double SquaredErrorSum { get; private set; }

    /// <summary>Mean absolute error.</summary>
    public double Mae => Count > 0 ? AbsoluteErrorSum / Count : double.NaN;

    /// <summary>Root mean squared error.</summary>
    public double Rmse => Count > 0 ? Math.Sqrt(SquaredErrorSum / Count) : double.NaN;

    /// <summary>Counts one labelled prediction; a non-finite value is refused.</summary>
    public void Add(double prediction, double label)
    {
        if (!double.IsFinite(prediction) || !double.IsFinite(label))
        {
            throw new ArgumentException("A prediction and its label must be finite numbers.");
        }

        Count++;
        AbsoluteErrorSum += Math.Abs(prediction - label);
        SquaredErrorSum += (prediction - label) * (prediction - label);
    }

    /// <summary>Rebuilds stored sums.</summary>
    public static RegressionPerformance Restore(long count, double absoluteErrorSum, double squaredErrorSum) =>
        new() { Count = count, AbsoluteErrorSum = absoluteErrorSum, SquaredErrorSum = squaredErrorSum };

    /// <summary>Adds another window's sums.</summary>
    public void Merge(RegressionPerformance other)
    {
        Count += other.Count;
        AbsoluteErrorSum += other.AbsoluteErrorSum;
        SquaredErrorSum += other.SquaredErrorSum;
    }
}

namespace ModelOps.Fairness.Analysis;

/// <summary>
/// The confusion counts of one group of a binary classifier, from which every per-group rate follows. Counts add, so
/// the counts of a group of groups (a marginal of an intersection, or one window merged from several replicas) are
/// exactly the sums of theirs. A rate whose denominator is zero (the true-positive rate of a group without positives)
/// is undefined: <see langword="null"/>, never NaN.
/// </summary>
/// <param name="Tn">Label 0, predicted 0.</param>
/// <param name="Fp">Label 0, predicted 1.</param>
/// <param name="Fn">Label 1, predicted 0.</param>
/// <param name="Tp">Label 1, predicted 1.</param>
public readonly record struct Confusion(long Tn, long Fp, long Fn, long Tp)
{
    /// <summary>Rows of the group.</summary>
    public long Count => Tn + Fp + Fn + Tp;

    /// <summary>Rows labelled 1.</summary>
    public long Positives => Fn + Tp;

    /// <summary>Rows labelled 0.</summary>
    public long Negatives => Tn + Fp;

    /// <summary>Rows predicted 1.</summary>
    public long Selected => Tp + Fp;

    /// <summary>P(ŷ = 1): the selection rate.</summary>
    public double? SelectionRate => Rate(Selected, Count);

    /// <summary>P(y = 1): the base rate.</summary>
    public double? BaseRate => Rate(Positives, Count);

    /// <summary>P(ŷ = 1 | y = 1): recall.</summary>
    public double? Tpr => Rate(Tp, Positives);

    /// <summary>P(ŷ = 1 | y = 0).</summary>
    public double? Fpr => Rate(Fp, Negatives);

    /// <summary>P(ŷ = 0 | y = 1).</summary>
    public double? Fnr => Rate(Fn, Positives);

    /// <summary>P(ŷ = 0 | y = 0).</summary>
    public double? Tnr => Rate(Tn, Negatives);

    /// <summary>P(y = 1 | ŷ = 1): precision.</summary>
    public double? Ppv => Rate(Tp, Selected);

    /// <summary>P(y = 0 | ŷ = 0).</summary>
    public double? Npv => Rate(Tn, Tn + Fn);

    /// <summary>P(ŷ = y).</summary>
    public double? Accuracy => Rate(Tp + Tn, Count);

    /// <summary>The counts of the union of two disjoint groups.</summary>
    public static Confusion operator +(Confusion left, Confusion right) =>
        new(left.Tn + right.Tn, left.Fp + right.Fp, left.Fn + right.Fn, left.Tp + right.Tp);

    /// <summary>The counts from cells indexed label × 2 + prediction (TN, FP, FN, TP).</summary>
    public static Confusion FromCells(ReadOnlySpan<long> cells) => new(cells[0], cells[1], cells[2], cells[3]);

    /// <summary><paramref name="numerator"/> / <paramref name="denominator"/>, or undefined when the denominator is 0.</summary>
    public static double? Rate(long numerator, long denominator) => denominator == 0 ? null : (double)numerator / denominator;
}

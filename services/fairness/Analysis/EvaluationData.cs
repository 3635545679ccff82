namespace ModelOps.Fairness.Analysis;

/// <summary>One sensitive attribute of a dataset, as codes: row i belongs to <c>Values[Codes[i]]</c>; a missing value (null) is a group of its own.</summary>
/// <param name="Name">The column's name.</param>
/// <param name="Codes">Per row, the index of its value.</param>
/// <param name="Values">The distinct values, in order of first appearance; null is the missing value.</param>
public sealed record SensitiveAttribute(string Name, int[] Codes, IReadOnlyList<string?> Values);

/// <summary>
/// The columns a fairness analysis reads, one array per column. A binary classification has <see cref="Labels"/> and
/// <see cref="Predictions"/> (0 or 1), and <see cref="Scores"/> in [0, 1] when the model gave them (the predictions are
/// then score ≥ threshold); a regression has <see cref="Targets"/> and <see cref="Estimates"/>.
/// </summary>
public sealed class EvaluationData
{
    /// <summary>Rows.</summary>
    public required int Rows { get; init; }

    /// <summary>The sensitive attributes, in the order given.</summary>
    public required IReadOnlyList<SensitiveAttribute> Attributes { get; init; }

    /// <summary>Binary labels.</summary>
    public byte[]? Labels { get; init; }

    /// <summary>Binary predictions.</summary>
    public byte[]? Predictions { get; init; }

    /// <summary>Scores in [0, 1].</summary>
    public double[]? Scores { get; init; }

    /// <summary>A regression's observed values.</summary>
    public double[]? Targets { get; init; }

    /// <summary>A regression's predicted values.</summary>
    public double[]? Estimates { get; init; }

    /// <summary>Whether this is a binary classification.</summary>
    public bool IsClassification => Labels is not null;
}

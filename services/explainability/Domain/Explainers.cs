namespace ModelOps.Explainability.Domain;

/// <summary>A model read from its artifact: its features, how its margin becomes a prediction, and what explains it.</summary>
internal interface IExplainable
{
    /// <summary>xgboost-json, lightgbm-text, mlnet-zip or onnx.</summary>
    string Format { get; }

    /// <summary>The objective as the file names it, or what the explained output is.</summary>
    string Objective { get; }

    IReadOnlyList<string> FeatureNames { get; }

    /// <summary>Trees of a tree ensemble; 0 for any other model.</summary>
    int TreeCount { get; }

    /// <summary>identity, logistic or exp: how a margin becomes the prediction.</summary>
    string Output { get; }

    /// <summary>The decision threshold when a request sets none: 0.5 on a probability, none otherwise.</summary>
    double? DefaultThreshold { get; }

    /// <summary>Whether it is explained only with background rows (<see cref="Explainer(double[], int)"/>).</summary>
    bool NeedsBackground { get; }

    /// <summary>The prediction a margin stands for.</summary>
    double Prediction(double margin);

    /// <summary>Its explainer from what the file holds; only when <see cref="NeedsBackground"/> is false.</summary>
    IExplainer Explainer();

    /// <summary>Its explainer with <paramref name="count"/> background rows (row-major, one value per feature, NaN missing).</summary>
    IExplainer Explainer(double[] rows, int count);
}

/// <summary>Explains rows of one model: per row, attributions that add up with <see cref="BaseValue"/> to its margin.</summary>
internal interface IExplainer
{
    /// <summary>What every row's attributions add to: the margin of the average input (or of the background rows).</summary>
    double BaseValue { get; }

    /// <summary>How the values are computed, as <c>ModelDescription.method</c> names it.</summary>
    ExplainerMethod Method { get; }

    /// <summary>Model evaluations one row costs (1 for a tree ensemble): what a request's row bound is computed from.</summary>
    long EvaluationsPerRow { get; }

    /// <summary>
    /// Explains <paramref name="count"/> rows of <paramref name="rows"/> (row-major, one value per feature, NaN missing)
    /// into <paramref name="phi"/> (the same shape) and their margins into <paramref name="margins"/>, on up to
    /// <paramref name="threads"/> threads. An estimating method writes each attribution's standard error into
    /// <paramref name="errors"/> (the shape of <paramref name="phi"/>) when it is given; an exact one leaves it alone.
    /// </summary>
    void Explain(double[] rows, int count, double[] phi, double[] margins, double[]? errors, int threads, CancellationToken cancellationToken = default);
}

/// <summary>How an explainer computes its attributions.</summary>
/// <param name="Name">tree_path_dependent, exact_interventional or kernel_shap.</param>
/// <param name="BackgroundRows">Background rows each value function averages over (0 for path-dependent TreeSHAP).</param>
/// <param name="Coalitions">Coalitions of features evaluated per row (0 for TreeSHAP).</param>
/// <param name="Seed">The seed of the sampling (Kernel SHAP's coalitions, the background's rows); 0 when nothing is sampled.</param>
internal sealed record ExplainerMethod(string Name, int BackgroundRows, int Coalitions, ulong Seed)
{
    public static readonly ExplainerMethod PathDependent = new("tree_path_dependent", 0, 0, 0);

    /// <summary>Whether the attributions are estimates with a standard error.</summary>
    public bool Estimates => Name == "kernel_shap";
}

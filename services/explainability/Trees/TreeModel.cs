using ModelOps.Explainability.Domain;

namespace ModelOps.Explainability.Trees;

/// <summary>A tree ensemble as a model to explain: exact path-dependent TreeSHAP, with covers counted on background rows when the file keeps none.</summary>
internal sealed class TreeModel(TreeEnsemble ensemble) : IExplainable
{
    public TreeEnsemble Ensemble { get; } = ensemble;

    public string Format => Ensemble.Format;

    public string Objective => Ensemble.Objective;

    public IReadOnlyList<string> FeatureNames => Ensemble.FeatureNames;

    public int TreeCount => Ensemble.Trees.Length;

    public string Output => Ensemble.Transform.ToString().ToLowerInvariant();

    public double? DefaultThreshold => Ensemble.Transform == OutputTransform.Logistic ? 0.5 : null;

    public bool NeedsBackground => !Ensemble.HasCover;

    public double Prediction(double margin) => Ensemble.Output(margin);

    public IExplainer Explainer() =>
        NeedsBackground ? throw new InvalidOperationException("the model keeps no covers: it needs background rows") : new TreeExplainer(Ensemble);

    public IExplainer Explainer(double[] rows, int count) => new TreeExplainer(Ensemble.HasCover ? Ensemble : Ensemble.WithCovers(rows, count));
}

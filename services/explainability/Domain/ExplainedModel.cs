using ModelOps.Explainability.Trees;
using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>A registered model version read, checked and ready to explain.</summary>
/// <param name="Reference">The registry's model and version.</param>
/// <param name="Sha256">The artifact's SHA-256, the registry's pinned one.</param>
/// <param name="Explainer">Its TreeSHAP explainer.</param>
internal sealed record ExplainedModel(ModelRef Reference, string Sha256, TreeExplainer Explainer)
{
    public TreeEnsemble Ensemble => Explainer.Ensemble;

    public ModelDescription Describe()
    {
        var description = new ModelDescription
        {
            Model = Reference.Clone(),
            Format = Ensemble.Format,
            Objective = Ensemble.Objective,
            Trees = Ensemble.Trees.Length,
            BaseValue = Explainer.BaseValue,
            Output = Ensemble.Transform.ToString().ToLowerInvariant(),
            ArtifactSha256 = Sha256,
        };
        description.Features.Add(Ensemble.FeatureNames);
        return description;
    }

    /// <summary>The default decision threshold: 0.5 for a logistic output, none otherwise.</summary>
    public double? DefaultThreshold => Ensemble.Transform == OutputTransform.Logistic ? 0.5 : null;
}

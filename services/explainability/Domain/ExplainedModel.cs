using ModelOps.Explainability.Trees;
using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>A registered model version read, checked and (with its covers) ready to explain.</summary>
/// <param name="Reference">The registry's model and version.</param>
/// <param name="Sha256">The artifact's SHA-256, the registry's pinned one.</param>
/// <param name="Ensemble">The trees as the file holds them.</param>
/// <param name="Loaded">Its TreeSHAP explainer; none yet for a model that keeps no covers and has no background.</param>
/// <param name="Background">The background rows its covers were counted on, and their SHA-256.</param>
internal sealed record ExplainedModel(ModelRef Reference, string Sha256, TreeEnsemble Ensemble, TreeExplainer? Loaded, (Dataset Dataset, string Sha256)? Background)
{
    /// <summary>Whether the model keeps no covers and still needs background rows (<c>ModelSource.WithBackgroundAsync</c>).</summary>
    public bool NeedsBackground => Loaded is null;

    /// <summary>The explainer: every path that explains asks <c>ModelSource.WithBackgroundAsync</c> first.</summary>
    public TreeExplainer Explainer => Loaded ?? throw new InvalidOperationException("the model needs background rows before it is explained");

    public ModelDescription Describe()
    {
        var description = new ModelDescription
        {
            Model = Reference.Clone(),
            Format = Ensemble.Format,
            Objective = Ensemble.Objective,
            Trees = Ensemble.Trees.Length,
            Output = Ensemble.Transform.ToString().ToLowerInvariant(),
            ArtifactSha256 = Sha256,
            NeedsBackground = !Ensemble.HasCover,
            BackgroundSha256 = Background?.Sha256 ?? "",
        };
        if (Loaded is not null)
        {
            description.BaseValue = Loaded.BaseValue;
        }

        description.Features.Add(Ensemble.FeatureNames);
        return description;
    }

    /// <summary>The default decision threshold: 0.5 for a logistic output, none otherwise.</summary>
    public double? DefaultThreshold => Ensemble.Transform == OutputTransform.Logistic ? 0.5 : null;
}

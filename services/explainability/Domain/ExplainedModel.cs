using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>A registered model version read, checked and (with its background, when it needs one) ready to explain.</summary>
/// <param name="Reference">The registry's model and version.</param>
/// <param name="Sha256">The artifact's SHA-256, the registry's pinned one.</param>
/// <param name="Model">The model as its file holds it.</param>
/// <param name="Loaded">Its explainer; none yet for a model that is explained with background rows and has none.</param>
/// <param name="Background">The background rows it is explained with, and their SHA-256.</param>
internal sealed record ExplainedModel(ModelRef Reference, string Sha256, IExplainable Model, IExplainer? Loaded, (Dataset Dataset, string Sha256)? Background)
{
    /// <summary>Whether the model still needs background rows (<c>ModelSource.WithBackgroundAsync</c>).</summary>
    public bool NeedsBackground => Loaded is null;

    /// <summary>The explainer: every path that explains asks <c>ModelSource.WithBackgroundAsync</c> first.</summary>
    public IExplainer Explainer => Loaded ?? throw new InvalidOperationException("the model needs background rows before it is explained");

    public IReadOnlyList<string> FeatureNames => Model.FeatureNames;

    public ModelDescription Describe()
    {
        var description = new ModelDescription
        {
            Model = Reference.Clone(),
            Format = Model.Format,
            Objective = Model.Objective,
            Trees = Model.TreeCount,
            Output = Model.Output,
            ArtifactSha256 = Sha256,
            NeedsBackground = Model.NeedsBackground,
            BackgroundSha256 = Background?.Sha256 ?? "",
        };
        if (Loaded is not null)
        {
            description.BaseValue = Loaded.BaseValue;
            description.Method = Loaded.Method.Name;
            description.BackgroundRows = Loaded.Method.BackgroundRows;
            description.Coalitions = Loaded.Method.Coalitions;
            description.Seed = Loaded.Method.Seed;
        }

        description.Features.Add(Model.FeatureNames);
        return description;
    }

    /// <summary>The decision threshold when a request sets none.</summary>
    public double? DefaultThreshold => Model.DefaultThreshold;
}

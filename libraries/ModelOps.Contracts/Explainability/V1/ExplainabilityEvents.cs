namespace ModelOps.Contracts.Explainability.V1;

/// <summary>A feature's share of a model's global importance, as the ledger keeps it.</summary>
/// <param name="Feature">The feature.</param>
/// <param name="MeanAbs">Its mean |SHAP value| over the dataset.</param>
public sealed record FeatureWeight(string Feature, double MeanAbs);

/// <summary>The global importance of a model version's features was computed on a dataset and stored.</summary>
public sealed record ImportanceComputed : IntegrationEvent
{
    /// <summary>The report.</summary>
    public required Guid ReportId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The model artifact's SHA-256 (hex).</summary>
    public required string ModelSha256 { get; init; }

    /// <summary>The tracking run whose artifact the dataset is.</summary>
    public required string RunId { get; init; }

    /// <summary>The dataset artifact's path.</summary>
    public required string ArtifactPath { get; init; }

    /// <summary>The dataset's SHA-256 (hex).</summary>
    public required string DatasetSha256 { get; init; }

    /// <summary>Rows explained.</summary>
    public required long Rows { get; init; }

    /// <summary>The ten most important features, the most important first.</summary>
    public required IReadOnlyList<FeatureWeight> TopFeatures { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string>
    {
        [SubjectKeys.Model] = Model, [SubjectKeys.ModelVersion] = $"{Model}/{Version}", [SubjectKeys.Run] = RunId,
    };
}

/// <summary>A model's feature dictionary (the names and descriptions reason codes show people) was replaced.</summary>
public sealed record FeatureDictionaryChanged : IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>How many features it describes.</summary>
    public required int Entries { get; init; }

    /// <summary>The SHA-256 (hex) of the dictionary's entries as stored (a protobuf message), so a change is provable.</summary>
    public required string Sha256 { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { [SubjectKeys.Model] = Model };
}

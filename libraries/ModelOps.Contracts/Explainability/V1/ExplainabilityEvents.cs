using System.Globalization;

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

/// <summary>
/// What drives a watched Production version's predictions shifted in a window of its traffic, after a window where it
/// had not: its features' importance moved away from the version's reference importance.
/// </summary>
public sealed record AttributionDriftDetected : IntegrationEvent, IFinding
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's end.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <summary>Total variation between the window's and the reference's normalised importance, in [0, 1].</summary>
    public required double Shift { get; init; }

    /// <summary>The largest shift allowed.</summary>
    public required double MaxShift { get; init; }

    /// <summary>The share of the reference's top features among the window's.</summary>
    public required double Overlap { get; init; }

    /// <summary>The reference's top features, the most important first.</summary>
    public required IReadOnlyList<string> ReferenceTop { get; init; }

    /// <summary>The window's top features.</summary>
    public required IReadOnlyList<string> WindowTop { get; init; }

    /// <summary>The importance report the window was compared with.</summary>
    public required Guid ReferenceReportId { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("explainability", nameof(AttributionDriftDetected), Model, Version, "high");

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", string.Create(CultureInfo.InvariantCulture,
            $"What drives {Model} version {Version}'s predictions shifted in production: importance shift {Shift:0.###} (limit {MaxShift:0.###}), top features {string.Join(", ", WindowTop)} (reference: {string.Join(", ", ReferenceTop)})")),
        ("shift", FindingLabels.Figure(Shift)), ("limit", FindingLabels.Figure(MaxShift)), ("overlap", FindingLabels.Figure(Overlap)),
        ("window_start", WindowStart.ToString("O", CultureInfo.InvariantCulture)), ("reference_report_id", ReferenceReportId.ToString()));

    /// <inheritdoc />
    public bool Resolves => false;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

/// <summary>A window of a version whose attribution drift was announced is driven as its reference is again.</summary>
public sealed record AttributionDriftResolved : IntegrationEvent, IFinding
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's importance shift.</summary>
    public required double Shift { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("explainability", nameof(AttributionDriftDetected), Model, Version, null);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", $"What drives {Model} version {Version}'s predictions is as in its reference again"), ("shift", FindingLabels.Figure(Shift)));

    /// <inheritdoc />
    public bool Resolves => true;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

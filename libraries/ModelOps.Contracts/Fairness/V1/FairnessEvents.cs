using System.Globalization;

namespace ModelOps.Contracts.Fairness.V1;

/// <summary>One disparity of a report, as the ledger keeps it.</summary>
/// <param name="Grouping">The grouping: a sensitive column or a combination ("sex × age_band").</param>
/// <param name="Name">The disparity (demographic_parity_ratio, ...).</param>
/// <param name="Value">Its value; null when undefined.</param>
/// <param name="Lower">The bootstrap interval's lower end.</param>
/// <param name="Upper">Its upper end.</param>
public sealed record DisparityFigure(string Grouping, string Name, double? Value, double? Lower, double? Upper);

/// <summary>A fairness report of a model version was computed on an evaluation dataset and stored.</summary>
public sealed record FairnessEvaluated : IntegrationEvent
{
    /// <summary>The report.</summary>
    public required Guid ReportId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The tracking run whose artifact the dataset is.</summary>
    public required string RunId { get; init; }

    /// <summary>The artifact's path.</summary>
    public required string ArtifactPath { get; init; }

    /// <summary>The artifact's SHA-256 (hex).</summary>
    public required string DatasetSha256 { get; init; }

    /// <summary>Rows evaluated.</summary>
    public required long Rows { get; init; }

    /// <summary>The sensitive columns.</summary>
    public required IReadOnlyList<string> SensitiveColumns { get; init; }

    /// <summary>Per grouping, the demographic parity ratio, the equalized odds difference and the disparate impact.</summary>
    public required IReadOnlyList<DisparityFigure> Disparities { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string>
    {
        [SubjectKeys.Model] = Model, [SubjectKeys.ModelVersion] = $"{Model}/{Version}", [SubjectKeys.Run] = RunId,
    };
}

/// <summary>A mitigation (per-group thresholds or reweighing) was computed for a model version and its artifact stored.</summary>
public sealed record MitigationComputed : IntegrationEvent
{
    /// <summary>The mitigation.</summary>
    public required Guid MitigationId { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>THRESHOLDS or REWEIGHING.</summary>
    public required string Method { get; init; }

    /// <summary>The dataset's SHA-256 (hex).</summary>
    public required string DatasetSha256 { get; init; }

    /// <summary>The artifact's SHA-256 (hex): the file a pipeline applies.</summary>
    public required string ArtifactSha256 { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string>
    {
        [SubjectKeys.Model] = Model, [SubjectKeys.ModelVersion] = $"{Model}/{Version}",
    };
}

/// <summary>A disparity beyond its limit in a window of production traffic.</summary>
/// <param name="Grouping">The grouping ("sex", "sex × age_band").</param>
/// <param name="Name">The disparity.</param>
/// <param name="Value">Its value in the window.</param>
/// <param name="Limit">The limit it crossed (a minimum for a ratio, a maximum for a difference).</param>
/// <param name="Groups">The groups it compares.</param>
public sealed record BiasFigure(string Grouping, string Name, double Value, double Limit, IReadOnlyList<string> Groups);

/// <summary>A window of a watched Production version's traffic treated groups differently, after one that had not.</summary>
public sealed record BiasDetected : IntegrationEvent, IFinding
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's end.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <summary>The window report.</summary>
    public required Guid ReportId { get; init; }

    /// <summary>Every disparity beyond its limit, the worst first.</summary>
    public required IReadOnlyList<BiasFigure> Violations { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("fairness", nameof(BiasDetected), Model, Version, "high");

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations
    {
        get
        {
            var worst = Violations[0];
            return FindingLabels.Of(
                ("summary", string.Create(CultureInfo.InvariantCulture,
                    $"{Model} version {Version} treats groups differently in production: {worst.Name} of {worst.Grouping} is {worst.Value:0.###} (limit {worst.Limit:0.###})")),
                ("description", string.Join("; ", Violations.Select(v =>
                    string.Create(CultureInfo.InvariantCulture, $"{v.Grouping}: {v.Name} {v.Value:0.###} ({string.Join(" vs ", v.Groups)})")))),
                ("grouping", worst.Grouping), ("metric", worst.Name), ("value", FindingLabels.Figure(worst.Value)), ("limit", FindingLabels.Figure(worst.Limit)),
                ("window_start", WindowStart.ToString("O", CultureInfo.InvariantCulture)), ("report_id", ReportId.ToString()));
        }
    }

    /// <inheritdoc />
    public bool Resolves => false;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

/// <summary>A window of a version whose bias was announced treated groups within the limits again.</summary>
public sealed record BiasResolved : IntegrationEvent, IFinding
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window report.</summary>
    public required Guid ReportId { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("fairness", nameof(BiasDetected), Model, Version, null);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", $"{Model} version {Version} treats groups within the limits again"), ("report_id", ReportId.ToString()));

    /// <inheritdoc />
    public bool Resolves => true;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

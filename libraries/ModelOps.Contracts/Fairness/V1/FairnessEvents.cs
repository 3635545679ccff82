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

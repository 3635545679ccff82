namespace ModelOps.Contracts.Drift.V1;

/// <summary>One column's drift score in a window.</summary>
/// <param name="Column">The column.</param>
/// <param name="Method">How it was measured (KolmogorovSmirnov, NormedWasserstein, JensenShannon, ...).</param>
/// <param name="Statistic">The statistic or distance.</param>
/// <param name="PValue">The p-value, for a test.</param>
/// <param name="Threshold">The threshold it was judged against.</param>
public sealed record ColumnScore(string Column, string Method, double Statistic, double? PValue, double Threshold);

/// <summary>A window of a model version's production traffic drifted from its reference, after one that had not.</summary>
public sealed record DriftDetected : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's end.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <summary>The columns that drifted, with their scores.</summary>
    public required IReadOnlyList<ColumnScore> Columns { get; init; }

    /// <summary>Share of the compared columns that drifted.</summary>
    public required double DriftShare { get; init; }

    /// <summary><c>high</c> when the dataset as a whole drifted (share at or above its threshold), else <c>warning</c>.</summary>
    public required string Severity { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string>
    {
        [Contracts.SubjectKeys.Model] = Model,
        [Contracts.SubjectKeys.ModelVersion] = $"{Model}/{Version}",
    };
}

/// <summary>A window of a model version's traffic no longer drifted, after one that had.</summary>
public sealed record DriftResolved : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's end.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string>
    {
        [Contracts.SubjectKeys.Model] = Model,
        [Contracts.SubjectKeys.ModelVersion] = $"{Model}/{Version}",
    };
}

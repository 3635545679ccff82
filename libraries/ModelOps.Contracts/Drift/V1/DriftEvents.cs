namespace ModelOps.Contracts.Drift.V1;

// What every drift event is about: the model, and the version when there is one.
internal static class DriftSubjects
{
    public static IReadOnlyDictionary<string, string> Of(string model, string? version = null) => version is null
        ? new Dictionary<string, string> { [SubjectKeys.Model] = model }
        : new Dictionary<string, string> { [SubjectKeys.Model] = model, [SubjectKeys.ModelVersion] = $"{model}/{version}" };
}

/// <summary>One column's drift score in a window.</summary>
/// <param name="Column">The column.</param>
/// <param name="Method">How it was measured (KolmogorovSmirnov, NormedWasserstein, JensenShannon, ...).</param>
/// <param name="Statistic">The statistic or distance; null when it is unbounded (a chi-square over a category the reference never saw).</param>
/// <param name="PValue">The p-value, for a test.</param>
/// <param name="Threshold">The threshold it was judged against.</param>
public sealed record ColumnScore(string Column, string Method, double? Statistic, double? PValue, double Threshold);

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

    /// <summary>Whether the model's output drifted (its column is then among <see cref="Columns"/>).</summary>
    public bool PredictionDrifted { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => DriftSubjects.Of(Model, Version);
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
    public override IReadOnlyDictionary<string, string> Subjects => DriftSubjects.Of(Model, Version);
}

/// <summary>
/// A concept-drift detector signalled a change in a watched model version's error stream (from labels joined to its
/// predictions): the relation between inputs and outcomes moved, whatever the inputs did.
/// </summary>
public sealed record ConceptDriftDetected : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>ADWIN, DDM or PAGE_HINKLEY.</summary>
    public required string Detector { get; init; }

    /// <summary>Errors the detector had been fed in all when it signalled.</summary>
    public required long Values { get; init; }

    /// <summary>The time of the prediction whose error tipped it.</summary>
    public required DateTimeOffset PredictedAt { get; init; }

    /// <summary>The mean error of the labels in the batch that tipped it (error rate for classification, mean |error| for regression).</summary>
    public required double RecentError { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => DriftSubjects.Of(Model, Version);
}

/// <summary>A model's monitoring policy (drift methods, thresholds, feature importance) was set.</summary>
public sealed record MonitoringPolicyChanged : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The policy's new revision.</summary>
    public required int Revision { get; init; }

    /// <summary>The policy as JSON (modelops.drift.v1.MonitoringPolicy).</summary>
    public required string Policy { get; init; }

    /// <summary>Why.</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => DriftSubjects.Of(Model);
}

/// <summary>An admin started or stopped watching a model version by hand (versions in Production are watched through the registry's StageChanged).</summary>
public sealed record WatchChanged : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>Whether it is watched now.</summary>
    public required bool Watched { get; init; }

    /// <summary>Why.</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => DriftSubjects.Of(Model, Version);
}

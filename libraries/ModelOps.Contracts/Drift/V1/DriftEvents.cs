namespace ModelOps.Contracts.Drift.V1;

/// <summary>One column's drift score in a window.</summary>
/// <param name="Column">The column.</param>
/// <param name="Method">How it was measured (KolmogorovSmirnov, NormedWasserstein, JensenShannon, ...).</param>
/// <param name="Statistic">The statistic or distance; null when it is unbounded (a chi-square over a category the reference never saw).</param>
/// <param name="PValue">The p-value, for a test.</param>
/// <param name="Threshold">The threshold it was judged against.</param>
public sealed record ColumnScore(string Column, string Method, double? Statistic, double? PValue, double Threshold);

/// <summary>A window of a model version's production traffic drifted from its reference, after one that had not.</summary>
public sealed record DriftDetected : Contracts.IntegrationEvent, IFinding
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
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("drift", nameof(DriftDetected), Model, Version, Severity);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", $"{Columns.Count} column(s) of {Model} version {Version} drifted (share {DriftShare:0.###}): {string.Join(", ", Columns.Select(c => c.Column))}"),
        ("drift_share", FindingLabels.Figure(DriftShare)),
        ("columns", string.Join(",", Columns.Select(c => c.Column))),
        ("prediction_drifted", PredictionDrifted ? "true" : "false"),
        ("window_start", WindowStart.ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
        ("window_end", WindowEnd.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));

    /// <inheritdoc />
    public bool Resolves => false;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

/// <summary>A window of a model version's traffic no longer drifted, after one that had.</summary>
public sealed record DriftResolved : Contracts.IntegrationEvent, IFinding
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
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    /// <remarks>Ends the version's DriftDetected alert, whatever its severity.</remarks>
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("drift", nameof(DriftDetected), Model, Version, null);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of();

    /// <inheritdoc />
    public bool Resolves => true;

    /// <inheritdoc />
    public TimeSpan? FiresFor => null;
}

/// <summary>
/// A concept-drift detector signalled a change in a watched model version's error stream (from labels joined to its
/// predictions): the relation between inputs and outcomes moved, whatever the inputs did.
/// </summary>
public sealed record ConceptDriftDetected : Contracts.IntegrationEvent, IFinding
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
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertLabels => ModelSubjects.Alert("drift", nameof(ConceptDriftDetected), Model, Version, "high");

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> AlertAnnotations => FindingLabels.Of(
        ("summary", $"{Detector} signalled a change in the errors of {Model} version {Version} (recent error {RecentError:0.####})"),
        ("detector", Detector),
        ("recent_error", FindingLabels.Figure(RecentError)),
        ("values", Values.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("predicted_at", PredictedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));

    /// <inheritdoc />
    public bool Resolves => false;

    /// <inheritdoc />
    /// <remarks>A detector signals a change, not a state: nothing announces its end, so the alert ends a day later.</remarks>
    public TimeSpan? FiresFor => TimeSpan.FromDays(1);
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
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model);
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
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);
}

/// <summary>One group's counts in a window of production traffic.</summary>
/// <param name="Values">The group's value of each sensitive column (null: missing).</param>
/// <param name="Records">Records with a prediction.</param>
/// <param name="Selected">Of those, predicted 1.</param>
/// <param name="TrueNegatives">Labelled 0, predicted 0 (labels joined by the time of the report).</param>
/// <param name="FalsePositives">Labelled 0, predicted 1.</param>
/// <param name="FalseNegatives">Labelled 1, predicted 0.</param>
/// <param name="TruePositives">Labelled 1, predicted 1.</param>
public sealed record GroupCounts(
    IReadOnlyDictionary<string, string?> Values, long Records, long Selected, long TrueNegatives, long FalsePositives, long FalseNegatives, long TruePositives);

/// <summary>
/// A window of a binary classifier's production traffic was reported, and its model's monitoring policy watches
/// fairness: the window's counts per group of the sensitive columns, for the fairness service to judge.
/// </summary>
public sealed record WindowGroupsReported : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's end.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <summary>A count window's number (count windows can share a start); null for a time window.</summary>
    public long? CountWindow { get; init; }

    /// <summary>The sensitive columns, in the policy's order.</summary>
    public required IReadOnlyList<string> SensitiveColumns { get; init; }

    /// <summary>The groups seen in the window: at most 2000, the largest by records.</summary>
    public required IReadOnlyList<GroupCounts> Groups { get; init; }

    /// <summary>How many smaller groups were left out of <see cref="Groups"/>.</summary>
    public long OmittedGroups { get; init; }

    /// <summary>The score at or above which a record is predicted 1.</summary>
    public required double DecisionThreshold { get; init; }

    /// <summary>The policy's minimum demographic parity ratio (0: the fairness service's default).</summary>
    public double MinRatio { get; init; }

    /// <summary>The policy's maximum equalized odds difference (0: the default).</summary>
    public double MaxDifference { get; init; }

    /// <summary>The policy's minimum group size (0: the default).</summary>
    public int MinGroupSize { get; init; }

    /// <summary>Whether the version is watched (in Production): only then is bias announced.</summary>
    public required bool Watched { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);
}

/// <summary>
/// A reported window of a version whose monitoring policy watches explainability holds a sample of its records, which
/// the explainability service reads from drift (GetWindowSample) and judges. The rows themselves are not in the event:
/// production values stay out of the ledger.
/// </summary>
public sealed record WindowSampled : Contracts.IntegrationEvent
{
    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>Its version.</summary>
    public required string Version { get; init; }

    /// <summary>The window's start.</summary>
    public required DateTimeOffset WindowStart { get; init; }

    /// <summary>The window's end.</summary>
    public required DateTimeOffset WindowEnd { get; init; }

    /// <summary>The window's records.</summary>
    public required long Records { get; init; }

    /// <summary>Rows in the sample.</summary>
    public required int Sampled { get; init; }

    /// <summary>A count window's number (GetWindowSample addresses it by that: count windows can share a start); null for a time window.</summary>
    public long? CountWindow { get; init; }

    /// <summary>The policy's largest importance shift (0: the explainability service's default).</summary>
    public double MaxShift { get; init; }

    /// <summary>The policy's top features compared (0: the default).</summary>
    public int TopK { get; init; }

    /// <summary>The policy's least share of the top features kept (0: the default).</summary>
    public double MinOverlap { get; init; }

    /// <summary>Whether the version is watched (in Production): only then is attribution drift announced.</summary>
    public required bool Watched { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => ModelSubjects.Of(Model, Version);
}

namespace ModelOps.Drift.Domain;

/// <summary>Configuration of the drift service (section <c>Drift</c>).</summary>
public sealed class DriftOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Drift";

    /// <summary>How often closed windows are looked for and reported.</summary>
    public TimeSpan ReportEvery { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Share of drifted columns at which the dataset as a whole drifts (severity high).</summary>
    public double DatasetThreshold { get; set; } = 0.5;

    /// <summary>How long a prediction kept for its label waits for it; older ones are forgotten.</summary>
    public TimeSpan PredictionRetention { get; set; } = TimeSpan.FromDays(7);
}

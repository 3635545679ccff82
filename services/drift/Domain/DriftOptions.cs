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

    /// <summary>
    /// Most distinct values of a numeric column that references and windows keep exactly (0 to 100,000; default
    /// 100,000): below it every statistic is that of the rows. Every partial profile carries its values until its
    /// window passes the cap, so a lower cap ingests faster where exactness matters less; 0 keeps histograms only.
    /// </summary>
    public int ExactValues { get; set; } = Profiles.ColumnProfile.ExactCap;

    /// <summary>How long a prediction kept for its label waits for it; older ones are forgotten.</summary>
    public TimeSpan PredictionRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a window's sample of records (an explainability watch's) is kept for the explainability service.</summary>
    public TimeSpan SampleRetention { get; set; } = TimeSpan.FromDays(7);
}

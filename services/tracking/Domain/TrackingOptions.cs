namespace ModelOps.Tracking.Domain;

/// <summary>Configuration of the tracking service (section <c>Tracking</c>).</summary>
public sealed class TrackingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Tracking";

    /// <summary>
    /// The provenance fields a run must have, by name (see <see cref="ProvenanceFields.All"/>); every one of them by
    /// default. <c>GetProvenance</c> lists those a run lacks.
    /// </summary>
    public List<string>? MandatoryProvenance { get; set; }

    /// <summary>The largest artifact accepted, in bytes: 5 GiB by default (the largest single copy an S3 store makes).</summary>
    public long MaxArtifactBytes { get; set; } = 5L << 30;

    /// <summary>The mandatory fields in effect.</summary>
    public IReadOnlyList<string> Mandatory => MandatoryProvenance is { Count: > 0 } fields ? fields : ProvenanceFields.All;
}

/// <summary>The limits of one <c>LogBatch</c>, at least MLflow's.</summary>
public static class Limits
{
    /// <summary>Most metrics in one batch.</summary>
    public const int MaxMetricsPerBatch = 1000;

    /// <summary>Most params in one batch.</summary>
    public const int MaxParamsPerBatch = 100;

    /// <summary>Most tags in one batch.</summary>
    public const int MaxTagsPerBatch = 100;

    /// <summary>Most dataset inputs in one batch.</summary>
    public const int MaxInputsPerBatch = 20;

    /// <summary>Longest key of a param, metric or tag, and longest experiment or run name.</summary>
    public const int MaxKeyLength = 250;

    /// <summary>Longest param value.</summary>
    public const int MaxParamValueLength = 6000;

    /// <summary>Longest tag value.</summary>
    public const int MaxTagValueLength = 8000;

    /// <summary>Longest provenance or dataset string (a URI, a digest, an id).</summary>
    public const int MaxProvenanceValueLength = 2000;

    /// <summary>Most points one metric history returns without downsampling.</summary>
    public const int MaxHistoryPoints = 100_000;
}

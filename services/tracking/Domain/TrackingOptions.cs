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

/// <summary>
/// The limits of every tracking input, at least MLflow's where MLflow has one. Lengths count UTF-16 code units; every
/// limit holds for any text, compressible or not (no index holds a value whole).
/// </summary>
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

    /// <summary>Longest provenance string (a URI, a digest, an id, a command).</summary>
    public const int MaxProvenanceValueLength = 2000;

    /// <summary>Largest provenance record, as protobuf JSON in UTF-8: it travels whole in RunStarted to the ledger.</summary>
    public const int MaxProvenanceBytes = 64 * 1024;

    /// <summary>Most feature groups of a provenance record or a dataset input, and most seeds.</summary>
    public const int MaxListItems = 100;

    /// <summary>Longest dataset id of an input.</summary>
    public const int MaxDatasetIdLength = 250;

    /// <summary>Longest dataset hash (digest) of an input.</summary>
    public const int MaxDatasetHashLength = 128;

    /// <summary>Longest context of an input ("training", "validation", ...).</summary>
    public const int MaxContextLength = 64;

    /// <summary>Longest search filter; a longer one is refused before it is parsed.</summary>
    public const int MaxFilterLength = 4000;

    /// <summary>Deepest nesting of parentheses a filter may have.</summary>
    public const int MaxFilterDepth = 32;

    /// <summary>Most comparisons one filter may make.</summary>
    public const int MaxFilterComparisons = 100;

    /// <summary>Most ordering keys of a search.</summary>
    public const int MaxOrderKeys = 5;

    /// <summary>Most experiments one search names.</summary>
    public const int MaxSearchExperiments = 100;

    /// <summary>Latest metric timestamp: 9999-12-31T23:59:59.999Z in milliseconds since the epoch.</summary>
    public const long MaxTimestampMs = 253_402_300_799_999;

    /// <summary>Longest client request id (an idempotency key).</summary>
    public const int MaxRequestIdLength = 128;

    /// <summary>Most points one metric history returns without downsampling.</summary>
    public const int MaxHistoryPoints = 100_000;
}

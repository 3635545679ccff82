using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Grpc;

/// <summary>
/// Checks of what clients send to tracking, each adding its violations to the request's list; names and keys come back
/// (or are rewritten in place) in NFC, the form in which they are compared and stored.
/// </summary>
internal static class TrackingRequests
{
    /// <summary>An experiment id, or a violation of <paramref name="field"/>.</summary>
    public static long ExperimentId(FieldViolations violations, string text, string field = "experiment_id")
    {
        violations.Require(RunIds.TryParseExperiment(text, out var id), field, "must be an experiment id (a positive integer)");
        return id;
    }

    /// <summary>An experiment id, or INVALID_ARGUMENT.</summary>
    public static long ExperimentId(string text)
    {
        var violations = new FieldViolations();
        var id = ExperimentId(violations, text);
        violations.ThrowIfAny();
        return id;
    }

    /// <summary>A run id, or a violation of <paramref name="field"/>.</summary>
    public static Guid RunId(FieldViolations violations, string text, string field = "run_id")
    {
        violations.Require(RunIds.TryParse(text, out var id), field, "must be a run id (32 hex digits)");
        return id;
    }

    /// <summary>A run id, or INVALID_ARGUMENT.</summary>
    public static Guid RunId(string text)
    {
        var violations = new FieldViolations();
        var id = RunId(violations, text);
        violations.ThrowIfAny();
        return id;
    }

    /// <summary>A key (of a param, metric, tag or seed) or an experiment or run name: 1 to 250 characters, a name's rules.</summary>
    public static string Key(FieldViolations violations, string field, string key, bool required = true) =>
        TextRules.Name(violations, field, key, Limits.MaxKeyLength, required);

    /// <summary>A client request id (an idempotency key): empty, or 1 to 128 characters under a name's rules.</summary>
    public static string RequestId(FieldViolations violations, string field, string value) =>
        TextRules.Name(violations, field, value, Limits.MaxRequestIdLength, required: false);

    /// <summary>Tags as a map (of a run or an experiment): at most 100, keys as keys, values free text up to 8000 characters.</summary>
    public static void Tags(FieldViolations violations, string field, MapField<string, string> tags)
    {
        violations.Require(tags.Count <= Limits.MaxTagsPerBatch, field, $"at most {Limits.MaxTagsPerBatch} tags");
        var normalised = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in tags.Take(Limits.MaxTagsPerBatch))
        {
            var at = $"{field}[{TextRules.Clip(key, 40)}]";
            var name = Key(violations, at, key);
            TextRules.FreeText(violations, at, value, Limits.MaxTagValueLength);
            violations.Require(normalised.TryAdd(name, value), at, "names a key twice (once its NFC form is taken)");
        }

        if (!violations.Any)
        {
            tags.Clear();
            tags.Add(normalised);
        }
    }

    /// <summary>Params or tags of a batch: keys as keys, values free text; a key twice with two values is refused.</summary>
    public static void Pairs(FieldViolations violations, string field, IReadOnlyList<(string Key, string Value)> pairs, int maxValue,
        Action<int, string> setKey)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < pairs.Count; i++)
        {
            var (key, value) = pairs[i];
            var name = Key(violations, $"{field}[{i}].key", key);
            TextRules.FreeText(violations, $"{field}[{i}].value", value, maxValue);
            if (seen.TryGetValue(name, out var first) && first != value)
            {
                violations.Add($"{field}[{i}].value", $"{TextRules.Echo(name)} appears twice in the batch with different values");
            }

            seen.TryAdd(name, value);
            setKey(i, name);
        }
    }

    /// <summary>Metrics to be logged: keys, steps and timestamps; those without a timestamp are stamped with the current time.</summary>
    public static void Metrics(FieldViolations violations, string field, IList<Metric> metrics)
    {
        violations.Require(metrics.Count <= Limits.MaxMetricsPerBatch, field, $"at most {Limits.MaxMetricsPerBatch} metrics in one batch");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < metrics.Count && i < Limits.MaxMetricsPerBatch; i++)
        {
            var metric = metrics[i];
            metric.Key = Key(violations, $"{field}[{i}].key", metric.Key);
            violations.Require(metric.Step >= 0, $"{field}[{i}].step", "must not be negative");
            violations.Require(metric.Timestamp is >= 0 and <= Limits.MaxTimestampMs, $"{field}[{i}].timestamp",
                "must be milliseconds since the epoch up to year 9999, or 0 for now");
            if (metric.Timestamp == 0)
            {
                metric.Timestamp = now;
            }
        }
    }

    /// <summary>Dataset inputs of a batch.</summary>
    public static void Inputs(FieldViolations violations, IList<DatasetInput> inputs)
    {
        violations.Require(inputs.Count <= Limits.MaxInputsPerBatch, "inputs", $"at most {Limits.MaxInputsPerBatch} inputs in one batch");
        for (var i = 0; i < inputs.Count && i < Limits.MaxInputsPerBatch; i++)
        {
            var input = inputs[i];
            var at = $"inputs[{i}]";
            input.DatasetId = TextRules.Name(violations, $"{at}.dataset_id", input.DatasetId, Limits.MaxDatasetIdLength);
            input.Hash = TextRules.Name(violations, $"{at}.hash", input.Hash, Limits.MaxDatasetHashLength);
            input.SourceUri = TextRules.Name(violations, $"{at}.source_uri", input.SourceUri, Limits.MaxProvenanceValueLength, required: false);
            input.Context = TextRules.Name(violations, $"{at}.context", input.Context, Limits.MaxContextLength, required: false);
            Timestamps.Check(violations, $"{at}.snapshot_at", input.SnapshotAt);
            FeatureGroups(violations, $"{at}.feature_groups", input.FeatureGroups);
            Range(violations, $"{at}.time_range", input.TimeRange);
        }
    }

    /// <summary>A provenance record: every string bounded, lists and maps bounded, times valid, and at most 64 KiB as JSON.</summary>
    public static void Provenance(FieldViolations violations, Provenance? provenance)
    {
        if (provenance is null)
        {
            return;
        }

        foreach (var field in V1.Provenance.Descriptor.Fields.InFieldNumberOrder())
        {
            if (field.Accessor.GetValue(provenance) is string text)
            {
                var at = $"provenance.{field.Name}";
                if (FreeTextFields.Contains(field.Name))
                {
                    TextRules.FreeText(violations, at, text, Limits.MaxProvenanceValueLength);
                }
                else
                {
                    field.Accessor.SetValue(provenance, TextRules.Name(violations, at, text, Limits.MaxProvenanceValueLength, required: false));
                }
            }
        }

        Timestamps.Check(violations, "provenance.dataset_snapshot_at", provenance.DatasetSnapshotAt);
        Range(violations, "provenance.data_time_range", provenance.DataTimeRange);
        FeatureGroups(violations, "provenance.feature_groups", provenance.FeatureGroups);
        if (provenance.Split is { } split)
        {
            violations.Require(split.Train >= 0 && split.Validation >= 0 && split.Test >= 0 &&
                               double.IsFinite(split.Train + split.Validation + split.Test), "provenance.split", "parts must be finite and not negative");
            split.Method = TextRules.Name(violations, "provenance.split.method", split.Method, Limits.MaxKeyLength, required: false);
        }

        foreach (var (name, map) in new[] { ("hyperparameters", provenance.Hyperparameters), ("correlation_ids", provenance.CorrelationIds) })
        {
            violations.Require(map.Count <= Limits.MaxParamsPerBatch, $"provenance.{name}", $"at most {Limits.MaxParamsPerBatch} entries");
            foreach (var (key, value) in map.Take(Limits.MaxParamsPerBatch))
            {
                var at = $"provenance.{name}[{TextRules.Clip(key, 40)}]";
                Key(violations, at, key);
                TextRules.FreeText(violations, at, value, Limits.MaxParamValueLength);
            }
        }

        violations.Require(provenance.Seeds.Count <= Limits.MaxListItems, "provenance.seeds", $"at most {Limits.MaxListItems} seeds");
        foreach (var key in provenance.Seeds.Keys.Take(Limits.MaxListItems))
        {
            Key(violations, $"provenance.seeds[{TextRules.Clip(key, 40)}]", key);
        }

        if (!violations.Any && System.Text.Encoding.UTF8.GetByteCount(provenance.ToString()) > Limits.MaxProvenanceBytes)
        {
            violations.Add("provenance", $"is larger than {Limits.MaxProvenanceBytes} bytes as JSON");
        }
    }

    // Strings that are prose or command lines rather than identifiers.
    private static readonly HashSet<string> FreeTextFields = ["entry_point", "hardware", "egress_policy"];

    private static void FeatureGroups(FieldViolations violations, string field, RepeatedField<string> groups)
    {
        violations.Require(groups.Count <= Limits.MaxListItems, field, $"at most {Limits.MaxListItems} feature groups");
        for (var i = 0; i < groups.Count && i < Limits.MaxListItems; i++)
        {
            groups[i] = Key(violations, $"{field}[{i}]", groups[i]);
        }
    }

    private static void Range(FieldViolations violations, string field, TimeRange? range)
    {
        if (range is null)
        {
            return;
        }

        var start = Timestamps.Check(violations, $"{field}.start", range.Start);
        var end = Timestamps.Check(violations, $"{field}.end", range.End);
        violations.Require(start is null || end is null || start <= end, field, "its start lies after its end");
    }

    /// <summary>A timestamp's milliseconds since the epoch, when it is valid.</summary>
    public static long? Milliseconds(FieldViolations violations, string field, Timestamp? value) =>
        Timestamps.Check(violations, field, value)?.ToUnixTimeMilliseconds();
}

using ModelOps.Drift.Data;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>A record kept in a decision log: its request id, timestamp, numeric and boolean values (NaN: missing), labels ("": missing) and prediction.</summary>
public sealed record LoggedDecision(string RequestId, DateTimeOffset At, double[] Values, string[] Labels, double? Prediction);

/// <summary>
/// A model's decision log: every record ingested with a request id, kept for the policy's retention so that the
/// decision made for a request can be shown and explained later.
/// </summary>
public static class DecisionLogs
{
    /// <summary>Longest retention a policy may set, in days (ten years).</summary>
    public const int MaxRetentionDays = 3650;

    /// <summary>The retention of the policy's decision log, or null when it keeps none.</summary>
    public static TimeSpan? RetentionOf(MonitoringPolicy? policy) =>
        policy?.DecisionLog is { RetentionDays: > 0 } log ? TimeSpan.FromDays(log.RetentionDays) : null;

    /// <summary>The columns a decision keeps as numbers: the reference's numeric and boolean ones (a model's inputs).</summary>
    public static string[] NumberColumns(IReadOnlyList<ColumnSchema> schema) => WindowSamples.Columns(schema);

    /// <summary>The columns a decision keeps as labels: the reference's categorical ones.</summary>
    public static string[] LabelColumns(IReadOnlyList<ColumnSchema> schema) =>
        [.. schema.Where(c => c.Kind == Profiles.ColumnKind.Categorical).Select(c => c.Name)];

    /// <summary>A record's decision, or null when it has no request id.</summary>
    public static LoggedDecision? Of(
        string requestId, DateTimeOffset at, string[] numbers, string[] labels, string? prediction, Func<string, FeatureValue> value)
    {
        if (requestId.Length == 0)
        {
            return null;
        }

        var values = new double[numbers.Length];
        for (var c = 0; c < numbers.Length; c++)
        {
            values[c] = value(numbers[c]).Score ?? double.NaN;
        }

        var texts = new string[labels.Length];
        for (var c = 0; c < labels.Length; c++)
        {
            texts[c] = value(labels[c]).Label ?? "";
        }

        return new LoggedDecision(requestId, at, values, texts, prediction is null ? null : value(prediction).Score);
    }

    /// <summary>A stored decision as the API shows it.</summary>
    public static Decision ToProto(
        string model, string version, string requestId, DateTimeOffset at, string[] columns, double[] values, string[] labelColumns, string[] labels,
        double? prediction, double? threshold, DateTimeOffset expires)
    {
        var decision = new Decision
        {
            Model = model, Version = version, RequestId = requestId, DecidedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(at),
            ExpiresAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(expires),
        };
        decision.Columns.Add(columns);
        decision.Values.Add(values);
        decision.LabelColumns.Add(labelColumns);
        decision.Labels.Add(labels);
        if (prediction is { } p)
        {
            decision.Prediction = p;
        }

        if (threshold is { } t)
        {
            decision.Threshold = t;
            if (prediction is { } score)
            {
                decision.Decision_ = score >= t;
            }
        }

        return decision;
    }
}

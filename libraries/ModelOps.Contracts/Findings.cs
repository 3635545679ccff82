using System.Globalization;

namespace ModelOps.Contracts;

/// <summary>
/// An event that someone should be told about: a finding (drift, bias, attribution drift), a request waiting for a
/// reviewer, a gate that failed, an integrity violation. Alerting subscribes to this interface, not to a list of event
/// types, and turns each finding into an alert routed by its labels, so a new kind of finding reaches people by
/// implementing it, without a change to alerting.
/// </summary>
public interface IFinding : IIntegrationEvent
{
    /// <summary>
    /// The labels of the alert the finding raises (<c>alertname</c> first of all, then <c>model</c>, <c>version</c>,
    /// <c>severity</c>, ...); when <see cref="Resolves"/>, the labels every alert it ends has.
    /// </summary>
    IReadOnlyDictionary<string, string> AlertLabels { get; }

    /// <summary>What a person reads: <c>summary</c>, <c>description</c>, figures.</summary>
    IReadOnlyDictionary<string, string> AlertAnnotations { get; }

    /// <summary>Whether the event ends firing alerts (the drift went away, the request was decided) rather than raising one.</summary>
    bool Resolves { get; }

    /// <summary>How long the alert it raises fires unless resolved sooner; null: until an event resolves it.</summary>
    TimeSpan? FiresFor { get; }
}

/// <summary>Well-known alert labels and helpers for writing findings.</summary>
public static class FindingLabels
{
    /// <summary>The alert's name: what kind of finding it is.</summary>
    public const string AlertName = "alertname";

    /// <summary>Which service found it.</summary>
    public const string Source = "source";

    /// <summary>critical, high, warning or info.</summary>
    public const string Severity = "severity";

    /// <summary>The model.</summary>
    public const string Model = "model";

    /// <summary>Its version.</summary>
    public const string Version = "version";

    /// <summary>A promotion request.</summary>
    public const string Request = "request_id";

    /// <summary>A map of the pairs given, skipping null values.</summary>
    public static IReadOnlyDictionary<string, string> Of(params (string Key, string? Value)[] pairs)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            if (value is not null)
            {
                map[key] = value;
            }
        }

        return map;
    }

    /// <summary>A figure as annotations carry it: invariant, round-trippable.</summary>
    public static string Figure(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

// What every finding about a model is about (the model, and the version when there is one), and its alert's labels.
internal static class ModelSubjects
{
    public static IReadOnlyDictionary<string, string> Of(string model, string? version = null) => version is null
        ? new Dictionary<string, string> { [SubjectKeys.Model] = model }
        : new Dictionary<string, string> { [SubjectKeys.Model] = model, [SubjectKeys.ModelVersion] = $"{model}/{version}" };

    public static IReadOnlyDictionary<string, string> Alert(string source, string name, string model, string version, string? severity) => FindingLabels.Of(
        (FindingLabels.AlertName, name), (FindingLabels.Source, source), (FindingLabels.Model, model), (FindingLabels.Version, version),
        (FindingLabels.Severity, severity));
}

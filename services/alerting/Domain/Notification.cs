using System.Globalization;
using System.Text.Json;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// What one notification tells a receiver about a group: Alertmanager's template data (receiver, status, alerts,
/// group and common labels and annotations, external URL) and group key, from which each receiver builds its vendor's
/// payload.
/// </summary>
public sealed record Notification
{
    /// <summary>The receiver's name.</summary>
    public required string Receiver { get; init; }

    /// <summary>Alertmanager's group key (<c>route key:group labels</c>).</summary>
    public required string GroupKey { get; init; }

    /// <summary>The labels the group is keyed by.</summary>
    public required LabelSet GroupLabels { get; init; }

    /// <summary>The alerts, in Alertmanager's order; a firing alert's end is unset, as Alertmanager sends it.</summary>
    public required IReadOnlyList<Alert> Alerts { get; init; }

    /// <summary>When the notification was decided; alerts ended by then are resolved.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>Where the alerting service is reached from outside.</summary>
    public required string ExternalUrl { get; init; }

    /// <summary><c>firing</c> while any alert fires, else <c>resolved</c>.</summary>
    public string Status => Alerts.Any(a => !a.ResolvedAt(At)) ? "firing" : "resolved";

    /// <summary>
    /// The line chat receivers head a message with, in Alertmanager's default title's manner:
    /// <c>[FIRING:2] DriftDetected model=credit</c> (the alert name and the other group labels), <c>[RESOLVED] …</c>.
    /// </summary>
    public string Title =>
        ($"[{Status.ToUpperInvariant()}{(Status == "firing" ? $":{Alerts.Count(a => !a.ResolvedAt(At))}" : "")}] " +
         $"{(CommonLabels.TryGetValue("alertname", out var name) ? name : "")} " +
         string.Join(' ', GroupLabels.Labels.Where(l => l.Key != "alertname").Select(l => $"{l.Key}={l.Value}"))).Trim();

    /// <summary>The annotations shown as links when they hold a URL, and their captions.</summary>
    public static readonly IReadOnlyList<(string Annotation, string Caption)> LinkAnnotations =
        [("report_url", "Report"), ("trace_url", "Trace"), ("runbook_url", "Runbook"), ("dashboard_url", "Dashboard")];

    /// <summary>
    /// The links of <paramref name="alert"/> every receiver shows: its report, trace, runbook and dashboard annotations,
    /// then its source (<c>generatorURL</c>); only absolute http(s) URLs of at most <paramref name="maxUrl"/> characters.
    /// </summary>
    public static IEnumerable<(string Caption, string Url)> LinksOf(Alert alert, int maxUrl = 3000) =>
        LinkAnnotations.Where(l => alert.Annotations.TryGetValue(l.Annotation, out var url) && IsLink(url, maxUrl))
            .Select(l => (l.Caption, alert.Annotations[l.Annotation]))
            .Concat(IsLink(alert.GeneratorUrl, maxUrl) ? [("Source", alert.GeneratorUrl!)] : []);

    private static bool IsLink(string? url, int maxUrl) =>
        url is { Length: > 0 } && url.Length <= maxUrl && Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";

    /// <summary>The status of one alert.</summary>
    public string StatusOf(Alert alert) => alert.ResolvedAt(At) ? "resolved" : "firing";

    /// <summary>The labels every alert has with the same value.</summary>
    public IReadOnlyDictionary<string, string> CommonLabels => Common(Alerts.Select(a => a.Labels.Labels).ToList());

    /// <summary>The annotations every alert has with the same value.</summary>
    public IReadOnlyDictionary<string, string> CommonAnnotations => Common(Alerts.Select(a => a.Annotations).ToList());

    /// <summary>
    /// The alerts of a group as Alertmanager orders them in a notification (<c>dispatch.alertsSlice</c>): by the
    /// <c>job</c> label, then <c>instance</c> (an alert with the label first), then by their label sets.
    /// </summary>
    public static List<Alert> Ordered(IEnumerable<Alert> alerts)
    {
        var list = alerts.ToList();
        // A stable sort, as Go's sort.Stable.
        return [.. list.Select((a, i) => (a, i)).OrderBy(x => x.a, Comparer<Alert>.Create(Compare)).ThenBy(x => x.i).Select(x => x.a)];

        static int Compare(Alert x, Alert y)
        {
            foreach (var key in new[] { "job", "instance" })
            {
                bool xHas = x.Labels.Contains(key), yHas = y.Labels.Contains(key);
                if (!xHas && !yHas)
                {
                    continue;
                }

                if (xHas != yHas)
                {
                    return xHas ? -1 : 1;
                }

                var byValue = string.CompareOrdinal(x.Labels[key], y.Labels[key]);
                if (byValue != 0)
                {
                    return byValue;
                }
            }

            return Before(x.Labels, y.Labels);
        }

        // Prometheus's LabelSet.Before: label by label in name order, names then values, a prefix first.
        static int Before(LabelSet x, LabelSet y)
        {
            using var a = x.Labels.GetEnumerator();
            using var b = y.Labels.GetEnumerator();
            while (true)
            {
                bool hasA = a.MoveNext(), hasB = b.MoveNext();
                if (!hasA || !hasB)
                {
                    return hasA == hasB ? 0 : hasA ? 1 : -1;
                }

                var byName = string.CompareOrdinal(a.Current.Key, b.Current.Key);
                if (byName != 0)
                {
                    return byName;
                }

                var byValue = string.CompareOrdinal(a.Current.Value, b.Current.Value);
                if (byValue != 0)
                {
                    return byValue;
                }
            }
        }
    }

    /// <summary>An instant as Go's RFC 3339 with fractional seconds in UTC; the zero time for an unset end.</summary>
    public static string Time(DateTimeOffset? at) => at is { } value
        ? value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture)
        : "0001-01-01T00:00:00Z";

    /// <summary>Writes one alert of the notification in Alertmanager's template form.</summary>
    public void WriteAlert(Utf8JsonWriter json, Alert alert)
    {
        json.WriteStartObject();
        json.WriteString("status", StatusOf(alert));
        WriteMap(json, "labels", alert.Labels.Labels);
        WriteMap(json, "annotations", alert.Annotations);
        json.WriteString("startsAt", Time(alert.StartsAt));
        json.WriteString("endsAt", Time(alert.ResolvedAt(At) ? alert.EndsAt : null));
        json.WriteString("generatorURL", alert.GeneratorUrl ?? "");
        json.WriteString("fingerprint", alert.Labels.FingerprintText());
        json.WriteEndObject();
    }

    /// <summary>Writes a map with its keys in order.</summary>
    public static void WriteMap(Utf8JsonWriter json, string name, IReadOnlyDictionary<string, string> map)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
    }

    private static SortedDictionary<string, string> Common(List<IReadOnlyDictionary<string, string>> maps)
    {
        var common = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (maps.Count == 0)
        {
            return common;
        }

        foreach (var (key, value) in maps[0])
        {
            if (maps.All(m => m.TryGetValue(key, out var other) && other == value))
            {
                common[key] = value;
            }
        }

        return common;
    }
}

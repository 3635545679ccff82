using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// A PagerDuty Events API v2 event for a group: <c>trigger</c> while something fires, <c>resolve</c> once nothing does,
/// both with the same <c>dedup_key</c> (the SHA-256 of the group key, as Alertmanager's), so PagerDuty keeps one
/// incident per group. The summary is at most 1024 characters; the severity is the group's worst <c>severity</c> label
/// mapped onto PagerDuty's four, unless the integration fixes one. The routing key is a secret, added when the event
/// is sent (<see cref="RoutingKeyField"/>), never stored with it.
/// </summary>
public static class PagerDutyPayload
{
    /// <summary>PagerDuty's limits.</summary>
    public const int MaxSummary = 1024, MaxDedupKey = 255, MaxDetails = 16_000;

    /// <summary>The field the sender fills with the routing key.</summary>
    public const string RoutingKeyField = "routing_key";

    /// <summary>Alertmanager's dedup key for a group: the hex SHA-256 of its key.</summary>
    public static string DedupKey(string groupKey) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(groupKey)));

    /// <summary>PagerDuty's severity for an alert's <c>severity</c> label (error when it has none PagerDuty knows).</summary>
    public static string Severity(string? label) => label?.ToLowerInvariant() switch
    {
        "critical" or "page" or "fatal" => "critical",
        "warning" or "warn" => "warning",
        "info" or "informational" or "none" or "low" => "info",
        _ => "error",
    };

    /// <summary>The event for <paramref name="notification"/>, without its routing key.</summary>
    public static byte[] Build(Notification notification, PagerDutyConfig settings)
    {
        var firing = notification.Alerts.Where(a => !a.ResolvedAt(notification.At)).ToList();
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event_action", firing.Count > 0 ? "trigger" : "resolve");
            json.WriteString("dedup_key", DedupKey(notification.GroupKey));
            if (firing.Count > 0)
            {
                var severity = settings.Severity ?? firing.Select(a => Severity(a.Labels.Contains("severity") ? a.Labels["severity"] : null))
                    .OrderBy(s => PagerDutyConfig.Severities.ToList().IndexOf(s)).First();
                json.WriteStartObject("payload");
                json.WriteString("summary", SlackPayload.Cut(Summary(notification, firing), MaxSummary));
                json.WriteString("source", notification.ExternalUrl);
                json.WriteString("severity", severity);
                json.WriteString("timestamp", Notification.Time(firing.Min(a => a.StartsAt)));
                if (notification.CommonLabels.TryGetValue("model", out var model))
                {
                    json.WriteString("component", model);
                }

                json.WriteString("group", notification.Receiver);
                if (notification.CommonLabels.TryGetValue("alertname", out var alertname))
                {
                    json.WriteString("class", alertname);
                }

                json.WriteStartObject("custom_details");
                json.WriteNumber("num_firing", firing.Count);
                json.WriteNumber("num_resolved", notification.Alerts.Count - firing.Count);
                json.WriteString("firing", SlackPayload.Cut(string.Join("\n", firing.Select(Describe)), MaxDetails));
                Notification.WriteMap(json, "common_labels", notification.CommonLabels);
                Notification.WriteMap(json, "common_annotations", notification.CommonAnnotations);
                json.WriteEndObject();
                json.WriteEndObject();
                json.WriteString("client", settings.Client);
                json.WriteString("client_url", settings.ClientUrl ?? notification.ExternalUrl);
                var links = firing.SelectMany(a => Notification.LinksOf(a)).DistinctBy(l => l.Url).Take(10).ToList();
                json.WriteStartArray("links");
                foreach (var (text, href) in links)
                {
                    json.WriteStartObject();
                    json.WriteString("href", href);
                    json.WriteString("text", text);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static string Summary(Notification notification, List<Alert> firing)
    {
        var name = notification.CommonLabels.TryGetValue("alertname", out var n) ? n : "alerts";
        var labels = string.Join(' ', notification.GroupLabels.Labels.Where(l => l.Key != "alertname").Select(l => $"{l.Key}={l.Value}"));
        var summary = firing.Count == 1 && firing[0].Annotations.TryGetValue("summary", out var s) ? $": {s}" : "";
        return $"[FIRING:{firing.Count}] {name} {labels}{summary}".Replace("  ", " ", StringComparison.Ordinal);
    }

    private static string Describe(Alert alert) =>
        $"{alert.Labels} {(alert.Annotations.TryGetValue("summary", out var s) ? s : "")}".Trim();
}

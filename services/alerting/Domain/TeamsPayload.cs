using System.Text.Json;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// A Microsoft Teams incoming-webhook message carrying an Adaptive Card (schema 1.4): a title (<c>[FIRING:2]
/// DriftDetected</c> and the group's labels), for each alert its summary and a fact set of its labels and figures, and
/// buttons (<c>Action.OpenUrl</c>) to the first alert's links. Teams refuses a message over 28 KB: alerts are added
/// while the card stays under <see cref="MaxBytes"/>, and the rest are counted.
/// </summary>
public static class TeamsPayload
{
    /// <summary>The largest message Teams accepts, less a margin for its envelope.</summary>
    public const int MaxBytes = 27_000;

    /// <summary>The message for <paramref name="notification"/>.</summary>
    public static byte[] Build(Notification notification)
    {
        var shown = notification.Alerts.Count;
        while (true)
        {
            var message = Write(notification, shown);
            if (message.Length <= MaxBytes || shown == 0)
            {
                return message;
            }

            // Fewer alerts until it fits, in proportion to the excess.
            shown = Math.Min(shown - 1, (int)(shown * (double)MaxBytes / message.Length));
        }
    }

    private static byte[] Write(Notification notification, int shown)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "message");
            json.WriteStartArray("attachments");
            json.WriteStartObject();
            json.WriteString("contentType", "application/vnd.microsoft.card.adaptive");
            json.WriteNull("contentUrl");
            json.WriteStartObject("content");
            json.WriteString("$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
            json.WriteString("type", "AdaptiveCard");
            json.WriteString("version", "1.4");
            json.WriteStartArray("body");
            TextBlock(json, notification.Title, large: true, notification.Status == "firing" ? "attention" : "good");
            foreach (var alert in notification.Alerts.Take(shown))
            {
                TextBlock(json, alert.Annotations.TryGetValue("summary", out var summary) ? summary : alert.Labels["alertname"], large: false,
                    notification.StatusOf(alert) == "firing" ? "attention" : "good");
                json.WriteStartObject();
                json.WriteString("type", "FactSet");
                json.WriteStartArray("facts");
                foreach (var (key, value) in alert.Labels.Labels.Where(l => l.Key != "alertname")
                             .Concat(alert.Annotations.Where(a => a.Key != "summary" && !a.Key.EndsWith("_url", StringComparison.Ordinal))))
                {
                    json.WriteStartObject();
                    json.WriteString("title", key);
                    json.WriteString("value", value);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            if (shown < notification.Alerts.Count)
            {
                TextBlock(json, $"…and {notification.Alerts.Count - shown} more alert(s) in this group.", large: false, "default");
            }

            TextBlock(json, $"Group {notification.GroupKey}", large: false, "default");
            json.WriteEndArray();
            var links = notification.Alerts.Take(Math.Max(shown, 1)).SelectMany(a => Notification.LinksOf(a)).DistinctBy(l => l.Caption).Take(5).ToList();
            json.WriteStartArray("actions");
            foreach (var (linkTitle, url) in links)
            {
                json.WriteStartObject();
                json.WriteString("type", "Action.OpenUrl");
                json.WriteString("title", linkTitle);
                json.WriteString("url", url);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void TextBlock(Utf8JsonWriter json, string text, bool large, string color)
    {
        json.WriteStartObject();
        json.WriteString("type", "TextBlock");
        json.WriteString("text", text);
        json.WriteBoolean("wrap", true);
        if (large)
        {
            json.WriteString("size", "Large");
            json.WriteString("weight", "Bolder");
        }

        json.WriteString("color", color);
        json.WriteEndObject();
    }
}

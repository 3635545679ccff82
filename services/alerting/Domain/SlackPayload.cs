using System.Text;
using System.Text.Json;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// A Slack incoming-webhook message with Block Kit blocks: a header (<c>[FIRING:2] DriftDetected</c> and the group's
/// labels), then for each alert its summary, its labels and figures as fields, and buttons to its links (report,
/// trace, runbook, source), and a closing context with the group key. Within Slack's documented limits: at most 50
/// blocks (alerts beyond those shown are counted), a header of 150 characters, section text of 3000, fields of 2000
/// (10 per section), buttons of 75 characters with URLs of 3000, and a fallback <c>text</c> for notifications.
/// </summary>
public static class SlackPayload
{
    /// <summary>Slack's limits (api.slack.com/reference/block-kit/blocks).</summary>
    public const int MaxBlocks = 50, MaxHeader = 150, MaxSectionText = 3000, MaxFieldText = 2000, MaxFields = 10, MaxButtonText = 75, MaxUrl = 3000,
        MaxButtons = 25;

    // Header, closing context and the "more alerts" note; each alert takes a section, and an actions block for its links.
    private const int FixedBlocks = 3;

    /// <summary>The message for <paramref name="notification"/>.</summary>
    public static byte[] Build(Notification notification, SlackConfig settings)
    {
        var title = Cut(notification.Title, MaxHeader);
        // As many alerts as their blocks allow.
        List<Alert> shown = [];
        var blocks = FixedBlocks;
        foreach (var alert in notification.Alerts)
        {
            var cost = Buttons(alert).Count > 0 ? 2 : 1;
            if (blocks + cost > MaxBlocks)
            {
                break;
            }

            blocks += cost;
            shown.Add(alert);
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            Optional(json, "channel", settings.Channel);
            Optional(json, "username", settings.Username);
            Optional(json, "icon_emoji", settings.IconEmoji);
            Optional(json, "icon_url", settings.IconUrl);
            json.WriteString("text", Cut(title, MaxSectionText));
            json.WriteStartArray("blocks");
            json.WriteStartObject();
            json.WriteString("type", "header");
            PlainText(json, "text", title);
            json.WriteEndObject();
            foreach (var alert in shown)
            {
                WriteAlert(json, notification, alert);
            }

            if (notification.Alerts.Count > shown.Count)
            {
                Context(json, $"…and {notification.Alerts.Count - shown.Count} more alert(s) in this group.");
            }

            Context(json, $"Group `{Escape(notification.GroupKey)}` · <{notification.ExternalUrl}|ModelOps alerting>");
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteAlert(Utf8JsonWriter json, Notification notification, Alert alert)
    {
        var status = notification.StatusOf(alert) == "firing" ? ":red_circle:" : ":large_green_circle:";
        var summary = alert.Annotations.TryGetValue("summary", out var s) ? s : alert.Labels["alertname"];
        var description = alert.Annotations.TryGetValue("description", out var d) ? $"\n{d}" : "";
        json.WriteStartObject();
        json.WriteString("type", "section");
        Markdown(json, "text", Cut($"{status} *{Escape(summary)}*{Escape(description)}", MaxSectionText));
        // Labels, then the figures among the annotations; links get buttons.
        var fields = alert.Labels.Labels.Where(l => l.Key != "alertname")
            .Concat(alert.Annotations.Where(a => a.Key is not ("summary" or "description") && Notification.LinkAnnotations.All(l => l.Annotation != a.Key)))
            .Take(MaxFields).ToList();
        if (fields.Count > 0)
        {
            json.WriteStartArray("fields");
            foreach (var (key, value) in fields)
            {
                json.WriteStartObject();
                json.WriteString("type", "mrkdwn");
                json.WriteString("text", Cut($"*{Escape(key)}*\n{Escape(value)}", MaxFieldText));
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();

        var buttons = Buttons(alert);
        if (buttons.Count > 0)
        {
            json.WriteStartObject();
            json.WriteString("type", "actions");
            json.WriteStartArray("elements");
            foreach (var (caption, url) in buttons)
            {
                json.WriteStartObject();
                json.WriteString("type", "button");
                PlainText(json, "text", Cut(caption, MaxButtonText));
                json.WriteString("url", url);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }
    }

    private static List<(string Caption, string Url)> Buttons(Alert alert) => [.. Notification.LinksOf(alert, MaxUrl).Take(MaxButtons)];

    private static void Context(Utf8JsonWriter json, string markdown)
    {
        json.WriteStartObject();
        json.WriteString("type", "context");
        json.WriteStartArray("elements");
        json.WriteStartObject();
        json.WriteString("type", "mrkdwn");
        json.WriteString("text", Cut(markdown, MaxSectionText));
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void PlainText(Utf8JsonWriter json, string name, string text)
    {
        json.WriteStartObject(name);
        json.WriteString("type", "plain_text");
        json.WriteString("text", text.Length == 0 ? " " : text);
        json.WriteBoolean("emoji", true);
        json.WriteEndObject();
    }

    private static void Markdown(Utf8JsonWriter json, string name, string text)
    {
        json.WriteStartObject(name);
        json.WriteString("type", "mrkdwn");
        json.WriteString("text", text);
        json.WriteEndObject();
    }

    private static void Optional(Utf8JsonWriter json, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            json.WriteString(name, value);
        }
    }

    // Slack's mrkdwn reserves &, < and >.
    private static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    /// <summary><paramref name="text"/> cut to <paramref name="max"/> characters, an ellipsis marking the cut (never inside a surrogate pair).</summary>
    public static string Cut(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var end = max - 1;
        if (char.IsHighSurrogate(text[end - 1]))
        {
            end--;
        }

        return new StringBuilder(text, 0, end, max).Append('…').ToString();
    }
}

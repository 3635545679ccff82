using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// An e-mail for a group: the subject (<see cref="Notification.Title"/>), a plain-text part and an HTML part listing
/// each alert with its labels, figures and links (every value HTML-escaped), a Message-ID of its own that a repeated
/// attempt keeps (so mail systems can drop a duplicate), and a <c>References</c> header naming the group, so mail
/// clients thread a group's notifications together. Senders and recipients come from the integration when it is sent.
/// </summary>
public static class EmailPayload
{
    /// <summary>At most this many alerts are listed; the others are counted.</summary>
    public const int MaxAlerts = 200;

    // RFC 5322 advises lines of at most 78 characters; a subject is one header line.
    private const int MaxSubject = 200;

    /// <summary>The stored message for <paramref name="notification"/>.</summary>
    public static byte[] Build(Notification notification)
    {
        var group = PagerDutyPayload.DedupKey(notification.GroupKey)[..32];
        var shown = notification.Alerts.Take(MaxAlerts).ToList();
        var text = new StringBuilder();
        var html = new StringBuilder();
        text.Append(notification.Title).Append("\n\n");
        html.Append("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">")
            .Append("<h2>").Append(Html(notification.Title)).Append("</h2>");
        foreach (var alert in shown)
        {
            var summary = alert.Annotations.TryGetValue("summary", out var s) ? s : alert.Labels["alertname"];
            var status = notification.StatusOf(alert).ToUpperInvariant();
            text.Append('[').Append(status).Append("] ").Append(summary).Append('\n');
            html.Append("<h3>[").Append(status).Append("] ").Append(Html(summary)).Append("</h3>");
            if (alert.Annotations.TryGetValue("description", out var description) && description.Length > 0)
            {
                text.Append(description).Append('\n');
                html.Append("<p>").Append(Html(description)).Append("</p>");
            }

            html.Append("<table>");
            foreach (var (key, value) in alert.Labels.Labels.Where(l => l.Key != "alertname")
                         .Concat(alert.Annotations.Where(a => a.Key is not ("summary" or "description") && Notification.LinkAnnotations.All(l => l.Annotation != a.Key))))
            {
                text.Append("  ").Append(key).Append(": ").Append(value).Append('\n');
                html.Append("<tr><th align=\"left\">").Append(Html(key)).Append("</th><td>").Append(Html(value)).Append("</td></tr>");
            }

            html.Append("</table>");
            var links = Notification.LinksOf(alert).ToList();
            if (links.Count > 0)
            {
                html.Append("<p>").AppendJoin(" · ", links.Select(l => $"<a href=\"{Html(l.Url)}\">{Html(l.Caption)}</a>")).Append("</p>");
                foreach (var (caption, url) in links)
                {
                    text.Append("  ").Append(caption).Append(": ").Append(url).Append('\n');
                }
            }

            text.Append('\n');
        }

        if (shown.Count < notification.Alerts.Count)
        {
            var more = $"…and {notification.Alerts.Count - shown.Count} more alert(s) in this group.";
            text.Append(more).Append('\n');
            html.Append("<p>").Append(Html(more)).Append("</p>");
        }

        text.Append("Group ").Append(notification.GroupKey).Append('\n').Append(notification.ExternalUrl).Append('\n');
        html.Append("<p style=\"color:#666\">Group <code>").Append(Html(notification.GroupKey)).Append("</code> · ")
            .Append(Html(notification.ExternalUrl)).Append("</p></body></html>");

        var body = new JsonObject
        {
            ["subject"] = SlackPayload.Cut(notification.Title.ReplaceLineEndings(" "), MaxSubject),
            ["text"] = text.ToString(),
            ["html"] = html.ToString(),
            ["message_id"] = $"{group}.{notification.At.ToUnixTimeMilliseconds()}@modelops.alerting",
            ["references"] = $"{group}@modelops.alerting",
        };
        return Encoding.UTF8.GetBytes(body.ToJsonString());
    }

    private static string Html(string text) => WebUtility.HtmlEncode(text);
}

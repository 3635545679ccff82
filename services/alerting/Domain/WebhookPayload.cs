using System.Text.Json;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// Alertmanager's generic webhook message, version 4 (<c>notify/webhook.Message</c>): its template data, then
/// <c>version</c>, <c>groupKey</c> and <c>truncatedAlerts</c>, so that consumers written for Alertmanager work.
/// </summary>
public static class WebhookPayload
{
    /// <summary>The message for <paramref name="notification"/>, with at most <paramref name="maxAlerts"/> alerts (0: all).</summary>
    public static byte[] Build(Notification notification, int maxAlerts)
    {
        var alerts = notification.Alerts;
        var truncated = 0;
        if (maxAlerts > 0 && alerts.Count > maxAlerts)
        {
            truncated = alerts.Count - maxAlerts;
            alerts = [.. alerts.Take(maxAlerts)];
        }

        var shown = notification with { Alerts = alerts };
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("receiver", shown.Receiver);
            json.WriteString("status", shown.Status);
            json.WriteStartArray("alerts");
            foreach (var alert in alerts)
            {
                shown.WriteAlert(json, alert);
            }

            json.WriteEndArray();
            Notification.WriteMap(json, "groupLabels", shown.GroupLabels.Labels);
            Notification.WriteMap(json, "commonLabels", shown.CommonLabels);
            Notification.WriteMap(json, "commonAnnotations", shown.CommonAnnotations);
            json.WriteString("externalURL", shown.ExternalUrl);
            json.WriteString("version", "4");
            json.WriteString("groupKey", shown.GroupKey);
            json.WriteNumber("truncatedAlerts", truncated);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}

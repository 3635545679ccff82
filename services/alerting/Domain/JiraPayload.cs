using System.Text.Json.Nodes;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// What a Jira integration sends for a group, stored with the delivery: the issue's fields (project, issue type, a
/// one-line summary of at most 255 characters, a description in the Atlassian Document Format with each alert's labels,
/// figures and links, labels, priority), the label that finds the group's issue again, and, for a resolution, the
/// comment that closes it. The description stays under Jira's 32,767 characters however many alerts the group holds.
/// </summary>
public static class JiraPayload
{
    /// <summary>Jira's limits: a summary's characters, a text field's characters.</summary>
    public const int MaxSummary = 255, MaxText = 32_767;

    // What the description may spend on alerts, leaving room for the note on those left out and the group line.
    private const int AlertBudget = MaxText - 2_000;

    /// <summary>The label that marks the issue of a group: Alertmanager's <c>ALERT{hash}</c> form, with the group key's SHA-256.</summary>
    public static string GroupLabel(string groupKey) => $"ALERT{PagerDutyPayload.DedupKey(groupKey)}";

    /// <summary>The stored body for <paramref name="notification"/>.</summary>
    public static byte[] Build(Notification notification, JiraConfig settings)
    {
        var firing = notification.Status == "firing";
        var fields = new JsonObject
        {
            ["project"] = new JsonObject { ["key"] = settings.Project },
            ["issuetype"] = new JsonObject { ["name"] = settings.IssueType },
            ["summary"] = SlackPayload.Cut(notification.Title.ReplaceLineEndings(" "), MaxSummary),
            ["description"] = Description(notification),
            ["labels"] = new JsonArray([.. settings.Labels.Append(GroupLabel(notification.GroupKey)).Distinct().Select(l => (JsonNode)l)]),
        };
        if (settings.Priority is { } priority)
        {
            fields["priority"] = new JsonObject { ["name"] = priority };
        }

        var body = new JsonObject
        {
            ["group_label"] = GroupLabel(notification.GroupKey),
            ["firing"] = firing,
            ["fields"] = fields,
            ["comment"] = Document(Paragraph(Text(firing
                ? $"Firing again: {notification.Title}"
                : $"Resolved at {Notification.Time(notification.At)}: every alert of the group has ended."))),
        };
        return System.Text.Encoding.UTF8.GetBytes(body.ToJsonString());
    }

    /// <summary>An ADF document of <paramref name="blocks"/>.</summary>
    public static JsonObject Document(params JsonNode[] blocks) => new()
    {
        ["type"] = "doc",
        ["version"] = 1,
        ["content"] = new JsonArray(blocks),
    };

    private static JsonObject Description(Notification notification)
    {
        var firing = notification.Alerts.Count(a => !a.ResolvedAt(notification.At));
        List<JsonNode> blocks =
        [
            Paragraph(Text($"{firing} alert(s) firing, {notification.Alerts.Count - firing} resolved, for receiver {notification.Receiver}.")),
        ];
        var spent = 0;
        var shown = 0;
        foreach (var alert in notification.Alerts)
        {
            var alertBlocks = AlertBlocks(notification, alert);
            var cost = alertBlocks.Sum(b => b.ToJsonString().Length);
            if (spent + cost > AlertBudget)
            {
                break;
            }

            spent += cost;
            shown++;
            blocks.AddRange(alertBlocks);
        }

        if (shown < notification.Alerts.Count)
        {
            blocks.Add(Paragraph(Text($"…and {notification.Alerts.Count - shown} more alert(s) in this group.")));
        }

        blocks.Add(Uri.TryCreate(notification.ExternalUrl, UriKind.Absolute, out _)
            ? Paragraph(Text("Group "), Text(SlackPayload.Cut(notification.GroupKey, 500), new JsonObject { ["type"] = "code" }), Text(" · "), Text("alerting", Link(notification.ExternalUrl)))
            : Paragraph(Text("Group "), Text(SlackPayload.Cut(notification.GroupKey, 500), new JsonObject { ["type"] = "code" })));
        return Document([.. blocks]);
    }

    private static List<JsonNode> AlertBlocks(Notification notification, Alert alert)
    {
        var summary = alert.Annotations.TryGetValue("summary", out var s) ? s : alert.Labels["alertname"];
        List<JsonNode> blocks =
        [
            new JsonObject
            {
                ["type"] = "heading",
                ["attrs"] = new JsonObject { ["level"] = 3 },
                ["content"] = new JsonArray(Text(SlackPayload.Cut($"[{notification.StatusOf(alert).ToUpperInvariant()}] {summary}", 1_000))),
            },
        ];
        if (alert.Annotations.TryGetValue("description", out var description) && description.Length > 0)
        {
            blocks.Add(Paragraph(Text(SlackPayload.Cut(description, 4_000))));
        }

        var items = alert.Labels.Labels.Where(l => l.Key != "alertname")
            .Concat(alert.Annotations.Where(a => a.Key is not ("summary" or "description") && Notification.LinkAnnotations.All(l => l.Annotation != a.Key)))
            .Select(pair => new JsonObject
            {
                ["type"] = "listItem",
                ["content"] = new JsonArray(Paragraph(Text($"{pair.Key}: ", new JsonObject { ["type"] = "strong" }),
                    Text(SlackPayload.Cut(pair.Value.Length == 0 ? "\"\"" : pair.Value, 1_000)))),
            })
            .ToList();
        if (items.Count > 0)
        {
            blocks.Add(new JsonObject { ["type"] = "bulletList", ["content"] = new JsonArray([.. items]) });
        }

        var links = Notification.LinksOf(alert).ToList();
        if (links.Count > 0)
        {
            blocks.Add(Paragraph([.. links.SelectMany((l, i) => i == 0 ? [Text(l.Caption, Link(l.Url))] : new[] { Text(" · "), Text(l.Caption, Link(l.Url)) })]));
        }

        return blocks;
    }

    private static JsonObject Paragraph(params JsonNode[] inline) => new() { ["type"] = "paragraph", ["content"] = new JsonArray(inline) };

    private static JsonObject Link(string url) => new() { ["type"] = "link", ["attrs"] = new JsonObject { ["href"] = url } };

    // ADF refuses an empty text node.
    private static JsonObject Text(string text, params JsonObject[] marks)
    {
        var node = new JsonObject { ["type"] = "text", ["text"] = text.Length == 0 ? " " : text };
        if (marks.Length > 0)
        {
            node["marks"] = new JsonArray([.. marks]);
        }

        return node;
    }
}

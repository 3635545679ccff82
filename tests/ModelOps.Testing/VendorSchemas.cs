using System.Text.Json;

namespace ModelOps.Testing;

/// <summary>
/// What receivers' vendors document their payloads must be, checked as their APIs would check them: Slack's Block
/// Kit (api.slack.com/reference/block-kit/blocks and /block-kit/block-elements) and PagerDuty's Events API v2
/// (developer.pagerduty.com/docs/events-api-v2/trigger-events), and Microsoft Teams' incoming webhooks with Adaptive
/// Cards (learn.microsoft.com: "Create incoming webhooks", adaptivecards.io schema 1.4). Each returns the problems
/// found, none when valid.
/// </summary>
public static partial class VendorSchemas
{
    /// <summary>An incoming-webhook message: a fallback text, at most 50 blocks, each within its block's limits.</summary>
    public static List<string> Slack(JsonElement message)
    {
        List<string> problems = [];
        if (!message.TryGetProperty("text", out var text) || text.GetString() is not { Length: > 0 and <= 40_000 })
        {
            problems.Add("text: a fallback text of 1 to 40000 characters is required when blocks are sent");
        }

        if (!message.TryGetProperty("blocks", out var blocks) || blocks.ValueKind != JsonValueKind.Array)
        {
            problems.Add("blocks: missing");
            return problems;
        }

        if (blocks.GetArrayLength() > 50)
        {
            problems.Add($"blocks: {blocks.GetArrayLength()} blocks, at most 50");
        }

        var i = 0;
        foreach (var block in blocks.EnumerateArray())
        {
            var at = $"blocks[{i++}]";
            switch (block.GetProperty("type").GetString())
            {
                case "header":
                    TextObject(block.GetProperty("text"), at, 150, plainOnly: true, problems);
                    break;
                case "section":
                    var hasText = block.TryGetProperty("text", out var sectionText);
                    var hasFields = block.TryGetProperty("fields", out var fields);
                    if (!hasText && !hasFields)
                    {
                        problems.Add($"{at}: a section needs text or fields");
                    }

                    if (hasText)
                    {
                        TextObject(sectionText, at, 3000, plainOnly: false, problems);
                    }

                    if (hasFields)
                    {
                        if (fields.GetArrayLength() is 0 or > 10)
                        {
                            problems.Add($"{at}.fields: 1 to 10 fields");
                        }

                        foreach (var field in fields.EnumerateArray())
                        {
                            TextObject(field, $"{at}.fields", 2000, plainOnly: false, problems);
                        }
                    }

                    break;
                case "context":
                    var elements = block.GetProperty("elements");
                    if (elements.GetArrayLength() is 0 or > 10)
                    {
                        problems.Add($"{at}.elements: 1 to 10 elements");
                    }

                    foreach (var element in elements.EnumerateArray())
                    {
                        TextObject(element, $"{at}.elements", 3000, plainOnly: false, problems);
                    }

                    break;
                case "actions":
                    var buttons = block.GetProperty("elements");
                    if (buttons.GetArrayLength() is 0 or > 25)
                    {
                        problems.Add($"{at}.elements: 1 to 25 elements");
                    }

                    foreach (var button in buttons.EnumerateArray())
                    {
                        if (button.GetProperty("type").GetString() != "button")
                        {
                            problems.Add($"{at}: only buttons are expected");
                        }

                        TextObject(button.GetProperty("text"), $"{at}.button", 75, plainOnly: true, problems);
                        if (button.TryGetProperty("url", out var url) &&
                            (url.GetString() is not { Length: > 0 and <= 3000 } u || !Uri.TryCreate(u, UriKind.Absolute, out _)))
                        {
                            problems.Add($"{at}.button.url: an absolute URL of at most 3000 characters");
                        }
                    }

                    break;
                case "divider":
                    break;
                case var other:
                    problems.Add($"{at}: unexpected block type {other}");
                    break;
            }
        }

        return problems;
    }

    /// <summary>An Events API v2 event: trigger with a payload within its limits, or resolve; with a routing and dedup key.</summary>
    public static List<string> PagerDuty(JsonElement message, bool expectRoutingKey = true)
    {
        List<string> problems = [];
        if (expectRoutingKey && (!message.TryGetProperty("routing_key", out var key) || key.GetString() is not { Length: > 0 }))
        {
            problems.Add("routing_key: required");
        }

        var action = message.TryGetProperty("event_action", out var a) ? a.GetString() : null;
        if (action is not ("trigger" or "acknowledge" or "resolve"))
        {
            problems.Add($"event_action: {action ?? "missing"}, not trigger, acknowledge or resolve");
        }

        if (!message.TryGetProperty("dedup_key", out var dedup) || dedup.GetString() is not { Length: > 0 and <= 255 })
        {
            problems.Add("dedup_key: 1 to 255 characters (required to resolve)");
        }

        if (action == "trigger")
        {
            if (!message.TryGetProperty("payload", out var payload))
            {
                problems.Add("payload: required to trigger");
                return problems;
            }

            if (!payload.TryGetProperty("summary", out var summary) || summary.GetString() is not { Length: > 0 and <= 1024 })
            {
                problems.Add("payload.summary: 1 to 1024 characters");
            }

            if (!payload.TryGetProperty("source", out var source) || source.GetString() is not { Length: > 0 })
            {
                problems.Add("payload.source: required");
            }

            if (!payload.TryGetProperty("severity", out var severity) || severity.GetString() is not ("critical" or "error" or "warning" or "info"))
            {
                problems.Add("payload.severity: critical, error, warning or info");
            }

            if (payload.TryGetProperty("timestamp", out var timestamp) && !DateTimeOffset.TryParse(timestamp.GetString(), out _))
            {
                problems.Add("payload.timestamp: ISO 8601");
            }
        }

        return problems;
    }

    /// <summary>A Teams webhook message: one Adaptive Card attachment, at most 28 KB, with valid elements and actions.</summary>
    public static List<string> Teams(JsonElement message, int bytes)
    {
        List<string> problems = [];
        if (bytes > 28 * 1024)
        {
            problems.Add($"message: {bytes} bytes, at most 28 KB");
        }

        if (message.GetProperty("type").GetString() != "message")
        {
            problems.Add("type: must be message");
        }

        var attachments = message.GetProperty("attachments");
        if (attachments.GetArrayLength() != 1 || attachments[0].GetProperty("contentType").GetString() != "application/vnd.microsoft.card.adaptive")
        {
            problems.Add("attachments: one application/vnd.microsoft.card.adaptive attachment");
            return problems;
        }

        var card = attachments[0].GetProperty("content");
        if (card.GetProperty("type").GetString() != "AdaptiveCard" || card.GetProperty("version").GetString() is not ("1.0" or "1.2" or "1.3" or "1.4" or "1.5"))
        {
            problems.Add("content: an AdaptiveCard of a version Teams renders");
        }

        foreach (var element in card.GetProperty("body").EnumerateArray())
        {
            switch (element.GetProperty("type").GetString())
            {
                case "TextBlock" when element.GetProperty("text").GetString() is { Length: > 0 }:
                    break;
                case "FactSet" when element.GetProperty("facts").EnumerateArray()
                    .All(f => f.GetProperty("title").ValueKind == JsonValueKind.String && f.GetProperty("value").ValueKind == JsonValueKind.String):
                    break;
                case var other:
                    problems.Add($"body: invalid {other}");
                    break;
            }
        }

        if (card.TryGetProperty("actions", out var actions))
        {
            foreach (var action in actions.EnumerateArray())
            {
                if (action.GetProperty("type").GetString() != "Action.OpenUrl" || action.GetProperty("title").GetString() is not { Length: > 0 } ||
                    !Uri.TryCreate(action.GetProperty("url").GetString(), UriKind.Absolute, out _))
                {
                    problems.Add("actions: Action.OpenUrl with a title and an absolute url");
                }
            }
        }

        return problems;
    }

    private static void TextObject(JsonElement text, string at, int max, bool plainOnly, List<string> problems)
    {
        var type = text.GetProperty("type").GetString();
        if (type is not ("plain_text" or "mrkdwn") || (plainOnly && type != "plain_text"))
        {
            problems.Add($"{at}: text type {type}");
        }

        if (text.GetProperty("text").GetString() is not { Length: > 0 } value || value.Length > max)
        {
            problems.Add($"{at}: text of 1 to {max} characters");
        }
    }
}

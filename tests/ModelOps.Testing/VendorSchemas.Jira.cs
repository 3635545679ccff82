using System.Text.Json;

namespace ModelOps.Testing;

/// <summary>
/// Jira Cloud's REST API v3 (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues, "Create issue") and
/// the Atlassian Document Format it takes rich text in (developer.atlassian.com/cloud/jira/platform/apis/document/structure
/// and its JSON schema): the nodes, their allowed children and marks, non-empty text, absolute link targets.
/// </summary>
public static partial class VendorSchemas
{
    // A rich-text field's limit; checked on the document's JSON, which is at least as long as its text.
    private const int JiraMaxText = 32_767;

    private static readonly HashSet<string> AdfBlocks = ["paragraph", "heading", "bulletList", "orderedList", "codeBlock", "rule", "blockquote"];
    private static readonly HashSet<string> AdfMarks = ["strong", "em", "code", "link", "strike", "underline", "subsup", "textColor"];

    /// <summary>
    /// An issue's fields as sent to create (<paramref name="creating"/>: project and issue type required) or edit it: a
    /// one-line summary of 1 to 255 characters, an ADF description, labels of 1 to 255 characters without spaces, a
    /// priority by name or id.
    /// </summary>
    public static List<string> JiraFields(JsonElement fields, bool creating)
    {
        List<string> problems = [];
        if (creating)
        {
            if (!fields.TryGetProperty("project", out var project) || !HasString(project, "key") && !HasString(project, "id"))
            {
                problems.Add("fields.project: a key or an id is required");
            }

            if (!fields.TryGetProperty("issuetype", out var type) || !HasString(type, "name") && !HasString(type, "id"))
            {
                problems.Add("fields.issuetype: a name or an id is required");
            }
        }

        if (!fields.TryGetProperty("summary", out var summary) || summary.GetString() is not { Length: > 0 and <= 255 } text || text.Contains('\n') || text.Contains('\r'))
        {
            problems.Add("fields.summary: one line of 1 to 255 characters");
        }

        if (fields.TryGetProperty("description", out var description))
        {
            problems.AddRange(Adf(description).Select(p => $"fields.description: {p}"));
        }

        if (fields.TryGetProperty("labels", out var labels))
        {
            foreach (var label in labels.EnumerateArray())
            {
                if (label.GetString() is not { Length: > 0 and <= 255 } value || value.Any(char.IsWhiteSpace))
                {
                    problems.Add($"fields.labels: \"{label}\" is not a label (1 to 255 characters, no spaces)");
                }
            }
        }

        if (fields.TryGetProperty("priority", out var priority) && !HasString(priority, "name") && !HasString(priority, "id"))
        {
            problems.Add("fields.priority: a name or an id");
        }

        return problems;
    }

    /// <summary>An Atlassian Document Format document (version 1).</summary>
    public static List<string> Adf(JsonElement document)
    {
        List<string> problems = [];
        if (document.ValueKind != JsonValueKind.Object || !HasString(document, "type") || document.GetProperty("type").GetString() != "doc" ||
            !document.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != 1 ||
            !document.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array)
        {
            return ["a document is {type: doc, version: 1, content: [...]}"];
        }

        if (document.GetRawText().Length > JiraMaxText)
        {
            problems.Add($"{document.GetRawText().Length} characters, at most {JiraMaxText}");
        }

        foreach (var block in content.EnumerateArray())
        {
            Block(block, "content", problems);
        }

        return problems;
    }

    private static void Block(JsonElement node, string at, List<string> problems)
    {
        var type = node.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type is null || !AdfBlocks.Contains(type))
        {
            problems.Add($"{at}: {type ?? "a node without a type"} is not a block node");
            return;
        }

        var children = node.TryGetProperty("content", out var c) ? c.EnumerateArray().ToList() : [];
        switch (type)
        {
            case "heading" when !node.TryGetProperty("attrs", out var attrs) || !attrs.TryGetProperty("level", out var level) || level.GetInt32() is < 1 or > 6:
                problems.Add($"{at}: a heading needs attrs.level 1 to 6");
                break;
            case "bulletList" or "orderedList":
                if (children.Count == 0)
                {
                    problems.Add($"{at}: a list needs at least one item");
                }

                foreach (var item in children)
                {
                    if (item.GetProperty("type").GetString() != "listItem" || !item.TryGetProperty("content", out var itemContent) || itemContent.GetArrayLength() == 0)
                    {
                        problems.Add($"{at}.{type}: only non-empty listItem nodes");
                        continue;
                    }

                    foreach (var inner in itemContent.EnumerateArray())
                    {
                        Block(inner, $"{at}.{type}.listItem", problems);
                    }
                }

                return;
            case "blockquote":
                foreach (var inner in children)
                {
                    Block(inner, $"{at}.blockquote", problems);
                }

                return;
            case "rule" when children.Count > 0:
                problems.Add($"{at}: a rule has no content");
                return;
        }

        foreach (var inline in children)
        {
            Inline(inline, $"{at}.{type}", codeBlock: type == "codeBlock", problems);
        }
    }

    private static void Inline(JsonElement node, string at, bool codeBlock, List<string> problems)
    {
        var type = node.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type == "hardBreak" && !codeBlock)
        {
            return;
        }

        if (type != "text")
        {
            problems.Add($"{at}: {type ?? "a node without a type"} is not an inline node here");
            return;
        }

        if (!node.TryGetProperty("text", out var text) || text.GetString() is not { Length: > 0 })
        {
            problems.Add($"{at}: a text node needs non-empty text");
        }

        if (!node.TryGetProperty("marks", out var marks))
        {
            return;
        }

        var kinds = marks.EnumerateArray().Select(m => m.GetProperty("type").GetString() ?? "").ToList();
        foreach (var mark in marks.EnumerateArray())
        {
            var kind = mark.GetProperty("type").GetString() ?? "";
            if (!AdfMarks.Contains(kind) || codeBlock)
            {
                problems.Add($"{at}: mark {kind} is not allowed here");
            }
            else if (kind == "link" && (!mark.TryGetProperty("attrs", out var attrs) || !Uri.TryCreate(attrs.GetProperty("href").GetString(), UriKind.Absolute, out _)))
            {
                problems.Add($"{at}: a link mark needs an absolute attrs.href");
            }
        }

        // The code mark combines with links only.
        if (kinds.Contains("code") && kinds.Any(k => k is not ("code" or "link")))
        {
            problems.Add($"{at}: the code mark combines with link only");
        }
    }

    private static bool HasString(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.GetString() is { Length: > 0 };
}

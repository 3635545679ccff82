using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ModelOps.Alerting.Domain;

namespace ModelOps.Alerting.Delivery;

/// <summary>
/// Jira, through its REST API v3. A group's issue is found by its label (<see cref="JiraPayload.GroupLabel"/>) before
/// anything is written, so that an attempt repeated after a failure, or by another replica, updates the issue it
/// opened instead of opening a second. While the group fires its open issue is updated (or a closed one reopened
/// within the reopen duration, or a new one opened); once it resolves the open issue is commented and, with a resolve
/// transition, closed in the same request. Jira's search index may lag a creation by a moment, so an attempt whose
/// creation was accepted but whose answer was lost, repeated within that moment, could still open a second issue.
/// </summary>
public sealed partial class ReceiverClient
{
    // The statuses Jira counts as finished.
    private const string DoneCategory = "done";

    private sealed record JiraIssue(string Key, bool Done, string? Resolution, DateTimeOffset? ResolvedAt);

    private static AuthenticationHeaderValue JiraAuthorization(JiraConfig jira) => jira.Username is { } user
        ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{jira.ApiToken.Reveal()}")))
        : new AuthenticationHeaderValue("Bearer", jira.ApiToken.Reveal());

    private async Task<SendResult> SendToJiraAsync(JiraConfig jira, AuthenticationHeaderValue authorization, byte[] payload, CancellationToken cancellationToken)
    {
        var stored = JsonNode.Parse(payload)!.AsObject();
        var label = stored["group_label"]!.GetValue<string>();
        var fields = stored["fields"]!.AsObject();
        var comment = stored["comment"]!;

        var (found, issues) = await FindIssuesAsync(jira, authorization, label, cancellationToken);
        if (!found.Sent)
        {
            return found;
        }

        var open = issues.FirstOrDefault(i => !i.Done);
        if (!stored["firing"]!.GetValue<bool>())
        {
            // Nothing open: it was closed by hand, or never opened (its firing notification was not sent).
            if (open is null)
            {
                return found;
            }

            return jira.ResolveTransition is { } resolve
                ? await TransitionAsync(jira, authorization, open.Key, resolve, comment, cancellationToken)
                : (await ExchangeAsync(HttpMethod.Post, IssueUrl(jira, open.Key, "/comment"), Json(new JsonObject { ["body"] = comment.DeepClone() }),
                    authorization, cancellationToken)).Result;
        }

        if (open is null && issues.FirstOrDefault() is { } latest && Reopens(jira, latest))
        {
            var reopened = await TransitionAsync(jira, authorization, latest.Key, jira.ReopenTransition!, comment, cancellationToken);
            if (!reopened.Sent)
            {
                return reopened;
            }

            open = latest;
        }

        if (open is not null)
        {
            // The summary and description follow the group; its project, type and labels stay as they were.
            var update = new JsonObject { ["fields"] = new JsonObject { ["summary"] = fields["summary"]!.DeepClone(), ["description"] = fields["description"]!.DeepClone() } };
            return (await ExchangeAsync(HttpMethod.Put, IssueUrl(jira, open.Key, ""), Json(update), authorization, cancellationToken)).Result;
        }

        return (await ExchangeAsync(HttpMethod.Post, new Uri(jira.ApiUrl, "rest/api/3/issue"), Json(new JsonObject { ["fields"] = fields.DeepClone() }),
            authorization, cancellationToken)).Result;
    }

    // A closed issue is reopened if it was resolved within the reopen duration, and not as "won't fix".
    private bool Reopens(JiraConfig jira, JiraIssue issue) =>
        jira.ReopenTransition is not null && jira.ReopenDuration > TimeSpan.Zero && issue.ResolvedAt is { } resolved &&
        clock.GetUtcNow() - resolved <= jira.ReopenDuration &&
        !string.Equals(issue.Resolution, jira.WontFixResolution, StringComparison.OrdinalIgnoreCase);

    // The group's issues, newest first.
    private async Task<(SendResult Result, List<JiraIssue> Issues)> FindIssuesAsync(
        JiraConfig jira, AuthenticationHeaderValue authorization, string label, CancellationToken cancellationToken)
    {
        var search = new JsonObject
        {
            ["jql"] = $"project = \"{jira.Project.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\" AND labels = \"{label}\" ORDER BY created DESC",
            ["fields"] = new JsonArray("status", "resolution", "resolutiondate"),
            ["maxResults"] = 20,
        };
        var (result, body) = await ExchangeAsync(HttpMethod.Post, new Uri(jira.ApiUrl, "rest/api/3/search/jql"), Json(search), authorization, cancellationToken);
        if (!result.Sent)
        {
            return (result, []);
        }

        try
        {
            List<JiraIssue> issues = [];
            foreach (var issue in JsonNode.Parse(body)!["issues"]!.AsArray())
            {
                var issueFields = issue!["fields"];
                issues.Add(new JiraIssue(
                    issue["key"]!.GetValue<string>(),
                    issueFields?["status"]?["statusCategory"]?["key"]?.GetValue<string>() == DoneCategory,
                    issueFields?["resolution"]?["name"]?.GetValue<string>(),
                    JiraTime(issueFields?["resolutiondate"]?.GetValue<string>())));
            }

            return (result, issues);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            return (new SendResult(false, true, result.Status, null, "Jira's search answered something that is not an issue list"), []);
        }
    }

    // A transition by name (they differ between workflows), with the comment in the same request.
    private async Task<SendResult> TransitionAsync(
        JiraConfig jira, AuthenticationHeaderValue authorization, string key, string name, JsonNode comment, CancellationToken cancellationToken)
    {
        var (listed, body) = await ExchangeAsync(HttpMethod.Get, IssueUrl(jira, key, "/transitions"), null, authorization, cancellationToken);
        if (!listed.Sent)
        {
            return listed;
        }

        string? id;
        try
        {
            id = JsonNode.Parse(body)!["transitions"]!.AsArray()
                .FirstOrDefault(t => string.Equals(t?["name"]?.GetValue<string>(), name, StringComparison.OrdinalIgnoreCase))?["id"]?.GetValue<string>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException)
        {
            return new SendResult(false, true, listed.Status, null, "Jira's transitions answered something that is not a transition list");
        }

        if (id is null)
        {
            // A person fixes the workflow or the configuration; retrying cannot.
            return new SendResult(false, false, listed.Status, null, $"issue {key} has no transition named \"{name}\" from its status");
        }

        var transition = new JsonObject
        {
            ["transition"] = new JsonObject { ["id"] = id },
            ["update"] = new JsonObject { ["comment"] = new JsonArray(new JsonObject { ["add"] = new JsonObject { ["body"] = comment.DeepClone() } }) },
        };
        return (await ExchangeAsync(HttpMethod.Post, IssueUrl(jira, key, "/transitions"), Json(transition), authorization, cancellationToken)).Result;
    }

    private static Uri IssueUrl(JiraConfig jira, string key, string rest) => new(jira.ApiUrl, $"rest/api/3/issue/{Uri.EscapeDataString(key)}{rest}");

    private static byte[] Json(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    // Jira writes offsets without a colon (2024-05-01T10:00:00.000+0000).
    private static DateTimeOffset? JiraTime(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null
        : DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ss.fffzzz", "yyyy-MM-dd'T'HH:mm:ss.fffK"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var at) ? at
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out at) ? at
        : text.Length > 5 && (text[^5] is '+' or '-') && DateTimeOffset.TryParse(text.Insert(text.Length - 2, ":"), CultureInfo.InvariantCulture, DateTimeStyles.None, out at) ? at
        : throw new FormatException($"\"{text}\" is not a Jira time");
}

using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ModelOps.Testing;

/// <summary>
/// A local Jira Cloud (REST API v3) for the Jira integration: search by JQL label, create, edit, comment, and a
/// two-status workflow (To Do ⇄ Done through the transitions "Done" and "Reopen"). Every body is checked against
/// Jira's documented fields and the Atlassian Document Format (<see cref="VendorSchemas"/>), and every request's basic
/// authentication; what is wrong is answered 400 or 401 as Jira would and kept in <see cref="Problems"/>. A test can
/// make the next creations fail, before or after the issue is made.
/// </summary>
public sealed partial class JiraSink : IAsyncDisposable
{
    /// <summary>An issue as the sink holds it.</summary>
    public sealed class Issue
    {
        public required string Key { get; init; }
        public required JsonObject Fields { get; set; }
        public bool Done { get; set; }
        public DateTimeOffset? ResolvedAt { get; set; }
        public List<JsonNode> Comments { get; } = [];
        public int Edits { get; set; }
        public List<string> Transitions { get; } = [];
    }

    private readonly WebApplication _app;
    private readonly string _authorization;
    private readonly List<Issue> _issues = [];
    private readonly ConcurrentQueue<string> _problems = new();
    private int _failCreates;
    private bool _failAfterCreating;

    private JiraSink(WebApplication app, string user, string token)
    {
        _app = app;
        _authorization = $"Basic {Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{token}"))}";
    }

    /// <summary>The sink's base address.</summary>
    public string Address => _app.Urls.First();

    /// <summary>What was sent that Jira would refuse.</summary>
    public IReadOnlyList<string> Problems => [.. _problems];

    /// <summary>The issues, oldest first.</summary>
    public IReadOnlyList<Issue> Issues
    {
        get
        {
            lock (_issues)
            {
                return [.. _issues];
            }
        }
    }

    /// <summary>The next <paramref name="count"/> creations answer 500, <paramref name="afterCreating"/> the issue (a lost answer) or before.</summary>
    public void FailCreates(int count, bool afterCreating) => (_failCreates, _failAfterCreating) = (count, afterCreating);

    /// <summary>Starts a Jira accepting <paramref name="user"/> with <paramref name="token"/>.</summary>
    public static async Task<JiraSink> StartAsync(string user, string token)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var sink = new JiraSink(app, user, token);
        app.Use(async (context, next) =>
        {
            if (context.Request.Headers.Authorization != sink._authorization)
            {
                sink._problems.Enqueue($"{context.Request.Method} {context.Request.Path}: not authenticated");
                context.Response.StatusCode = 401;
                return;
            }

            await next(context);
        });
        app.MapPost("/rest/api/3/search/jql", (Delegate)sink.SearchAsync);
        app.MapPost("/rest/api/3/issue", (Delegate)sink.CreateAsync);
        app.MapPut("/rest/api/3/issue/{key}", sink.EditAsync);
        app.MapGet("/rest/api/3/issue/{key}/transitions", sink.ListTransitions);
        app.MapPost("/rest/api/3/issue/{key}/transitions", sink.TransitionAsync);
        app.MapPost("/rest/api/3/issue/{key}/comment", sink.CommentAsync);
        await app.StartAsync();
        return sink;
    }

    private async Task<IResult> SearchAsync(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        var jql = body?["jql"]?.GetValue<string>() ?? "";
        if (LabelClause().Match(jql) is not { Success: true } match)
        {
            return Refuse($"search: JQL without a label clause: {jql}");
        }

        List<Issue> found;
        lock (_issues)
        {
            found = [.. _issues.Where(i => i.Fields["labels"]!.AsArray().Any(l => l!.GetValue<string>() == match.Groups[1].Value)).Reverse()];
        }

        return Results.Json(new
        {
            isLast = true,
            issues = found.Select(i => new
            {
                id = i.Key[3..],
                key = i.Key,
                fields = new
                {
                    status = new { name = i.Done ? "Done" : "To Do", statusCategory = new { key = i.Done ? "done" : "new" } },
                    resolution = i.Done ? new { name = "Done" } : null,
                    // Jira's own format: milliseconds and an offset without a colon.
                    resolutiondate = i.ResolvedAt is { } at ? at.ToString("yyyy-MM-dd'T'HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture) + "+0000" : null,
                },
            }),
        });
    }

    private async Task<IResult> CreateAsync(HttpContext context)
    {
        var fields = (await JsonNode.ParseAsync(context.Request.Body))?["fields"]?.AsObject();
        var problems = fields is null ? ["no fields"] : VendorSchemas.JiraFields(JsonSerializer.SerializeToElement(fields), creating: true);
        if (problems.Count > 0)
        {
            return Refuse($"create: {string.Join("; ", problems)}");
        }

        if (_failCreates > 0 && !_failAfterCreating)
        {
            _failCreates--;
            return Results.StatusCode(500);
        }

        Issue issue;
        lock (_issues)
        {
            issue = new Issue { Key = $"ML-{_issues.Count + 1}", Fields = fields! };
            _issues.Add(issue);
        }

        if (_failCreates > 0)
        {
            _failCreates--;
            return Results.StatusCode(500);
        }

        return Results.Json(new { id = issue.Key[3..], key = issue.Key, self = $"{Address}/rest/api/3/issue/{issue.Key}" }, statusCode: 201);
    }

    private async Task<IResult> EditAsync(string key, HttpContext context)
    {
        var fields = (await JsonNode.ParseAsync(context.Request.Body))?["fields"]?.AsObject();
        if (Find(key) is not { } issue)
        {
            return Results.NotFound();
        }

        var problems = fields is null ? ["no fields"] : VendorSchemas.JiraFields(JsonSerializer.SerializeToElement(fields), creating: false);
        if (problems.Count > 0)
        {
            return Refuse($"edit: {string.Join("; ", problems)}");
        }

        foreach (var (name, value) in fields!)
        {
            issue.Fields[name] = value?.DeepClone();
        }

        issue.Edits++;
        return Results.NoContent();
    }

    private IResult ListTransitions(string key) => Find(key) is not { } issue
        ? Results.NotFound()
        : Results.Json(new { transitions = new[] { issue.Done ? new { id = "41", name = "Reopen" } : new { id = "31", name = "Done" } } });

    private async Task<IResult> TransitionAsync(string key, HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        if (Find(key) is not { } issue)
        {
            return Results.NotFound();
        }

        var id = body?["transition"]?["id"]?.GetValue<string>();
        if ((id, issue.Done) is not (("31", false) or ("41", true)))
        {
            return Refuse($"transition {id} is not available from {(issue.Done ? "Done" : "To Do")}");
        }

        foreach (var comment in body?["update"]?["comment"]?.AsArray() ?? [])
        {
            if (!AddComment(issue, comment?["add"]?["body"]))
            {
                return Refuse("transition: its comment is not a document");
            }
        }

        issue.Done = id == "31";
        issue.ResolvedAt = issue.Done ? DateTimeOffset.UtcNow : null;
        issue.Transitions.Add(issue.Done ? "Done" : "Reopen");
        return Results.NoContent();
    }

    private async Task<IResult> CommentAsync(string key, HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        return Find(key) is not { } issue ? Results.NotFound()
            : AddComment(issue, body?["body"]) ? Results.Json(new { id = "1" }, statusCode: 201)
            : Refuse("comment: its body is not a document");
    }

    private bool AddComment(Issue issue, JsonNode? body)
    {
        if (body is null || VendorSchemas.Adf(JsonSerializer.SerializeToElement(body)) is { Count: > 0 })
        {
            return false;
        }

        issue.Comments.Add(body.DeepClone());
        return true;
    }

    private Issue? Find(string key)
    {
        lock (_issues)
        {
            return _issues.FirstOrDefault(i => i.Key == key);
        }
    }

    private IResult Refuse(string problem)
    {
        _problems.Enqueue(problem);
        return Results.Json(new { errorMessages = new[] { problem }, errors = new { } }, statusCode: 400);
    }

    [GeneratedRegex("labels\\s*=\\s*\"([^\"]+)\"")]
    private static partial Regex LabelClause();

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

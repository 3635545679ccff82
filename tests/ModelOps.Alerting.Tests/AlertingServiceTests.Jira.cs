using System.Text.Json.Nodes;
using ModelOps.Testing;

namespace ModelOps.Alerting.Tests;

/// <summary>The Jira integration against a local Jira that checks every request as Jira Cloud's REST API v3 would.</summary>
public sealed partial class AlertingServiceTests
{
    private static object Resolved(string test, string alertname, string model, params (string, string)[] more) => new
    {
        labels = new Dictionary<string, string> { ["test"] = test, ["alertname"] = alertname, ["model"] = model }
            .Concat(more.Select(m => KeyValuePair.Create(m.Item1, m.Item2))).ToDictionary(),
        startsAt = DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O"),
        endsAt = DateTimeOffset.UtcNow.AddSeconds(-1).ToString("O"),
    };

    private async Task<T> WaitForJiraAsync<T>(Func<T?> condition, string what)
    {
        T? value = default;
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult((value = condition()) is not null and not false), TimeSpan.FromSeconds(20)),
            $"Jira never showed {what}; problems: {string.Join("; ", _jira.Problems)}");
        return value!;
    }

    [Fact(Timeout = 120_000)]
    public async Task AJiraIssueIsOpenedOncePerGroupUpdatedWhileItFiresClosedOnResolutionAndReopenedIfItFiresAgain()
    {
        // Two alerts of one group: one issue, with the configured labels and the group's own, and its alerts in the description.
        await PostAsync(_prometheus, Firing("jira", "ModelDrift", "credit", ("feature", "income")), Firing("jira", "ModelDrift", "credit", ("feature", "age")));
        var issue = await WaitForJiraAsync(() => _jira.Issues.FirstOrDefault(), "an issue");
        var labels = issue.Fields["labels"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
        Assert.Equal(["modelops", "drift"], labels.Take(2));
        Assert.Matches("^ALERT[0-9a-f]{64}$", labels[2]);
        Assert.Equal(("[FIRING:2] ModelDrift model=credit", "High", "Bug", "ML"), (issue.Fields["summary"]!.GetValue<string>(),
            issue.Fields["priority"]!["name"]!.GetValue<string>(), issue.Fields["issuetype"]!["name"]!.GetValue<string>(), issue.Fields["project"]!["key"]!.GetValue<string>()));
        Assert.Contains("ModelDrift on credit", issue.Fields["description"]!.ToJsonString(), StringComparison.Ordinal);

        // A third alert joins the group: the same issue is edited, no second one is opened.
        await PostAsync(_prometheus, Firing("jira", "ModelDrift", "credit", ("feature", "zip")));
        await WaitForJiraAsync(() => issue.Edits >= 1 ? issue : null, "an edit");
        Assert.Equal("[FIRING:3] ModelDrift model=credit", issue.Fields["summary"]!.GetValue<string>());

        // Every alert resolves: the issue is closed through the "Done" transition, with a comment saying why.
        await PostAsync(_prometheus, Resolved("jira", "ModelDrift", "credit", ("feature", "income")), Resolved("jira", "ModelDrift", "credit", ("feature", "age")),
            Resolved("jira", "ModelDrift", "credit", ("feature", "zip")));
        await WaitForJiraAsync(() => issue.Done ? issue : null, "the issue closed");
        Assert.StartsWith("Resolved at ", issue.Comments.Single()["content"]![0]!["content"]![0]!["text"]!.GetValue<string>(), StringComparison.Ordinal);

        // It fires again within the reopen duration: the same issue is reopened.
        await PostAsync(_prometheus, Firing("jira", "ModelDrift", "credit", ("feature", "income")));
        await WaitForJiraAsync(() => issue.Transitions.Count == 2 && !issue.Done ? issue : null, "the issue reopened");
        Assert.Equal(["Done", "Reopen"], issue.Transitions);

        // Another group, whose creation is made but its answer lost: the retry finds the issue by its label instead of
        // opening a second one.
        _jira.FailCreates(1, afterCreating: true);
        await PostAsync(_prometheus, Firing("jira", "ModelDrift", "churn"));
        var churn = await WaitForJiraAsync(() => _jira.Issues.FirstOrDefault(i => i.Fields["summary"]!.GetValue<string>().Contains("churn", StringComparison.Ordinal) && i.Edits >= 1),
            "the churn issue found again");
        await Task.Delay(TimeSpan.FromSeconds(2), Cancellation);
        Assert.Equal(2, _jira.Issues.Count);
        Assert.Equal("[FIRING:1] ModelDrift model=churn", churn.Fields["summary"]!.GetValue<string>());
        Assert.Empty(_jira.Problems);
        Assert.All(_jira.Issues, i => Assert.Empty(VendorSchemas.JiraFields(System.Text.Json.JsonSerializer.SerializeToElement(i.Fields), creating: true)));
    }
}

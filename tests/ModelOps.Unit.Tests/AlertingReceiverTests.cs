extern alias alerting;
using System.Text.Json;
using alerting::ModelOps.Alerting.Domain;
using ModelOps.Testing;

namespace ModelOps.Unit.Tests.Alerting;

/// <summary>
/// Slack and PagerDuty messages checked against their vendors' documented schemas and limits (ModelOps.Testing's
/// VendorSchemas), on ordinary groups and on a storm of long alerts; secrets; retraining policies and business hours.
/// </summary>
public sealed class AlertingReceiverTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);
    private const string GroupKey = "{}/{team=\"ml\"}:{alertname=\"DriftDetected\", model=\"credit\"}";

    private static readonly SlackConfig Slack = new() { ApiUrl = Secret.Of("https://hooks.slack.test/T/B/x"), SendResolved = true, Channel = "#ml-alerts" };

    private static readonly PagerDutyConfig PagerDuty = new()
    {
        RoutingKey = Secret.Of("R0UTINGKEY0123456789abcdef012345"),
        Url = new Uri(PagerDutyConfig.DefaultUrl),
        Client = "ModelOps",
        SendResolved = true,
    };

    private static Alert Make(int i, string severity, bool resolved = false, int summaryLength = 40) => new()
    {
        Labels = new LabelSet(new Dictionary<string, string>
        {
            ["alertname"] = "DriftDetected", ["model"] = "credit", ["version"] = $"{i}", ["severity"] = severity, ["team"] = "ml",
        }),
        Annotations = new Dictionary<string, string>
        {
            ["summary"] = new string('s', summaryLength), ["drift_share"] = "0.42", ["report_url"] = $"http://drift.test/reports/{i}",
            ["trace_url"] = "http://dashboard.test/traces/detail/abc",
        },
        StartsAt = Now.AddMinutes(-10 - i),
        EndsAt = resolved ? Now.AddMinutes(-1) : Now.AddHours(1),
        UpdatedAt = Now,
        GeneratorUrl = "http://prometheus.test/graph?g0.expr=up",
    };

    private static Notification Group(params Alert[] alerts) => new()
    {
        Receiver = "ml",
        GroupKey = GroupKey,
        GroupLabels = new LabelSet(new Dictionary<string, string> { ["alertname"] = "DriftDetected", ["model"] = "credit" }),
        Alerts = Notification.Ordered(alerts),
        At = Now,
        ExternalUrl = "http://alerting.test",
    };

    [Fact]
    public void ASlackMessageNamesTheFindingWithItsFiguresAndLinksWithinSlacksLimits()
    {
        var message = JsonDocument.Parse(SlackPayload.Build(Group(Make(1, "high"), Make(2, "warning")), Slack)).RootElement;
        Assert.Empty(VendorSchemas.Slack(message));
        Assert.Equal("#ml-alerts", message.GetProperty("channel").GetString());
        var blocks = message.GetProperty("blocks").EnumerateArray().ToList();
        Assert.Equal("[FIRING:2] DriftDetected model=credit", blocks[0].GetProperty("text").GetProperty("text").GetString());
        var fields = blocks[1].GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("text").GetString()).ToList();
        Assert.Contains("*drift_share*\n0.42", fields);
        Assert.Contains("*version*\n1", fields);
        Assert.Equal(["Report", "Trace", "Source"], blocks[2].GetProperty("elements").EnumerateArray().Select(b => b.GetProperty("text").GetProperty("text").GetString()));
        Assert.Equal("http://drift.test/reports/1", blocks[2].GetProperty("elements")[0].GetProperty("url").GetString());

        var resolved = JsonDocument.Parse(SlackPayload.Build(Group(Make(1, "high", resolved: true)), Slack)).RootElement;
        Assert.Empty(VendorSchemas.Slack(resolved));
        Assert.StartsWith("[RESOLVED] DriftDetected", resolved.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AStormOfLongAlertsStaysWithinFiftyBlocksAndCountsWhatIsNotShown()
    {
        var storm = Enumerable.Range(0, 500).Select(i => Make(i, "high", summaryLength: 10_000)).ToArray();
        var message = JsonDocument.Parse(SlackPayload.Build(Group(storm), Slack)).RootElement;
        Assert.Empty(VendorSchemas.Slack(message));
        var blocks = message.GetProperty("blocks").EnumerateArray().ToList();
        Assert.InRange(blocks.Count, 48, 50);
        // Each alert shown has a section (and its links' buttons); the others are counted.
        var shown = blocks.Count(b => b.GetProperty("type").GetString() == "section");
        Assert.Contains(blocks, b => b.GetProperty("type").GetString() == "context" &&
                                     b.GetProperty("elements")[0].GetProperty("text").GetString()!.StartsWith($"…and {500 - shown} more alert(s)", StringComparison.Ordinal));

        var trigger = JsonDocument.Parse(PagerDutyPayload.Build(Group(storm), PagerDuty)).RootElement;
        Assert.Empty(VendorSchemas.PagerDuty(trigger, expectRoutingKey: false));
        Assert.Equal(500, trigger.GetProperty("payload").GetProperty("custom_details").GetProperty("num_firing").GetInt32());
    }

    [Fact]
    public void PagerDutyTriggersAndResolvesOneIncidentPerGroupWithAlertmanagersDedupKey()
    {
        var trigger = JsonDocument.Parse(PagerDutyPayload.Build(Group(Make(1, "warning"), Make(2, "critical")), PagerDuty)).RootElement;
        var resolve = JsonDocument.Parse(PagerDutyPayload.Build(Group(Make(1, "warning", resolved: true), Make(2, "critical", resolved: true)), PagerDuty)).RootElement;
        Assert.Empty(VendorSchemas.PagerDuty(trigger, expectRoutingKey: false));
        Assert.Empty(VendorSchemas.PagerDuty(resolve, expectRoutingKey: false));
        Assert.Equal(("trigger", "resolve"), (trigger.GetProperty("event_action").GetString(), resolve.GetProperty("event_action").GetString()));
        // hashlib.sha256(group key).hexdigest(), as Alertmanager's notify.Key.Hash().
        const string dedupKey = "ce3c09c9a48dfbd24498d462ba97b73a68aab9118a125aec77e2fc8a9102924f";
        Assert.Equal((dedupKey, dedupKey), (trigger.GetProperty("dedup_key").GetString(), resolve.GetProperty("dedup_key").GetString()));
        // The worst severity in the group; the routing key (a secret) is not in what is stored.
        Assert.Equal("critical", trigger.GetProperty("payload").GetProperty("severity").GetString());
        Assert.False(trigger.TryGetProperty("routing_key", out _));
        Assert.Equal(("credit", "DriftDetected", "ml"), (trigger.GetProperty("payload").GetProperty("component").GetString(),
            trigger.GetProperty("payload").GetProperty("class").GetString(), trigger.GetProperty("payload").GetProperty("group").GetString()));

        var long1 = JsonDocument.Parse(PagerDutyPayload.Build(Group(Make(1, "info", summaryLength: 5000)), PagerDuty with { Severity = "warning" })).RootElement;
        Assert.Equal(1024, long1.GetProperty("payload").GetProperty("summary").GetString()!.Length);
        Assert.Equal("warning", long1.GetProperty("payload").GetProperty("severity").GetString());
    }

    [Fact]
    public void ATeamsCardShowsTheGroupAndStaysUnderTeamsSizeLimitInAStorm()
    {
        var payload = TeamsPayload.Build(Group(Make(1, "high"), Make(2, "warning")));
        var card = JsonDocument.Parse(payload).RootElement;
        Assert.Empty(VendorSchemas.Teams(card, payload.Length));
        var content = card.GetProperty("attachments")[0].GetProperty("content");
        Assert.Equal("[FIRING:2] DriftDetected model=credit", content.GetProperty("body")[0].GetProperty("text").GetString());
        Assert.Equal(["Report", "Trace", "Source"], content.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("title").GetString()));

        var storm = TeamsPayload.Build(Group([.. Enumerable.Range(0, 500).Select(i => Make(i, "high", summaryLength: 2_000))]));
        var stormCard = JsonDocument.Parse(storm).RootElement;
        Assert.Empty(VendorSchemas.Teams(stormCard, storm.Length));
        Assert.InRange(storm.Length, 20_000, TeamsPayload.MaxBytes);
        Assert.Contains(stormCard.GetProperty("attachments")[0].GetProperty("content").GetProperty("body").EnumerateArray(),
            b => b.TryGetProperty("text", out var text) && text.GetString()!.StartsWith("…and ", StringComparison.Ordinal));
    }

    private static readonly JiraConfig Jira = new()
    {
        ApiUrl = new Uri("https://example.atlassian.test/"), Project = "ML", IssueType = "Bug", Labels = ["modelops"], ApiToken = Secret.Of("t0ken"),
        SendResolved = true,
    };

    [Fact]
    public void AJiraIssueCarriesTheGroupsLabelAndADocumentOfItsAlertsWithinJirasLimitsInAStorm()
    {
        var body = JsonDocument.Parse(JiraPayload.Build(Group(Make(1, "high"), Make(2, "warning")), Jira with { Priority = "High" })).RootElement;
        var fields = body.GetProperty("fields");
        Assert.Empty(VendorSchemas.JiraFields(fields, creating: true));
        Assert.Equal("[FIRING:2] DriftDetected model=credit", fields.GetProperty("summary").GetString());
        // The label is Alertmanager's ALERT{hash} with the same hash as PagerDuty's dedup key: one issue per group.
        var label = "ALERT" + PagerDutyPayload.DedupKey(GroupKey);
        Assert.Equal(["modelops", label], fields.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal((label, true), (body.GetProperty("group_label").GetString(), body.GetProperty("firing").GetBoolean()));
        var description = fields.GetProperty("description").GetRawText();
        Assert.Contains("\"href\":\"http://drift.test/reports/1\"", description, StringComparison.Ordinal);
        Assert.Contains("drift_share: ", description, StringComparison.Ordinal);

        var resolved = JsonDocument.Parse(JiraPayload.Build(Group(Make(1, "high", resolved: true)), Jira)).RootElement;
        Assert.False(resolved.GetProperty("firing").GetBoolean());
        Assert.Empty(VendorSchemas.Adf(resolved.GetProperty("comment")));

        var storm = JsonDocument.Parse(JiraPayload.Build(Group([.. Enumerable.Range(0, 500).Select(i => Make(i, "high", summaryLength: 10_000))]), Jira)).RootElement;
        Assert.Empty(VendorSchemas.JiraFields(storm.GetProperty("fields"), creating: true));
        Assert.Contains("more alert(s) in this group", storm.GetProperty("fields").GetProperty("description").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public void JiraIntegrationsThatCouldNotWorkAreRefusedWithTheirField()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            route: {receiver: tickets}
            receivers:
              - name: tickets
                jira_configs:
                  - {api_url: "ftp://jira.test", issue_type: Bug, api_token: t}
                  - {api_url: "https://jira.test", project: ML, issue_type: Bug, labels: ["two words"], api_token: t, reopen_duration: 1h}
                  - {api_url: "https://jira.test", project: ML, issue_type: Bug}
            """)).Errors;
        Assert.Equal(
            ["receivers[0].jira_configs[0].api_url", "receivers[0].jira_configs[0].project", "receivers[0].jira_configs[1].labels",
                "receivers[0].jira_configs[1].reopen_duration", "receivers[0].jira_configs[2].api_token"],
            errors.Select(e => e.Field).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(errors, e => e.Description.Contains("ftp://", StringComparison.Ordinal) && e.Field.EndsWith("api_token", StringComparison.Ordinal));
    }

    [Fact]
    public void AnEmailEscapesWhatItShowsKeepsItsIdAcrossAttemptsAndListsAtMostTwoHundredAlerts()
    {
        var alert = Make(1, "high") with { Annotations = new Dictionary<string, string> { ["summary"] = "<script>x</script>" } };
        var first = JsonDocument.Parse(EmailPayload.Build(Group(alert))).RootElement;
        var again = JsonDocument.Parse(EmailPayload.Build(Group(alert))).RootElement;
        Assert.Equal(first.GetProperty("message_id").GetString(), again.GetProperty("message_id").GetString());
        Assert.Contains("&lt;script&gt;", first.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", first.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.Equal("[FIRING:1] DriftDetected model=credit", first.GetProperty("subject").GetString());

        var storm = JsonDocument.Parse(EmailPayload.Build(Group([.. Enumerable.Range(0, 500).Select(i => Make(i, "high"))]))).RootElement;
        Assert.Contains("…and 300 more alert(s)", storm.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void EmailIntegrationsThatCouldNotWorkAreRefusedWithTheirField()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            route: {receiver: mail}
            receivers:
              - name: mail
                email_configs:
                  - {to: "not an address", from: "a@b.test", smarthost: "smtp.test"}
                  - {to: "a@b.test", from: "a@b.test", smarthost: "smtp.test:25", auth_password: x, headers: {Subject: hi}}
                  - {to: "a@b.test", from: "a@b.test", smarthost: "smtp.test:587", auth_username: me}
            """)).Errors;
        Assert.Equal(
            ["receivers[0].email_configs[0].smarthost", "receivers[0].email_configs[0].to", "receivers[0].email_configs[1].auth_username",
                "receivers[0].email_configs[1].headers", "receivers[0].email_configs[2].auth_password"],
            errors.Select(e => e.Field).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("critical", "critical")]
    [InlineData("high", "error")]
    [InlineData("warning", "warning")]
    [InlineData("info", "info")]
    [InlineData(null, "error")]
    [InlineData("whatever", "error")]
    public void SeverityLabelsMapOntoPagerDutysFour(string? label, string expected) => Assert.Equal(expected, PagerDutyPayload.Severity(label));

    [Fact]
    public void SecretsAreNeverShownAndAreReadFromTheirFileWhenUsed()
    {
        var config = ConfigLoader.Load("""
            route: {receiver: r}
            receivers:
              - name: r
                slack_configs: [{api_url: "https://hooks.slack.test/services/T0/B0/SECRET"}]
                pagerduty_configs: [{routing_key_file: "/run/secrets/pd-key"}]
            """);
        var receiver = config.Receiver("r");
        Assert.Equal("<secret>", receiver.Slack[0].ApiUrl.ToString());
        Assert.DoesNotContain("SECRET", receiver.Slack[0].ToString(), StringComparison.Ordinal);
        Assert.Equal("<secret in /run/secrets/pd-key>", receiver.PagerDuty[0].RoutingKey.ToString());
        Assert.False(receiver.Slack[0].SendResolved);
        Assert.True(receiver.PagerDuty[0].SendResolved);
        var missing = Assert.Throws<InvalidOperationException>(() => receiver.PagerDuty[0].RoutingKey.Reveal());
        Assert.Contains("/run/secrets/pd-key cannot be read", missing.Message, StringComparison.Ordinal);

        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            route: {receiver: r}
            receivers:
              - name: r
                slack_configs: [{api_url: "not a url with SECRET inside"}]
                pagerduty_configs: [{service_key: "v1key", routing_key: "k"}, {}]
            """)).Errors;
        Assert.All(errors, e => Assert.DoesNotContain("SECRET", e.Description, StringComparison.Ordinal));
        Assert.Equal(["receivers[0].pagerduty_configs[0].service_key", "receivers[0].pagerduty_configs[1].routing_key", "receivers[0].slack_configs[0].api_url"],
            errors.Select(e => e.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ARetrainPolicyIsMetByAMatchingFindingThatReachesItsFiguresAndStartsWithinBusinessHours()
    {
        var config = ConfigLoader.Load("""
            route: {receiver: ci}
            receivers: [{name: ci, webhook_configs: [{url: "http://ci.test/hook"}]}]
            retrain_policies:
              - name: credit-drift
                matchers: ['alertname=~"DriftDetected|ConceptDriftDetected"', 'model="credit"']
                thresholds: {drift_share: 0.15}
                cooldown: 12h
                business_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00", time_zone: "Europe/Berlin"}
                receiver: ci
            """);
        var policy = Assert.Single(config.RetrainPolicies);
        Assert.Equal((TimeSpan.FromHours(12), TimeSpan.FromHours(24)), (policy.Cooldown, policy.Timeout));
        Alert Finding(string model, string? share) => Make(1, "high") with
        {
            Labels = new LabelSet(new Dictionary<string, string> { ["alertname"] = "DriftDetected", ["model"] = model }),
            Annotations = share is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["drift_share"] = share },
        };
        Assert.True(policy.MetBy(Finding("credit", "0.15")));
        Assert.False(policy.MetBy(Finding("credit", "0.149")));
        Assert.False(policy.MetBy(Finding("credit", null)));
        Assert.False(policy.MetBy(Finding("churn", "0.9")));

        // 2026-12-04 is a Friday; Berlin is UTC+1 in December.
        var hours = policy.BusinessHours!;
        var fridayEvening = new DateTimeOffset(2026, 12, 4, 18, 30, 0, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 7, 0, 0, TimeSpan.Zero), hours.NextOpen(fridayEvening));
        var wednesdayMorning = new DateTimeOffset(2026, 12, 2, 9, 15, 0, TimeSpan.Zero);
        Assert.Equal(wednesdayMorning, hours.NextOpen(wednesdayMorning));
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 7, 0, 0, TimeSpan.Zero), hours.NextOpen(new DateTimeOffset(2026, 12, 2, 3, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void RetrainPoliciesThatCouldNotWorkAreRefusedWithTheirField()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            route: {receiver: ci}
            receivers: [{name: ci, webhook_configs: [{url: "http://ci.test/hook"}]}, {name: chat, slack_configs: [{api_url: "http://slack.test/x"}]}]
            retrain_policies:
              - {name: everything, receiver: ci}
              - {name: nowhere, matchers: ['model="a"'], receiver: jenkins}
              - {name: chat-only, matchers: ['model="a"'], receiver: chat}
              - {name: odd-hours, matchers: ['model="a"'], receiver: ci, business_hours: {days: [mon, funday], start: "18:00", end: "08:00", time_zone: "Mars/Olympus"}}
              - {name: odd-figure, matchers: ['model="a"'], receiver: ci, thresholds: {drift_share: high}}
            """)).Errors;
        Assert.Equal(
            ["retrain_policies[0].matchers", "retrain_policies[1].receiver", "retrain_policies[2].receiver", "retrain_policies[3].business_hours.days",
                "retrain_policies[3].business_hours.end", "retrain_policies[3].business_hours.time_zone", "retrain_policies[4].thresholds.drift_share"],
            errors.Select(e => e.Field).Order(StringComparer.Ordinal));
    }
}

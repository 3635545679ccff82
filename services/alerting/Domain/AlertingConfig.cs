namespace ModelOps.Alerting.Domain;

/// <summary>
/// The alerting configuration: Alertmanager's <c>alertmanager.yml</c> where the fields mean the same thing (route,
/// receivers, inhibit_rules, global.resolve_timeout), read by <see cref="ConfigLoader"/>.
/// </summary>
public sealed record AlertingConfig(
    TimeSpan ResolveTimeout,
    RouteConfig Route,
    IReadOnlyList<ReceiverConfig> Receivers,
    IReadOnlyList<InhibitRule> InhibitRules,
    string? ExternalUrl)
{
    /// <summary>When findings start a retraining (a ModelOps extension: <c>retrain_policies</c>).</summary>
    public IReadOnlyList<RetrainPolicy> RetrainPolicies { get; init; } = [];

    /// <summary>Alertmanager's default <c>global.resolve_timeout</c>.</summary>
    public static readonly TimeSpan DefaultResolveTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The receiver named <paramref name="name"/>.</summary>
    public ReceiverConfig Receiver(string name) => Receivers.First(r => r.Name == name);
}

/// <summary>A node of the routing tree as written; <see cref="Route"/> is the tree with inherited options.</summary>
/// <param name="Receiver">Its receiver, or null to inherit the parent's.</param>
/// <param name="GroupBy">Labels to group by; null to inherit; <c>["..."]</c> groups by every label.</param>
/// <param name="Matchers">Every matcher from <c>matchers</c>, <c>match</c> and <c>match_re</c>.</param>
/// <param name="Continue">Whether later siblings are tried after this one matched.</param>
/// <param name="GroupWait">Null to inherit.</param>
/// <param name="GroupInterval">Null to inherit.</param>
/// <param name="RepeatInterval">Null to inherit.</param>
/// <param name="Routes">Its children.</param>
public sealed record RouteConfig(
    string? Receiver,
    IReadOnlyList<string>? GroupBy,
    IReadOnlyList<Matcher> Matchers,
    bool Continue,
    TimeSpan? GroupWait,
    TimeSpan? GroupInterval,
    TimeSpan? RepeatInterval,
    IReadOnlyList<RouteConfig> Routes);

/// <summary>A named receiver and its integrations.</summary>
public sealed record ReceiverConfig(string Name)
{
    /// <summary>Generic webhooks (Alertmanager's version 4 payload).</summary>
    public IReadOnlyList<WebhookConfig> Webhooks { get; init; } = [];

    /// <summary>Slack incoming webhooks (Block Kit).</summary>
    public IReadOnlyList<SlackConfig> Slack { get; init; } = [];

    /// <summary>PagerDuty services (Events API v2).</summary>
    public IReadOnlyList<PagerDutyConfig> PagerDuty { get; init; } = [];

    /// <summary>Microsoft Teams incoming webhooks (Adaptive Cards).</summary>
    public IReadOnlyList<TeamsConfig> Teams { get; init; } = [];

    /// <summary>Jira projects (REST API v3): one issue per group.</summary>
    public IReadOnlyList<JiraConfig> Jira { get; init; } = [];

    /// <summary>E-mail over SMTP.</summary>
    public IReadOnlyList<EmailConfig> Email { get; init; } = [];

    /// <summary>Every integration of the receiver, each addressed as <c>type/index</c>.</summary>
    public IEnumerable<(string Integration, IntegrationConfig Config)> Integrations =>
        Webhooks.Select((w, i) => ($"webhook/{i}", (IntegrationConfig)w))
            .Concat(Slack.Select((s, i) => ($"slack/{i}", (IntegrationConfig)s)))
            .Concat(PagerDuty.Select((p, i) => ($"pagerduty/{i}", (IntegrationConfig)p)))
            .Concat(Teams.Select((t, i) => ($"msteams/{i}", (IntegrationConfig)t)))
            .Concat(Jira.Select((j, i) => ($"jira/{i}", (IntegrationConfig)j)))
            .Concat(Email.Select((e, i) => ($"email/{i}", (IntegrationConfig)e)));
}

/// <summary>What every integration has.</summary>
public abstract record IntegrationConfig
{
    /// <summary>Whether resolved alerts are notified (Alertmanager's <c>send_resolved</c>).</summary>
    public required bool SendResolved { get; init; }
}

/// <summary>
/// A secret (a webhook URL, a routing key): given inline, or as a file read each time it is used, so that it can live
/// apart from the configuration (which is stored, versioned and shown) and be rotated without a new version. It is
/// never logged nor returned: its text form is redacted.
/// </summary>
public sealed class Secret
{
    private readonly string? _value;
    private readonly string? _file;
    private readonly Func<string, string?>? _check;

    private Secret(string? value, string? file, Func<string, string?>? check) => (_value, _file, _check) = (value, file, check);

    /// <summary>An inline secret.</summary>
    public static Secret Of(string value) => new(value, null, null);

    /// <summary>A secret read from <paramref name="file"/> when used, checked by <paramref name="check"/>.</summary>
    public static Secret FromFile(string file, Func<string, string?> check) => new(null, file, check);

    /// <summary>The secret's value; <see cref="InvalidOperationException"/> (without the value) when its file cannot be used.</summary>
    public string Reveal()
    {
        if (_value is not null)
        {
            return _value;
        }

        string text;
        try
        {
            text = File.ReadAllText(_file!).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"the secret file {_file} cannot be read ({e.GetType().Name})");
        }

        return _check!(text) is { } problem ? throw new InvalidOperationException($"the secret in {_file} {problem}") : text;
    }

    /// <inheritdoc />
    public override string ToString() => _file is null ? "<secret>" : $"<secret in {_file}>";
}

/// <summary>A generic webhook receiving Alertmanager's version 4 payload.</summary>
public sealed record WebhookConfig : IntegrationConfig
{
    /// <summary>Where to POST (a secret).</summary>
    public required Secret Url { get; init; }

    /// <summary>At most this many alerts per message (0: all); the others are counted in <c>truncatedAlerts</c>.</summary>
    public int MaxAlerts { get; init; }
}

/// <summary>A Slack incoming webhook, sent Block Kit messages.</summary>
public sealed record SlackConfig : IntegrationConfig
{
    /// <summary>The incoming webhook's URL (a secret).</summary>
    public required Secret ApiUrl { get; init; }

    /// <summary>A channel to post to instead of the webhook's own.</summary>
    public string? Channel { get; init; }

    /// <summary>The name to post as.</summary>
    public string? Username { get; init; }

    /// <summary>An emoji for the poster's icon.</summary>
    public string? IconEmoji { get; init; }

    /// <summary>An image for the poster's icon.</summary>
    public string? IconUrl { get; init; }
}

/// <summary>A Microsoft Teams incoming webhook (Alertmanager's later <c>msteams_configs</c>).</summary>
public sealed record TeamsConfig : IntegrationConfig
{
    /// <summary>The webhook's URL (a secret).</summary>
    public required Secret WebhookUrl { get; init; }
}

/// <summary>A PagerDuty service, through the Events API v2.</summary>
public sealed record PagerDutyConfig : IntegrationConfig
{
    /// <summary>The Events API v2 endpoint.</summary>
    public const string DefaultUrl = "https://events.pagerduty.com/v2/enqueue";

    /// <summary>PagerDuty's severities.</summary>
    public static readonly IReadOnlyList<string> Severities = ["critical", "error", "warning", "info"];

    /// <summary>The service's integration (routing) key (a secret).</summary>
    public required Secret RoutingKey { get; init; }

    /// <summary>Where events are sent.</summary>
    public required Uri Url { get; init; }

    /// <summary>A fixed severity; null to map it from the alerts' <c>severity</c> label.</summary>
    public string? Severity { get; init; }

    /// <summary>The client named in the incident.</summary>
    public required string Client { get; init; }

    /// <summary>The client's link; null for the external URL.</summary>
    public string? ClientUrl { get; init; }
}

/// <summary>
/// A Jira project, through the REST API v3 (Alertmanager's <c>jira_configs</c> where the fields mean the same): one
/// issue per group, found again by a label holding the group's hash, updated while the group fires, commented and
/// moved through <see cref="ResolveTransition"/> once it resolves, and reopened through <see cref="ReopenTransition"/>
/// if it fires again within <see cref="ReopenDuration"/> of its resolution (else a new issue is opened).
/// </summary>
public sealed record JiraConfig : IntegrationConfig
{
    /// <summary>Jira's base URL (<c>https://example.atlassian.net</c>).</summary>
    public required Uri ApiUrl { get; init; }

    /// <summary>The project's key.</summary>
    public required string Project { get; init; }

    /// <summary>The issue type's name (<c>Bug</c>, <c>Task</c>, …).</summary>
    public required string IssueType { get; init; }

    /// <summary>The priority's name; null for the project's default.</summary>
    public string? Priority { get; init; }

    /// <summary>Labels every issue carries, besides the group's.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary>The account (an e-mail on Jira Cloud) for basic authentication; null to send the token as a bearer token.</summary>
    public string? Username { get; init; }

    /// <summary>The API token (basic authentication with <see cref="Username"/>) or personal access token (a secret).</summary>
    public required Secret ApiToken { get; init; }

    /// <summary>The transition that closes an issue once its group resolves; null to only comment.</summary>
    public string? ResolveTransition { get; init; }

    /// <summary>The transition that reopens a closed issue when its group fires again.</summary>
    public string? ReopenTransition { get; init; }

    /// <summary>How long after its resolution a closed issue is reopened rather than a new one opened (zero: never).</summary>
    public TimeSpan ReopenDuration { get; init; }

    /// <summary>A resolution whose issues are never reopened (<c>Won't Do</c>).</summary>
    public string? WontFixResolution { get; init; }
}

/// <summary>E-mail through an SMTP server (Alertmanager's <c>email_configs</c>): a text and an HTML part per notification.</summary>
public sealed record EmailConfig : IntegrationConfig
{
    /// <summary>The recipients (an RFC 5322 address list).</summary>
    public required string To { get; init; }

    /// <summary>The sender's address.</summary>
    public required string From { get; init; }

    /// <summary>The SMTP server's host.</summary>
    public required string Host { get; init; }

    /// <summary>The SMTP server's port: 465 is TLS from the start; any other takes STARTTLS when <see cref="RequireTls"/>.</summary>
    public required int Port { get; init; }

    /// <summary>The name given in EHLO.</summary>
    public required string Hello { get; init; }

    /// <summary>The account to authenticate as; null for none.</summary>
    public string? Username { get; init; }

    /// <summary>Its password (a secret); set when <see cref="Username"/> is.</summary>
    public Secret? Password { get; init; }

    /// <summary>Whether STARTTLS is required (Alertmanager's default: true).</summary>
    public required bool RequireTls { get; init; }

    /// <summary>Headers added to every message.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// An inhibition rule: a firing alert matching <see cref="Source"/> mutes the alerts matching <see cref="Target"/>
/// that have the same values of <see cref="Equal"/>.
/// </summary>
public sealed record InhibitRule(Matchers Source, Matchers Target, IReadOnlyList<string> Equal);

/// <summary>
/// A retraining policy: a finding whose alert matches <see cref="Matchers"/> and whose figures reach
/// <see cref="Thresholds"/> asks <see cref="Receiver"/>'s webhooks to retrain the model it names — at most one
/// retraining in flight per model, none within <see cref="Cooldown"/> of the last, and, with
/// <see cref="BusinessHours"/>, not outside them.
/// </summary>
/// <param name="Name">Its name, unique.</param>
/// <param name="Matchers">What the finding's alert labels must satisfy (at least one matcher).</param>
/// <param name="Thresholds">Annotation figures the finding must reach or exceed (<c>drift_share: 0.15</c>).</param>
/// <param name="Cooldown">The least time between two requests for one model.</param>
/// <param name="Timeout">How long a request stays in flight without a run finishing it.</param>
/// <param name="BusinessHours">When requests may start; null for any time.</param>
/// <param name="Receiver">The receiver whose webhooks start the pipeline.</param>
public sealed record RetrainPolicy(
    string Name, Matchers Matchers, IReadOnlyDictionary<string, double> Thresholds, TimeSpan Cooldown, TimeSpan Timeout,
    BusinessHours? BusinessHours, string Receiver)
{
    /// <summary>Whether a finding's alert meets the policy: its labels match and every threshold's figure is reached.</summary>
    public bool MetBy(Alert alert) =>
        Matchers.Matches(alert.Labels) && Thresholds.All(t =>
            alert.Annotations.TryGetValue(t.Key, out var text) &&
            double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var figure) &&
            figure >= t.Value);
}

/// <summary>Opening hours: the days of the week and the time of day, in a time zone.</summary>
public sealed record BusinessHours(IReadOnlySet<DayOfWeek> Days, TimeOnly Start, TimeOnly End, TimeZoneInfo Zone)
{
    /// <summary>The first instant at or after <paramref name="at"/> within the hours.</summary>
    public DateTimeOffset NextOpen(DateTimeOffset at)
    {
        var local = TimeZoneInfo.ConvertTime(at, Zone);
        for (var day = 0; day <= 7; day++)
        {
            var date = DateOnly.FromDateTime(local.Date).AddDays(day);
            if (!Days.Contains(date.DayOfWeek))
            {
                continue;
            }

            var open = Instant(date, Start);
            var close = Instant(date, End);
            if (at < open)
            {
                return open;
            }

            if (at < close)
            {
                return at;
            }
        }

        throw new InvalidOperationException("business hours without a single open day");
    }

    private DateTimeOffset Instant(DateOnly date, TimeOnly time)
    {
        var local = date.ToDateTime(time);
        // A time skipped by a clock change opens at the change.
        while (Zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(1);
        }

        return new DateTimeOffset(local, Zone.GetUtcOffset(local));
    }
}

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
public sealed record ReceiverConfig(string Name, IReadOnlyList<WebhookConfig> Webhooks)
{
    /// <summary>Every integration of the receiver, each addressed as <c>type/index</c>.</summary>
    public IEnumerable<(string Integration, IntegrationConfig Config)> Integrations =>
        Webhooks.Select((w, i) => ($"webhook/{i}", (IntegrationConfig)w));
}

/// <summary>What every integration has.</summary>
public abstract record IntegrationConfig
{
    /// <summary>Whether resolved alerts are notified (Alertmanager's <c>send_resolved</c>).</summary>
    public required bool SendResolved { get; init; }
}

/// <summary>
/// A generic webhook receiving Alertmanager's version 4 payload. The URL is a secret: it is never logged nor
/// returned by the API, only its scheme and host.
/// </summary>
public sealed record WebhookConfig : IntegrationConfig
{
    /// <summary>Where to POST.</summary>
    public required Uri Url { get; init; }

    /// <summary>At most this many alerts per message (0: all); the others are counted in <c>truncatedAlerts</c>.</summary>
    public int MaxAlerts { get; init; }
}

/// <summary>
/// An inhibition rule: a firing alert matching <see cref="Source"/> mutes the alerts matching <see cref="Target"/>
/// that have the same values of <see cref="Equal"/>.
/// </summary>
public sealed record InhibitRule(Matchers Source, Matchers Target, IReadOnlyList<string> Equal);

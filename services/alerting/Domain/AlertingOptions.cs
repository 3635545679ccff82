namespace ModelOps.Alerting.Domain;

/// <summary>The alerting service's settings (section <c>Alerting</c>).</summary>
public sealed class AlertingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Alerting";

    /// <summary>
    /// An Alertmanager-style YAML file loaded at start-up: when its content differs from the latest stored version, it
    /// becomes a new version. Without it, the stored configuration is used (or, on a new database, one that records
    /// alerts and sends nothing).
    /// </summary>
    public string? ConfigFile { get; set; }

    /// <summary>The URL people reach alerting at, sent as <c>externalURL</c> (the configuration's <c>global.external_url</c> wins).</summary>
    public string ExternalUrl { get; set; } = "http://localhost:9093";

    /// <summary>
    /// A link to a trace, with <c>{traceId}</c> standing for the W3C trace id (the Aspire dashboard's is
    /// <c>http://localhost:18888/traces/detail/{traceId}</c>): a finding's alert carries it as its <c>trace_url</c>.
    /// </summary>
    public string? TraceUrl { get; set; }

    /// <summary>How often a replica looks for groups due to be flushed and deliveries due to be sent.</summary>
    public TimeSpan PollEvery { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often a replica checks for a configuration version written by another.</summary>
    public TimeSpan ConfigRefreshEvery { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one attempt to deliver may take before it counts as failed.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first retry's delay; each next one doubles, with full jitter, up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two attempts, and the most a receiver's <c>Retry-After</c> is honoured.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A delivery still failing after this long since it was decided is given up (dead-lettered with its reason).</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Deliveries sent at once by one replica, over all receivers.</summary>
    public int DeliveryConcurrency { get; set; } = 16;

    /// <summary>Notifications per second one receiver is sent by one replica; the excess waits its turn.</summary>
    public double ReceiverRatePerSecond { get; set; } = 50;

    /// <summary>How long a notification log entry is kept after it was written (Alertmanager's <c>--data.retention</c>).</summary>
    public TimeSpan NotificationLogRetention { get; set; } = TimeSpan.FromHours(120);

    /// <summary>How long a resolved alert that belongs to no group is kept for <c>GET /api/v2/alerts</c> history.</summary>
    public TimeSpan ResolvedRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The most alerts one <c>POST /api/v2/alerts</c> may carry.</summary>
    public int MaxAlertsPerRequest { get; set; } = 10_000;
}

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>Tuning of the outbox relay (configuration section <c>Outbox</c>).</summary>
public sealed class OutboxOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Outbox";

    /// <summary>Most events published per transaction.</summary>
    public int BatchSize { get; set; } = 200;

    /// <summary>How long the relay sleeps when no notification arrives; commits notify it at once.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a batch may wait for the broker's confirms before it is retried.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait after a failed publish; doubles up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between retries while the broker is away.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the relay's loop may go without a turn before liveness turns Unhealthy (a turn is bounded by
    /// <see cref="PublishTimeout"/> and the database's command timeout, so only a wedged relay reaches it).
    /// </summary>
    public TimeSpan StallAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long published rows are kept (for inspection) before they are deleted.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);
}

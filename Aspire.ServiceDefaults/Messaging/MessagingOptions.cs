namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>How consumers retry and how faulted events come back (configuration section <c>Messaging</c>).</summary>
public sealed class MessagingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Messaging";

    /// <summary>
    /// Longest wait between two attempts at a delivery that failed on a transient fault (the database or broker away);
    /// such a delivery is retried without limit, never parked.
    /// </summary>
    public TimeSpan TransientRetryMaxInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts at a delivery that failed for any other reason, before it goes to its error queue.</summary>
    public int RetryLimit { get; set; } = 5;

    /// <summary>How often events in error queues are sent back to their queue. Zero turns that off.</summary>
    public TimeSpan RedeliverParkedEvery { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often an event may come back from its error queue before it is parked for a person.</summary>
    public int MaxRedeliveries { get; set; } = 10;

    /// <summary>Most events taken from one error queue per round.</summary>
    public int RedeliveryBatch { get; set; } = 1000;
}

namespace ModelOps.Alerting.Domain;

/// <summary>What was last notified to one integration of a receiver about one group.</summary>
/// <param name="Firing">Fingerprints of the firing alerts it was told about.</param>
/// <param name="Resolved">Fingerprints of the resolved alerts it was told about.</param>
/// <param name="At">When.</param>
public sealed record NotificationEntry(IReadOnlySet<ulong> Firing, IReadOnlySet<ulong> Resolved, DateTimeOffset At);

/// <summary>Alertmanager's deduplication (<c>notify.DedupStage.needsUpdate</c>): whether a group is notified again.</summary>
public static class NotificationLog
{
    /// <summary>
    /// Whether an integration that was last told <paramref name="last"/> is told about a group whose alerts are now
    /// <paramref name="firing"/> and <paramref name="resolved"/>:
    /// <list type="bullet">
    /// <item>never told: when something fires;</item>
    /// <item>an alert fires that it was not told about: yes;</item>
    /// <item>nothing fires now: only if it was told something fired (so that it hears the all-clear);</item>
    /// <item>an alert resolved that it was not told resolved, and it wants resolutions: yes;</item>
    /// <item>otherwise once <paramref name="repeatInterval"/> has passed since it was last told.</item>
    /// </list>
    /// </summary>
    public static bool NeedsUpdate(
        NotificationEntry? last, IReadOnlySet<ulong> firing, IReadOnlySet<ulong> resolved, bool sendResolved,
        TimeSpan repeatInterval, DateTimeOffset now)
    {
        if (last is null)
        {
            return firing.Count > 0;
        }

        if (!firing.IsSubsetOf(last.Firing))
        {
            return true;
        }

        if (firing.Count == 0)
        {
            return last.Firing.Count > 0;
        }

        if (sendResolved && !resolved.IsSubsetOf(last.Resolved))
        {
            return true;
        }

        return last.At < now - repeatInterval;
    }
}

using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;

namespace ModelOps.Alerting.Api;

/// <summary>A firing alert as both APIs list it: the receivers its groups reach and what mutes it.</summary>
public sealed record ListedAlert(Alert Alert, IReadOnlyList<string> Receivers, IReadOnlyList<Guid> SilencedBy, ulong? InhibitedBy)
{
    /// <summary>Whether a silence or an inhibition mutes it.</summary>
    public bool Suppressed => SilencedBy.Count > 0 || InhibitedBy is not null;
}

/// <summary>The alerts that fire, as Alertmanager lists them (<c>GET /api/v2/alerts</c>), for both APIs.</summary>
public static class AlertListing
{
    /// <summary>The most alerts one listing reads.</summary>
    public const int MaxListed = 10_000;

    /// <summary>
    /// The alerts firing at <paramref name="now"/> that satisfy <paramref name="matchers"/> and, with
    /// <paramref name="receiver"/>, reach a receiver it accepts; newest first.
    /// </summary>
    public static async Task<List<ListedAlert>> ListAsync(
        AlertStore store, ActiveConfig config, Matchers matchers, Func<string, bool>? receiver, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var muting = await store.MutingAsync(config.Config.InhibitRules, now, cancellationToken);
        List<ListedAlert> listed = [];
        foreach (var (alert, receivers) in await store.ListAlertsAsync(matchers, MaxListed, cancellationToken))
        {
            if (alert.ResolvedAt(now) || (receiver is not null && !receivers.Any(receiver)))
            {
                continue;
            }

            listed.Add(new ListedAlert(alert, receivers, [.. muting.SilencedBy(alert.Labels).Select(s => s.Id)], muting.InhibitedBy(alert.Labels)));
        }

        return listed;
    }
}

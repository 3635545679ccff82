using System.Globalization;
using MassTransit;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Drift.Data;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Drift.Consumers;

/// <summary>
/// Watches a version from the moment the registry moves it into Production, and no longer once it moves out (archived,
/// demoted, or pushed out by a newer version beyond the policy's limit). Aliases change nothing. Each event is applied
/// once; an older event arriving after a newer one changes nothing.
/// </summary>
public sealed class StageChangedConsumer(NpgsqlDataSource dataSource) : IdempotentConsumer<StageChanged>(dataSource)
{
    /// <summary>How the registry names the Production stage in <see cref="StageChanged.To"/> and <see cref="StageChanged.From"/>.</summary>
    public const string Production = "stage:PRODUCTION";

    /// <inheritdoc />
    protected override async Task ConsumeOnceAsync(ConsumeContext<StageChanged> context, NpgsqlTransaction transaction)
    {
        var changed = context.Message;
        bool watched;
        if (changed.To == Production)
        {
            watched = true;
        }
        else if (changed.From == Production && changed.To.StartsWith("stage:", StringComparison.Ordinal))
        {
            watched = false;
        }
        else
        {
            return;
        }

        var reason = watched ? $"entered Production ({(changed.Override ? "override" : "request")}: {changed.Reason})" : $"left Production for {changed.To}";
        await DriftStore.SetWatchAsync(transaction, changed.Model, changed.Version.ToString(CultureInfo.InvariantCulture), watched, changed.OccurredAt, reason,
            changed.Actor, context.CancellationToken);
    }
}

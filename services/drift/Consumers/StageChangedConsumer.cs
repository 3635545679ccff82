using System.Globalization;
using MassTransit;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Drift.Data;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Drift.Consumers;

/// <summary>
/// Watches what the registry can serve: a version is watched from the moment it enters Production or takes an alias,
/// and no longer once it holds neither (archived, demoted, pushed out by a newer version, its alias moved on). Each event
/// is applied once; an older event arriving after a newer one does not undo it.
/// </summary>
public sealed class StageChangedConsumer(NpgsqlDataSource dataSource) : IdempotentConsumer<StageChanged>(dataSource)
{
    /// <inheritdoc />
    protected override async Task ConsumeOnceAsync(ConsumeContext<StageChanged> context, NpgsqlTransaction transaction)
    {
        var changed = context.Message;
        var version = changed.Version.ToString(CultureInfo.InvariantCulture);
        var cancellationToken = context.CancellationToken;
        if (await DriftStore.LastWatchChangeAsync(transaction, changed.Model, version, cancellationToken) > changed.OccurredAt)
        {
            return; // A newer change of this version was applied already: this one arrived late.
        }

        string reason;
        if (changed.Kind == TargetKind.Alias)
        {
            var alias = $"alias:{changed.Alias}";
            if (changed.PreviousVersion is { } previous && previous != changed.Version)
            {
                var before = previous.ToString(CultureInfo.InvariantCulture);
                await DriftStore.ReleaseHoldAsync(transaction, changed.Model, before, alias, cancellationToken);
                await ApplyAsync(transaction, changed, before, $"alias '{changed.Alias}' moved to version {changed.Version}", cancellationToken);
            }

            await DriftStore.TakeHoldAsync(transaction, changed.Model, version, alias, changed.OccurredAt, cancellationToken);
            reason = $"took alias '{changed.Alias}' ({(changed.Override ? "override" : "request")}: {changed.Reason})";
        }
        else if (changed.Stage == ModelStage.Production)
        {
            await DriftStore.TakeHoldAsync(transaction, changed.Model, version, Production, changed.OccurredAt, cancellationToken);
            reason = $"entered Production ({(changed.Override ? "override" : "request")}: {changed.Reason})";
        }
        else if (changed.Stage == ModelStage.Archived)
        {
            // An archived version serves nothing: its aliases ended with it.
            await DriftStore.ReleaseAllHoldsAsync(transaction, changed.Model, version, cancellationToken);
            reason = "archived";
        }
        else if (changed.PreviousStage == ModelStage.Production)
        {
            await DriftStore.ReleaseHoldAsync(transaction, changed.Model, version, Production, cancellationToken);
            reason = $"left Production for {changed.Stage}";
        }
        else
        {
            return;
        }

        await ApplyAsync(transaction, changed, version, reason, cancellationToken);
    }

    /// <summary>The hold Production gives.</summary>
    public const string Production = "stage:PRODUCTION";

    // Watched exactly while the version holds something the registry can serve.
    private static async Task ApplyAsync(NpgsqlTransaction transaction, StageChanged changed, string version, string reason, CancellationToken cancellationToken)
    {
        var holds = await DriftStore.HoldsAsync(transaction, changed.Model, version, cancellationToken);
        await DriftStore.SetWatchAsync(transaction, changed.Model, version, holds.Count > 0, changed.OccurredAt,
            holds.Count > 0 ? $"{reason}; serves {string.Join(", ", holds)}" : reason, changed.Actor, cancellationToken);
    }
}

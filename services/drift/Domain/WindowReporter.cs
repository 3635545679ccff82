using Microsoft.Extensions.Options;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Drift.Data;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>
/// Reports every window whose partials are all in: time windows once their end plus the allowed lateness has passed,
/// count windows once the version's record counter has passed their end. Every replica runs it; a window's partials
/// are locked while it is reported, so each is reported once. After each round it refreshes the Prometheus gauges.
/// </summary>
public sealed partial class WindowReporter(
    DriftStore store, DriftMetrics metrics, IOptions<DriftOptions> options, TimeProvider clock, ILogger<WindowReporter> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReportEvery, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ReportDueAsync(stoppingToken);
                metrics.Update(await store.StatusAsync(includeUnwatched: true, stoppingToken));
                await store.ExpirePredictionsAsync(clock.GetUtcNow() - options.Value.PredictionRetention, stoppingToken);
                await store.DeleteOldSamplesAsync(options.Value.SampleRetention, stoppingToken);
                await store.DeleteExpiredDecisionsAsync(stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, exception);
            }
        }
    }

    /// <summary>Reports the windows due now; returns how many were reported.</summary>
    public async Task<int> ReportDueAsync(CancellationToken cancellationToken)
    {
        var reported = 0;
        // A model's policy is read once a round.
        var policies = new Dictionary<string, MonitoringPolicy?>(StringComparer.Ordinal);
        foreach (var window in await store.DueWindowsAsync(clock.GetUtcNow(), 100, cancellationToken))
        {
            if (!policies.TryGetValue(window.Model, out var policy))
            {
                policies[window.Model] = policy = await store.GetPolicyAsync(window.Model, cancellationToken);
            }

            var report = await ReportAsync(window, policy, cancellationToken);
            if (report is not null)
            {
                reported++;
                LogReported(logger, window.Model, window.Version, report.WindowStart.ToDateTimeOffset(), report.Columns.Count(c => c.Drifted), report.Columns.Count);
            }
        }

        return reported;
    }

    /// <summary>
    /// Reports one window in one transaction: merges its partials, judges them against the reference in force, stores
    /// the report and, for a watched version whose status changes, announces the change. Null when there is nothing
    /// to report (another replica holds the partials, the version has no reference, or the window was reported already).
    /// </summary>
    private async Task<WindowReport?> ReportAsync(DueWindow window, MonitoringPolicy? policy, CancellationToken cancellationToken)
    {
        await using var tx = await store.BeginAsync(cancellationToken);
        if (await DriftStore.ClaimPartialsAsync(tx, window, cancellationToken) is not { } claimed
            || await DriftStore.ReferenceAsync(tx, window.Model, window.Version, cancellationToken) is not { } reference)
        {
            return null;
        }

        var (start, end) = window.CountWindow || reference.Policy.Duration is not { } duration
            ? (claimed.First, claimed.Last)
            : (DateTimeOffset.FromUnixTimeSeconds(window.Key), DateTimeOffset.FromUnixTimeSeconds(window.Key) + duration);
        var verdict = Verdicts.Judge(reference, claimed.Profile, policy, options.Value.DatasetThreshold);
        var report = Reports.Build(window.Model, window.Version, start, end, claimed.Profile.Rows, verdict);
        if (window.CountWindow)
        {
            report.CountWindow = window.Key;
        }
        var drifted = Announcements.Drifted(verdict);
        if (!await DriftStore.SaveReportAsync(tx, window, reference.Revision, report, drifted, verdict.Features, cancellationToken))
        {
            // Reported already: these partials came late, and stay marked so they are not counted again.
            await tx.CommitAsync(cancellationToken);
            return null;
        }

        var announced = await DriftStore.AnnouncedAsync(tx, window.Model, window.Version, cancellationToken);
        if (policy?.Fairness is { SensitiveColumns.Count: > 0 } watch && reference.Prediction is { Task: ModelTask.BinaryClassification } spec
            && await DriftStore.WindowGroupsAsync(tx, window, cancellationToken) is { Groups.Count: > 0 } counted)
        {
            tx.Publish(new WindowGroupsReported
            {
                Actor = "drift", Model = window.Model, Version = window.Version, WindowStart = start, WindowEnd = end,
                SensitiveColumns = [.. watch.SensitiveColumns], Groups = counted.Groups, OmittedGroups = counted.Omitted, DecisionThreshold = spec.Threshold, MinRatio = watch.MinRatio,
                MaxDifference = watch.MaxDifference, MinGroupSize = watch.MinGroupSize, Watched = announced is not null,
                CountWindow = window.CountWindow ? window.Key : null,
            });
        }

        if (WindowSamples.Watches(policy) && await DriftStore.SampledAsync(tx, window, WindowSamples.RowsOf(policy!.Explainability), cancellationToken) is > 0 and var sampled)
        {
            var explain = policy.Explainability;
            tx.Publish(new WindowSampled
            {
                Actor = "drift", Model = window.Model, Version = window.Version, WindowStart = start, WindowEnd = end, Records = claimed.Profile.Rows,
                Sampled = sampled, MaxShift = explain.MaxShift, TopK = explain.TopK, MinOverlap = explain.MinOverlap, Watched = announced is not null,
                CountWindow = window.CountWindow ? window.Key : null,
            });
        }

        if (Announcements.Change(window.Model, window.Version, start, end, verdict, announced) is { } change)
        {
            tx.Publish(change);
            await DriftStore.SetAnnouncedAsync(tx, window.Model, window.Version, drifted, cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return report;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reported {Model} {Version} window {Start}: {Drifted} of {Columns} columns drifted")]
    private static partial void LogReported(ILogger logger, string model, string version, DateTimeOffset start, int drifted, int columns);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reporting closed windows failed; the next tick tries again")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

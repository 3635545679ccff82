using ModelOps.Contracts;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Drift.Statistics;

namespace ModelOps.Drift.Domain;

/// <summary>What a window's verdict announces: only a watched version's changes of status, against the status last announced for it.</summary>
public static class Announcements
{
    /// <summary>Whether the window drifted: in any feature or in the model's output.</summary>
    public static bool Drifted(WindowVerdict verdict) =>
        verdict.Features.Columns.Any(c => c.Drifted) || verdict.Prediction?.Drifted == true;

    /// <summary>
    /// The event a window's verdict announces, or null: <see cref="DriftDetected"/> when a watched version that was
    /// not drifting drifts, <see cref="DriftResolved"/> when one that was drifting no longer does. <paramref name="announced"/>
    /// is the status last announced, null when the version is not watched.
    /// </summary>
    public static IIntegrationEvent? Change(string model, string version, DateTimeOffset start, DateTimeOffset end, WindowVerdict verdict, bool? announced)
    {
        var drift = verdict.Features;
        return (Drifted(verdict), announced) switch
        {
            (_, null) => null,
            (true, false) => new DriftDetected
            {
                Actor = "drift",
                Model = model,
                Version = version,
                WindowStart = start,
                WindowEnd = end,
                DriftShare = drift.DriftShare,
                Severity = drift.Drifted ? "high" : "warning",
                Columns = [.. drift.Columns.Append(verdict.Prediction).OfType<ColumnDrift>().Where(c => c.Drifted)
                    .Select(c => new ColumnScore(c.Column, c.Method.ToString(), double.IsFinite(c.Statistic) ? c.Statistic : null, c.PValue, c.Threshold))],
                PredictionDrifted = verdict.Prediction?.Drifted == true,
            },
            (false, true) => new DriftResolved { Actor = "drift", Model = model, Version = version, WindowStart = start, WindowEnd = end },
            _ => null,
        };
    }
}

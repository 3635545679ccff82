using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.Data;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Drift.Grpc;

/// <summary>
/// The gates the drift service serves to the registry's promotion policies (<c>modelops.registry.v1.GateService</c>):
/// <list type="bullet">
/// <item><c>drift.reference</c> — the version has a reference, so it can be watched once in Production (parameter
/// <c>min_rows</c>: at least that many reference rows).</item>
/// <item><c>drift.shadow_traffic</c> — the version's latest window of traffic (a shadow or canary) did not drift from
/// its reference: not as a dataset, not in its output, and (parameter <c>max_drift_share</c>) with at most that share
/// of drifted columns; <c>min_rows</c>: the window must hold at least that many records; <c>min_accuracy</c>,
/// <c>max_rmse</c>: once <c>min_labelled</c> (default 100) labels have joined, the window's performance must reach it.</item>
/// </list>
/// Evidence that does not exist yet (no reference, no window, too few labels) is PENDING; an unknown gate or a
/// malformed parameter is FAIL, naming it, since no evidence could ever pass it.
/// </summary>
[Authorize(Roles = $"{Roles.Service},{Roles.Admin}")]
public sealed class DriftGates(DriftStore store) : GateService.GateServiceBase
{
    /// <summary>The gate that checks a reference exists.</summary>
    public const string ReferenceGate = "drift.reference";

    /// <summary>The gate that checks the latest window of the version's own traffic.</summary>
    public const string ShadowTrafficGate = "drift.shadow_traffic";

    /// <inheritdoc />
    public override async Task<EvaluateGateResponse> EvaluateGate(EvaluateGateRequest request, ServerCallContext context)
    {
        var version = request.Version.ToString(CultureInfo.InvariantCulture);
        var parameters = request.Parameters;
        if (request.Gate is not (ReferenceGate or ShadowTrafficGate))
        {
            return Answer(GateStatus.Fail, $"the drift service serves '{ReferenceGate}' and '{ShadowTrafficGate}', not '{request.Gate}'");
        }

        var known = new[] { "min_rows", "max_drift_share", "min_accuracy", "max_rmse", "min_labelled" };
        if (parameters.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
        {
            return Answer(GateStatus.Fail, $"unknown parameter '{unknown}' (known: {string.Join(", ", known)})");
        }

        var numbers = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, text) in parameters)
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number) || number < 0)
            {
                return Answer(GateStatus.Fail, $"parameter '{name}' must be a number ≥ 0, not '{text}'");
            }

            numbers[name] = number;
        }

        var reference = await store.GetReferenceAsync(request.Model, version, context.CancellationToken);
        if (reference is null)
        {
            return Answer(GateStatus.Pending, $"{request.Model} version {version} has no drift reference yet");
        }

        var minimumRows = numbers.GetValueOrDefault("min_rows");
        if (request.Gate == ReferenceGate)
        {
            var evidence = new Dictionary<string, string>
            {
                ["reference_rows"] = reference.Profile.Rows.ToString(CultureInfo.InvariantCulture),
                ["reference_revision"] = reference.Revision.ToString(CultureInfo.InvariantCulture),
                ["reference_source"] = reference.Source,
            };
            return reference.Profile.Rows >= minimumRows
                ? Answer(GateStatus.Pass, $"a reference of {reference.Profile.Rows} rows and {reference.Schema.Count} columns", evidence)
                : Answer(GateStatus.Fail, $"the reference has {reference.Profile.Rows} rows, fewer than {minimumRows}", evidence);
        }

        var latest = (await store.ListReportsAsync(request.Model, version, 1, 0, context.CancellationToken)).FirstOrDefault();
        if (latest is null || latest.Rows < minimumRows)
        {
            return Answer(GateStatus.Pending, latest is null
                ? $"no window of {request.Model} version {version}'s traffic has been reported yet"
                : $"the latest window holds {latest.Rows} records, fewer than {minimumRows}");
        }

        var found = new Dictionary<string, string>
        {
            ["window_start"] = latest.WindowStart.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture),
            ["rows"] = latest.Rows.ToString(CultureInfo.InvariantCulture),
            ["drift_share"] = latest.DriftShare.ToString("R", CultureInfo.InvariantCulture),
            ["drifted_columns"] = string.Join(",", latest.Columns.Where(c => c.Drifted).Select(c => c.Column)),
        };
        var faults = new List<string>();
        if (latest.DatasetDrifted)
        {
            faults.Add($"the dataset drifted ({Percent(latest.DriftShare)} of its columns)");
        }
        else if (numbers.TryGetValue("max_drift_share", out var share) && latest.DriftShare > share)
        {
            faults.Add($"{Percent(latest.DriftShare)} of the columns drifted, more than {Percent(share)}");
        }

        if (latest.Prediction is { Drifted: true })
        {
            faults.Add("the model's output drifted");
        }

        var wantsPerformance = numbers.ContainsKey("min_accuracy") || numbers.ContainsKey("max_rmse");
        var minimumLabelled = numbers.GetValueOrDefault("min_labelled", 100);
        if (wantsPerformance && (latest.Performance?.Labelled ?? 0) < minimumLabelled)
        {
            return faults.Count > 0
                ? Answer(GateStatus.Fail, string.Join("; ", faults), found)
                : Answer(GateStatus.Pending, $"{latest.Performance?.Labelled ?? 0} labels have joined the latest window, fewer than {minimumLabelled}", found);
        }

        if (wantsPerformance)
        {
            var performance = latest.Performance!;
            found["labelled"] = performance.Labelled.ToString(CultureInfo.InvariantCulture);
            if (numbers.TryGetValue("min_accuracy", out var accuracy))
            {
                if (performance.Classification is not { } classification)
                {
                    faults.Add("min_accuracy needs a binary classifier; this version's task is regression");
                }
                else
                {
                    found["accuracy"] = classification.Accuracy.ToString("R", CultureInfo.InvariantCulture);
                    if (classification.Accuracy < accuracy)
                    {
                        faults.Add(string.Create(CultureInfo.InvariantCulture, $"accuracy {classification.Accuracy:F3} is below {accuracy:F3}"));
                    }
                }
            }

            if (numbers.TryGetValue("max_rmse", out var rmse))
            {
                if (performance.Regression is not { } regression)
                {
                    faults.Add("max_rmse needs a regression; this version's task is binary classification");
                }
                else
                {
                    found["rmse"] = regression.Rmse.ToString("R", CultureInfo.InvariantCulture);
                    if (regression.Rmse > rmse)
                    {
                        faults.Add(string.Create(CultureInfo.InvariantCulture, $"RMSE {regression.Rmse:G4} is above {rmse:G4}"));
                    }
                }
            }
        }

        return faults.Count > 0
            ? Answer(GateStatus.Fail, string.Join("; ", faults), found)
            : Answer(GateStatus.Pass, $"the latest window ({latest.Rows} records) did not drift from the reference", found);
    }

    private static string Percent(double share) => (share * 100).ToString("F0", CultureInfo.InvariantCulture) + "%";

    private static EvaluateGateResponse Answer(GateStatus status, string reason, IDictionary<string, string>? evidence = null)
    {
        var response = new EvaluateGateResponse { Status = status, Reason = reason };
        if (evidence is not null)
        {
            response.Evidence.Add(evidence);
        }

        return response;
    }
}

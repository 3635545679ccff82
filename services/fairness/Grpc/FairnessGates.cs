using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Fairness.Analysis;
using ModelOps.Fairness.Data;
using ModelOps.Fairness.V1;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Fairness.Grpc;

/// <summary>
/// The gates the fairness service serves to the registry's promotion policies (<c>modelops.registry.v1.GateService</c>):
/// <c>fairness.&lt;disparity&gt;</c> for every disparity a report holds (<c>fairness.demographic_parity_ratio</c>,
/// <c>fairness.equalized_odds_difference</c>, <c>fairness.disparate_impact</c>, ...), judged on the latest report of the
/// candidate version (<c>modelops fairness evaluate</c>, on its evaluation dataset).
/// <para>Parameters:</para>
/// <list type="bullet">
/// <item><c>min</c> — a ratio's minimum (the four-fifths rule: 0.8); <c>max</c> — a difference's maximum of |value|.</item>
/// <item><c>grouping</c> — one grouping ("sex", or "sex × age_band"; "sex,age_band" too); every grouping of the report when absent.</item>
/// <item><c>use</c> — <c>value</c> (default): the figure must pass; <c>interval</c>: its whole bootstrap interval must.</item>
/// <item><c>dataset_run</c> — <c>own</c> (default): only a report of a dataset of the version's own run counts, so that a
/// report of other data cannot stand in for the candidate's; <c>any</c>: the latest report of any run (a separate
/// evaluation run), named in the evidence.</item>
/// </list>
/// No report yet, or a disparity undefined in every grouping judged (groups too small, rates undefined), is PENDING; an
/// unknown gate, parameter or grouping is FAIL, naming it, since no evidence could ever pass it.
/// </summary>
[Authorize(Roles = $"{Roles.Service},{Roles.Admin}")]
public sealed class FairnessGates(FairnessStore store) : GateService.GateServiceBase
{
    /// <summary>The prefix of every gate this service serves.</summary>
    public const string Prefix = "fairness.";

    /// <inheritdoc />
    public override async Task<EvaluateGateResponse> EvaluateGate(EvaluateGateRequest request, ServerCallContext context)
    {
        var definition = request.Gate.StartsWith(Prefix, StringComparison.Ordinal) ? Disparities.Find(request.Gate[Prefix.Length..]) : null;
        if (definition is null)
        {
            return Answer(GateStatus.Fail, $"the fairness service serves {string.Join(", ", Disparities.All.Select(d => Prefix + d.Name))}, not '{request.Gate}'");
        }

        var ratio = definition.Direction == Direction.Ratio;
        var limitName = ratio ? "min" : "max";
        string[] known = [limitName, "grouping", "use", "dataset_run"];
        if (request.Parameters.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
        {
            return Answer(GateStatus.Fail, $"unknown parameter '{unknown}' for {request.Gate} (known: {string.Join(", ", known)})");
        }

        if (!request.Parameters.TryGetValue(limitName, out var limitText) ||
            !double.TryParse(limitText, NumberStyles.Float, CultureInfo.InvariantCulture, out var limit) || !double.IsFinite(limit) || limit < 0)
        {
            return Answer(GateStatus.Fail, $"{request.Gate} needs parameter '{limitName}', a number ≥ 0 ({(ratio ? "a ratio's minimum, e.g. 0.8" : "the largest |difference| allowed, e.g. 0.1")})");
        }

        var use = request.Parameters.GetValueOrDefault("use", "value");
        if (use is not ("value" or "interval"))
        {
            return Answer(GateStatus.Fail, $"parameter 'use' must be 'value' or 'interval', not '{use}'");
        }

        var datasetRun = request.Parameters.GetValueOrDefault("dataset_run", "own");
        if (datasetRun is not ("own" or "any"))
        {
            return Answer(GateStatus.Fail, $"parameter 'dataset_run' must be 'own' or 'any', not '{datasetRun}'");
        }

        var version = request.Version.ToString(CultureInfo.InvariantCulture);
        var report = await store.LatestReportAsync(request.Model, version, datasetRun == "own" ? request.RunId : null, context.CancellationToken);
        if (report is null)
        {
            return Answer(GateStatus.Pending, datasetRun == "own"
                ? $"{request.Model} version {version} has no fairness report of a dataset of its own run {request.RunId} yet (modelops fairness evaluate)"
                : $"{request.Model} version {version} has no fairness report yet (modelops fairness evaluate)");
        }

        if (report.Dataset.Task == ModelTask.Regression)
        {
            return Answer(GateStatus.Fail, $"the latest report of {request.Model} version {version} is a regression's: per-group errors, no {definition.Name}");
        }

        var groupings = report.Groupings.ToList();
        if (request.Parameters.TryGetValue("grouping", out var wanted))
        {
            var name = string.Join(" × ", wanted.Split([',', '×'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            groupings = [.. groupings.Where(g => g.Name == name)];
            if (groupings.Count == 0)
            {
                return Answer(GateStatus.Fail, $"the report has no grouping '{wanted}' (it has {string.Join(", ", report.Groupings.Select(g => $"'{g.Name}'"))})");
            }
        }

        var evidence = new Dictionary<string, string>
        {
            ["report_id"] = report.Id, ["dataset"] = $"{report.Dataset.RunId}/{report.Dataset.ArtifactPath}", ["dataset_sha256"] = report.DatasetSha256,
            ["rows"] = report.Rows.ToString(CultureInfo.InvariantCulture), [limitName] = limitText, ["use"] = use,
        };
        var judged = groupings.Select(g => (Grouping: g, Disparity: g.Disparities.Single(d => d.Name == definition.Name))).Where(x => x.Disparity.HasValue).ToList();
        if (judged.Count == 0)
        {
            var reasons = string.Join("; ", groupings.Select(g => $"{g.Name}: {g.Disparities.Single(d => d.Name == definition.Name).Undefined}"));
            return Answer(GateStatus.Pending, $"{definition.Name} is undefined in the report ({reasons})", evidence);
        }

        // The worst grouping: the lowest ratio, or the largest |difference| — of the figure or of its interval's far end.
        double Judged(Disparity d) => (ratio, use) switch
        {
            (true, "interval") => d.HasLower ? d.Lower : d.Value,
            (true, _) => d.Value,
            (false, "interval") => d.HasLower ? Math.Max(Math.Abs(d.Lower), Math.Abs(d.Upper)) : Math.Abs(d.Value),
            _ => Math.Abs(d.Value),
        };
        var worst = ratio ? judged.MinBy(x => Judged(x.Disparity)) : judged.MaxBy(x => Judged(x.Disparity));
        var disparity = worst.Disparity;
        evidence["grouping"] = worst.Grouping.Name;
        evidence["value"] = disparity.Value.ToString("R", CultureInfo.InvariantCulture);
        if (disparity.HasLower)
        {
            evidence["interval"] = string.Create(CultureInfo.InvariantCulture, $"[{disparity.Lower:R}, {disparity.Upper:R}]");
            evidence["confidence"] = report.Settings.Confidence.ToString("R", CultureInfo.InvariantCulture);
        }

        evidence["groups"] = string.Join(" vs ", disparity.Groups);
        var figure = Judged(disparity);
        var described = string.Create(CultureInfo.InvariantCulture,
            $"{definition.Name} of {worst.Grouping.Name} is {disparity.Value:0.###}{(disparity.HasLower ? $" [{disparity.Lower:0.###}, {disparity.Upper:0.###}]" : "")} ({string.Join(" vs ", disparity.Groups)})");
        var passes = ratio ? figure >= limit : figure <= limit;
        return passes
            ? Answer(GateStatus.Pass, string.Create(CultureInfo.InvariantCulture, $"{described}: within {limitName} {limit:G4}"), evidence)
            : Answer(GateStatus.Fail, string.Create(CultureInfo.InvariantCulture,
                $"{described}: {(use == "interval" ? "its interval reaches " : "")}{(ratio ? "below" : "beyond")} {limitName} {limit:G4}"), evidence);
    }

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

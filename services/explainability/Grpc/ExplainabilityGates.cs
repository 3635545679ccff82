using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Explainability.Data;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Explainability.Grpc;

/// <summary>
/// The gates the explainability service serves to the registry's promotion policies (<c>modelops.registry.v1.GateService</c>):
/// <c>explainability.attribution_stability</c> — the candidate's top-k features by mean |SHAP| overlap the incumbent's
/// (the version the request's target holds now) by at least <c>min_overlap</c> of k (features whose mean |SHAP| is 0 are
/// never top features), both measured on the same
/// evaluation data (importance reports of one dataset, by its SHA-256).
/// <para>Parameters:</para>
/// <list type="bullet">
/// <item><c>min_overlap</c> (required) — the share of the k features both must have, in [0, 1] (0.6 with k = 5: three of five).</item>
/// <item><c>k</c> — how many top features (5 when absent; 1 to 50).</item>
/// <item><c>dataset_sha256</c> — compare on this dataset only; otherwise the candidate's newest report that has an incumbent's report on the same data.</item>
/// <item><c>without_incumbent</c> — <c>pass</c> (default) or <c>fail</c>: what a target holding no version yet answers (nothing to be stable against).</item>
/// </list>
/// No pair of reports on the same data yet is PENDING; an unknown parameter is FAIL, naming it.
/// </summary>
[Authorize(Roles = $"{Roles.Service},{Roles.Admin}")]
public sealed class ExplainabilityGates(ExplainabilityStore store, RegistryService.RegistryServiceClient registry) : GateService.GateServiceBase
{
    /// <summary>The gate this service serves.</summary>
    public const string AttributionStability = "explainability.attribution_stability";

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public override async Task<EvaluateGateResponse> EvaluateGate(EvaluateGateRequest request, ServerCallContext context)
    {
        if (request.Gate != AttributionStability)
        {
            return Answer(GateStatus.Fail, $"the explainability service serves {AttributionStability}, not '{request.Gate}'");
        }

        string[] known = ["min_overlap", "k", "dataset_sha256", "without_incumbent"];
        if (request.Parameters.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
        {
            return Answer(GateStatus.Fail, $"unknown parameter '{unknown}' for {request.Gate} (known: {string.Join(", ", known)})");
        }

        if (!request.Parameters.TryGetValue("min_overlap", out var minText) ||
            !double.TryParse(minText, NumberStyles.Float, CultureInfo.InvariantCulture, out var minOverlap) || minOverlap is not (>= 0 and <= 1))
        {
            return Answer(GateStatus.Fail, $"{request.Gate} needs parameter 'min_overlap', a share of the top k features in [0, 1] (e.g. 0.6)");
        }

        var k = 5;
        if (request.Parameters.TryGetValue("k", out var kText) && (!int.TryParse(kText, NumberStyles.None, CultureInfo.InvariantCulture, out k) || k is < 1 or > 50))
        {
            return Answer(GateStatus.Fail, $"parameter 'k' must be a whole number from 1 to 50, not '{kText}'");
        }

        var withoutIncumbent = request.Parameters.GetValueOrDefault("without_incumbent", "pass");
        if (withoutIncumbent is not ("pass" or "fail"))
        {
            return Answer(GateStatus.Fail, $"parameter 'without_incumbent' must be 'pass' or 'fail', not '{withoutIncumbent}'");
        }

        var held = await registry.GetAssignmentsAtAsync(new GetAssignmentsAtRequest { Model = request.Model, Target = request.Target, At = Timestamp.FromDateTime(DateTime.UtcNow) },
            deadline: DateTime.UtcNow.Add(Deadline), cancellationToken: context.CancellationToken);
        var incumbent = held.Assignments.LastOrDefault(a => a.Until is null);
        var target = request.Target?.KindCase == Target.KindOneofCase.Alias ? $"alias {request.Target.Alias}" : $"stage {request.Target?.Stage}";
        if (incumbent is null)
        {
            return Answer(withoutIncumbent == "pass" ? GateStatus.Pass : GateStatus.Fail,
                $"{target} of {request.Model} holds no version yet: there is no incumbent whose attributions the candidate could differ from",
                new Dictionary<string, string> { ["incumbent"] = "none" });
        }

        var pair = await store.PairOnSameDataAsync(request.Model, request.Version, incumbent.Version,
            request.Parameters.GetValueOrDefault("dataset_sha256"), context.CancellationToken);
        if (pair is not { } reports)
        {
            return Answer(GateStatus.Pending,
                $"no importance reports of version {request.Version} and the incumbent version {incumbent.Version} on the same dataset yet (modelops explain importance, for both, on one evaluation dataset)",
                new Dictionary<string, string> { ["incumbent"] = incumbent.Version.ToString(CultureInfo.InvariantCulture) });
        }

        var (candidate, holder) = reports;
        // Features that never move a prediction (mean |φ| of 0) are not among anyone's top features.
        var top = candidate.Features.Where(f => f.MeanAbs > 0).Take(k).Select(f => f.Feature).ToList();
        var theirs = holder.Features.Where(f => f.MeanAbs > 0).Take(k).Select(f => f.Feature).ToList();
        var shared = top.Intersect(theirs, StringComparer.Ordinal).ToList();
        var overlap = (double)shared.Count / k;
        var evidence = new Dictionary<string, string>
        {
            ["incumbent"] = incumbent.Version.ToString(CultureInfo.InvariantCulture), ["candidate_report"] = candidate.Id, ["incumbent_report"] = holder.Id,
            ["dataset"] = $"{candidate.Dataset.RunId}/{candidate.Dataset.ArtifactPath}", ["dataset_sha256"] = candidate.DatasetSha256,
            ["k"] = k.ToString(CultureInfo.InvariantCulture), ["overlap"] = overlap.ToString("R", CultureInfo.InvariantCulture), ["min_overlap"] = minText,
            ["candidate_top"] = string.Join(", ", top), ["incumbent_top"] = string.Join(", ", theirs),
        };
        var described = string.Create(CultureInfo.InvariantCulture,
            $"{shared.Count} of the top {k} features agree with version {incumbent.Version}'s ({string.Join(", ", top)} vs {string.Join(", ", theirs)})");
        return overlap >= minOverlap
            ? Answer(GateStatus.Pass, string.Create(CultureInfo.InvariantCulture, $"{described}: overlap {overlap:0.##} ≥ {minOverlap:0.##}"), evidence)
            : Answer(GateStatus.Fail, string.Create(CultureInfo.InvariantCulture, $"{described}: overlap {overlap:0.##} < {minOverlap:0.##}"), evidence);
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

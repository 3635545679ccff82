using Grpc.Core;
using ModelOps.Explainability.V1;

namespace ModelOps.Dossier;

/// <summary>
/// Logged decisions, explained: <see cref="Examples"/> are the version's newest decisions (examples of its reason codes),
/// <see cref="Requested"/> the decisions asked for by request id (the explanation a data subject is owed, LGPD Art. 20),
/// each with every version that scored the request. <see cref="Unavailable"/> says why none could be read.
/// </summary>
public sealed record DecisionRecords(IReadOnlyList<DecisionFacts> Examples, IReadOnlyList<DecisionFacts> Requested, string? Unavailable);

/// <summary>
/// One logged decision: when, by which version, the prediction the serving system logged and the one the registered
/// model computes from the logged values (<see cref="Reproduced"/> when they agree), the decision at the threshold,
/// and the reason codes; <see cref="Unexplained"/> says why it has none.
/// </summary>
public sealed record DecisionFacts(
    string RequestId, string Version, DateTimeOffset? DecidedAt, double? LoggedPrediction, double? Prediction, double? Threshold, bool? Decision,
    bool Reproduced, string Method, IReadOnlyList<ReasonFacts> Reasons, IReadOnlyDictionary<string, string> Labels, string Unexplained)
{
    /// <summary>The decision in words, as the dossier and the console show it: "positive: score 0.73 ≥ threshold 0.5", or the score alone.</summary>
    public string Describe() => this switch
    {
        { Decision: { } positive, Prediction: { } score, Threshold: { } cut } =>
            $"{(positive ? "positive" : "negative")}: score {Number(score)} {(positive ? "≥" : "<")} threshold {Number(cut)}",
        { Prediction: { } score } => $"score {Number(score)}",
        _ => "",
    };

    /// <summary>A score, value or SHAP value as the dossier and the console show it: four significant digits.</summary>
    public static string Number(double value) => value.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One reason code: a feature that pushed the score toward the decision, its value and its SHAP value.</summary>
public sealed record ReasonFacts(int Rank, string Feature, string DisplayName, string Description, double? Value, double Attribution);

/// <summary>Reads and explains a version's logged decisions through the explainability service, as the caller.</summary>
public static class DossierDecisions
{
    /// <summary>Decisions shown as examples of a version's reason codes.</summary>
    public const int Examples = 5;

    /// <summary>Most decisions a dossier may ask for by request id.</summary>
    public const int MaxRequested = 20;

    /// <summary>Longest request id, as drift bounds it.</summary>
    public const int MaxRequestIdLength = 200;

    /// <summary>What is wrong with the request ids a dossier is asked to explain, or null when nothing is: checked before any call.</summary>
    public static string? Problem(IReadOnlyList<string> requestIds) =>
        requestIds.Count > MaxRequested ? $"at most {MaxRequested} request ids, not {requestIds.Count}"
        : requestIds.FirstOrDefault(id => id.Length is 0 or > MaxRequestIdLength) is { } bad ? $"a request id is 1 to {MaxRequestIdLength} characters, not {bad.Length}"
        : null;

    /// <summary>
    /// The version's newest <see cref="Examples"/> decisions and those of <paramref name="requestIds"/>. A caller whose
    /// role may not read production decisions gets none, and the reason; a request id the log does not hold is listed
    /// as such, so that the dossier says it was asked for.
    /// </summary>
    public static async Task<DecisionRecords> GatherAsync(
        ExplainabilityService.ExplainabilityServiceClient explainability, string model, int version, IReadOnlyList<string> requestIds, Func<CallOptions> call)
    {
        if (Problem(requestIds) is { } problem)
        {
            throw new ArgumentException(problem, nameof(requestIds));
        }

        try
        {
            var examples = await explainability.ExplainRecentDecisionsAsync(new ExplainRecentDecisionsRequest
            {
                Model = new ModelRef { Model = model, Version = version }, Count = Examples,
            }, call());
            var requested = new List<DecisionFacts>();
            foreach (var requestId in requestIds.Distinct(StringComparer.Ordinal))
            {
                try
                {
                    var found = await explainability.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = requestId }, call());
                    requested.AddRange(found.Decisions.Select(Of));
                }
                catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
                {
                    requested.Add(new DecisionFacts(requestId, "", null, null, null, null, null, false, "", [], new Dictionary<string, string>(), exception.Status.Detail));
                }
            }

            return new DecisionRecords([.. examples.Decisions.Select(Of)], requested, null);
        }
        catch (RpcException exception) when (exception.StatusCode is StatusCode.PermissionDenied or StatusCode.Unimplemented)
        {
            return new DecisionRecords([], [], exception.StatusCode == StatusCode.PermissionDenied
                ? "Logged decisions hold production values: only auditors, admins and services may read them. This dossier was generated by someone who may not."
                : "The explainability service does not explain logged decisions.");
        }
    }

    /// <summary>The facts of one explained decision.</summary>
    public static DecisionFacts Of(DecisionExplanation d) => new(
        d.RequestId, d.Version, Names.At(d.DecidedAt), d.HasLoggedPrediction ? d.LoggedPrediction : null, d.Explanation?.Prediction,
        d.HasThreshold ? d.Threshold : null, d.Explanation is { HasDecision: true } e ? e.Decision : null, d.Reproduced, d.Method,
        d.Explanation is null ? [] : [.. d.Explanation.Reasons.Select(r => new ReasonFacts(r.Rank, r.Feature, r.DisplayName, r.Description, r.HasValue ? r.Value : null, r.Attribution))],
        d.Labels.ToDictionary(), d.Unexplained);
}

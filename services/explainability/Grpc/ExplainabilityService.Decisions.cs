using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Explainability.Agnostic;
using ModelOps.Explainability.Domain;
using ModelOps.Explainability.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Identity;
using DriftDecision = ModelOps.Drift.V1.Decision;

namespace ModelOps.Explainability.Grpc;

// Logged decisions explained: what a model decided for a request, and why.
internal sealed partial class ExplainabilityService
{
    /// <summary>Most decisions ExplainRecentDecisions explains; how many when the request asks for 0.</summary>
    public const int MaxRecentDecisions = 20, DefaultRecentDecisions = 5;

    /// <summary>Longest request id.</summary>
    public const int MaxRequestId = 200;

    private static readonly TimeSpan DriftDeadline = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Service},{Roles.Admin},{Roles.Auditor}")]
    public override async Task<DecisionExplanations> ExplainDecision(ExplainDecisionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        TextRules.Name(violations, "model", request.Model, 200);
        TextRules.Name(violations, "request_id", request.RequestId, MaxRequestId);
        CheckTopK(violations, request.TopK);
        violations.ThrowIfAny();
        ModelOps.Drift.V1.Decisions logged;
        try
        {
            logged = await drift.GetDecisionAsync(new ModelOps.Drift.V1.GetDecisionRequest { Model = request.Model, RequestId = request.RequestId },
                deadline: DateTime.UtcNow.Add(DriftDeadline), cancellationToken: context.CancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            throw ServiceErrors.NotFound("decision", $"{request.Model}/{request.RequestId}",
                $"{TextRules.Echo(request.Model)} has no logged decision for request {TextRules.Echo(request.RequestId)}: the model's monitoring policy keeps no " +
                "decision log, the serving system sent the record without that request id, or the decision has expired.");
        }

        return await ExplainLoggedAsync(logged.Decisions_, request.TopK, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Service},{Roles.Admin},{Roles.Auditor}")]
    public override async Task<DecisionExplanations> ExplainRecentDecisions(ExplainRecentDecisionsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        ModelSource.Check(violations, "model", request.Model);
        violations.Require(request.Count is >= 0 and <= MaxRecentDecisions, "count", $"must lie in [0, {MaxRecentDecisions}] (0 means {DefaultRecentDecisions})");
        CheckTopK(violations, request.TopK);
        violations.ThrowIfAny();
        var page = await drift.ListDecisionsAsync(new ModelOps.Drift.V1.ListDecisionsRequest
        {
            Model = request.Model.Model, Version = request.Model.Version.ToString(CultureInfo.InvariantCulture),
            PageSize = request.Count == 0 ? DefaultRecentDecisions : request.Count,
        }, deadline: DateTime.UtcNow.Add(DriftDeadline), cancellationToken: context.CancellationToken);
        return await ExplainLoggedAsync(page.Decisions_, request.TopK, context.CancellationToken);
    }

    // Each decision explained with its version's model; the decisions of one version are explained together.
    private async Task<DecisionExplanations> ExplainLoggedAsync(IReadOnlyList<DriftDecision> decisions, int topK, CancellationToken cancellationToken)
    {
        var answer = new DecisionExplanations();
        var explained = new Dictionary<DriftDecision, DecisionExplanation>(ReferenceEqualityComparer.Instance);
        foreach (var version in decisions.GroupBy(d => d.Version, StringComparer.Ordinal))
        {
            var group = version.ToList();
            foreach (var (decision, explanation) in group.Zip(await ExplainVersionAsync(group, topK, cancellationToken)))
            {
                explained[decision] = explanation;
            }
        }

        answer.Decisions.Add(decisions.Select(d => explained[d]));
        return answer;
    }

    private async Task<IReadOnlyList<DecisionExplanation>> ExplainVersionAsync(IReadOnlyList<DriftDecision> decisions, int topK, CancellationToken cancellationToken)
    {
        var shown = decisions.Select(Shown).ToList();
        var first = decisions[0];
        if (!int.TryParse(first.Version, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            return Unexplained(shown, $"the registry numbers versions, and {TextRules.Echo(first.Version)} is not one: no registered model made it");
        }

        var reference = new ModelRef { Model = first.Model, Version = number };
        ExplainedModel model;
        try
        {
            model = await models.LoadAsync(reference, cancellationToken);
            if (model.NeedsBackground)
            {
                var report = await store.LatestImportanceAsync(reference.Model, number, cancellationToken);
                if (report is null)
                {
                    return Unexplained(shown, "the version's model is explained against background rows, and it has no importance report to take them from " +
                                              "(modelops explain importance, on its reference data)");
                }

                model = await models.WithBackgroundAsync(model, report.Background ?? report.Dataset, "background", cancellationToken);
            }
        }
        catch (ServiceException exception) when (exception.Kind is ErrorKind.NotFound or ErrorKind.FailedPrecondition or ErrorKind.InvalidArgument)
        {
            return Unexplained(shown, $"the version's model cannot be explained: {exception.Message}");
        }

        // The logged values by the model's feature names; a feature the log lacks is missing, as the model itself takes it.
        var features = model.FeatureNames;
        var values = new double[decisions.Count * features.Count];
        for (var r = 0; r < decisions.Count; r++)
        {
            var logged = decisions[r].Columns.Select((name, i) => (name, i)).ToDictionary(c => c.name, c => decisions[r].Values[c.i], StringComparer.Ordinal);
            for (var f = 0; f < features.Count; f++)
            {
                values[(r * features.Count) + f] = logged.GetValueOrDefault(features[f], double.NaN);
            }
        }

        double[] phi, margins;
        double[]? errors;
        try
        {
            (phi, margins, errors) = await ComputeAsync(model, values, decisions.Count, "decisions", cancellationToken);
        }
        catch (ServiceException exception) when (exception.Kind is ErrorKind.FailedPrecondition)
        {
            return Unexplained(shown, $"the version's model failed on the logged values: {exception.Message}");
        }

        var dictionary = await DictionaryAsync(reference.Model, cancellationToken);
        var described = model.Describe();
        var k = topK == 0 ? Explanations.DefaultTopK : topK;
        for (var r = 0; r < decisions.Count; r++)
        {
            var threshold = decisions[r].HasThreshold ? decisions[r].Threshold : model.DefaultThreshold;
            var explanation = Explanations.Explain(model, r, decisions[r].RequestId, values.AsSpan(r * features.Count, features.Count),
                phi.AsSpan(r * features.Count, features.Count), margins[r], threshold, k, dictionary, Slice(errors, r, features.Count));
            var answer = shown[r];
            answer.Explanation = explanation;
            answer.Method = described.Method;
            answer.ArtifactSha256 = described.ArtifactSha256;
            if (threshold is { } cut)
            {
                answer.Threshold = cut;
            }

            answer.Reproduced = answer.HasLoggedPrediction
                && Math.Abs(explanation.Prediction - answer.LoggedPrediction) <= 1e-6 * Math.Max(1, Math.Abs(answer.LoggedPrediction));
        }

        return shown;
    }

    // What a decision shows before it is explained: the log's facts.
    private static DecisionExplanation Shown(DriftDecision decision)
    {
        var shown = new DecisionExplanation
        {
            Model = decision.Model, Version = decision.Version, RequestId = decision.RequestId, DecidedAt = decision.DecidedAt,
        };
        if (decision.HasPrediction)
        {
            shown.LoggedPrediction = decision.Prediction;
        }

        if (decision.HasThreshold)
        {
            shown.Threshold = decision.Threshold;
        }

        for (var c = 0; c < decision.LabelColumns.Count; c++)
        {
            shown.Labels[decision.LabelColumns[c]] = decision.Labels[c];
        }

        return shown;
    }

    private static List<DecisionExplanation> Unexplained(List<DecisionExplanation> shown, string why)
    {
        foreach (var decision in shown)
        {
            decision.Unexplained = why;
        }

        return shown;
    }
}

using ModelOps.Registry.Data;
using ModelOps.Registry.Gates;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Grpc;

namespace ModelOps.Registry.Domain;

/// <summary>Evaluates requests against the policy in effect and records the outcome.</summary>
public sealed partial class PromotionWorkflow(RegistryStore store, GateEvaluator evaluator, ILogger<PromotionWorkflow> logger)
{
    private const int MaxAttempts = 5;

    /// <summary>The policy in effect for <paramref name="model"/>: the newest stored, else the default of its tier.</summary>
    public async Task<Policy> PolicyAsync(RegisteredModel model, CancellationToken cancellationToken) =>
        await store.GetPolicyAsync(model.Name, 0, cancellationToken) ?? Policies.Default(model.Name, model.RiskTier);

    /// <summary>
    /// Evaluates an open request's gates and records the result; when every gate passes, its transition is made in
    /// the same transaction. Evaluates again when the policy changed meanwhile.
    /// </summary>
    public async Task<EvaluationOutcome> EvaluateAsync(Guid requestId, string actor, CancellationToken cancellationToken, bool recordUnchanged = true)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var request = await store.GetRequestAsync(requestId, cancellationToken);
            if (request is null)
            {
                GrpcErrors.NotFound($"Promotion request {requestId}");
            }

            if (request.State != RequestState.Open)
            {
                return EvaluationOutcome.NotOpen;
            }

            var model = (await store.GetModelAsync(request.Model, cancellationToken))!;
            var (_, snapshot) = (await store.GetVersionAsync(request.Model, request.Version, cancellationToken))!.Value;
            var policy = await PolicyAsync(model, cancellationToken);
            var gates = Policies.GatesFor(policy, request.Target);
            var context = new EvaluationContext(snapshot, model.RiskTier, policy, request.Target, request.Approvals);
            var results = await evaluator.EvaluateAsync(context, gates, cancellationToken);
            var outcome = await store.RecordEvaluationAsync(requestId, policy.Version, gates, results,
                (approvals, gate) => GateEvaluator.Approvals(gate, context with { Approvals = approvals }),
                snapshot, actor, Policies.MaxProduction(policy), recordUnchanged, cancellationToken);
            if (outcome != EvaluationOutcome.StalePolicy)
            {
                return outcome;
            }
        }

        GrpcErrors.FailedPrecondition($"The policy kept changing while request {requestId} was evaluated; evaluate it again.");
        return EvaluationOutcome.StalePolicy;
    }

    /// <summary>Re-evaluates every open request of a model (after its policy changed); a failure is logged, not thrown.</summary>
    public async Task ReevaluateOpenAsync(string model, string actor, CancellationToken cancellationToken)
    {
        foreach (var requestId in await store.OpenRequestIdsAsync(model, cancellationToken))
        {
            try
            {
                await EvaluateAsync(requestId, actor, cancellationToken);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                LogReevaluationFailed(logger, requestId, model, exception);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Re-evaluating request {RequestId} of {Model} failed; it stays open")]
    private static partial void LogReevaluationFailed(ILogger logger, Guid requestId, string model, Exception exception);
}

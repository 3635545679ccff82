using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.Data;
using ModelOps.Registry.Gates;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Registry.Domain;

/// <summary>What became of an evaluation.</summary>
public enum EvaluationOutcome
{
    /// <summary>Recorded (and, when every gate passed, applied).</summary>
    Recorded,

    /// <summary>The request had been decided meanwhile.</summary>
    NotOpen,

    /// <summary>Every gate said what the latest recorded evaluation said; asked not to record that, nothing was written.</summary>
    Unchanged,
}

/// <summary>
/// The life of a promotion request: opened under the policy and risk tier in force (which stay its gates unless it is
/// re-opened), reviewed, evaluated, decided, and applied. Each step reads what it decides on under the model's lock, decides
/// by <see cref="PromotionRules"/>, and commits its change with the events that describe it.
/// </summary>
public sealed partial class PromotionWorkflow(RegistryStore store, GateEvaluator evaluator, ILogger<PromotionWorkflow> logger)
{
    private const int MaxAttempts = 5;

    /// <summary>The policy in effect for <paramref name="model"/>: the newest stored, else the default of its tier.</summary>
    public async Task<Policy> PolicyInEffectAsync(RegisteredModel model, CancellationToken cancellationToken) =>
        await store.GetPolicyAsync(model.Name, 0, cancellationToken) ?? Policies.Default(model.Name, model.RiskTier);

    /// <summary>
    /// Opens a request for <paramref name="request"/>'s move, its gates fixed to the policy and risk tier in force now,
    /// and evaluates it; a pipeline must belong to the model's owner team. Returns the request's id.
    /// </summary>
    public async Task<Guid> OpenAsync(RequestPromotionRequest request, string clientRequestId, Caller caller, CancellationToken cancellationToken)
    {
        Guid requestId;
        await using (var tx = await store.BeginAsync(cancellationToken))
        {
            var model = await RegistryStore.LockModelAsync(tx, request.Model, cancellationToken);
            if (!caller.IsInRole(Roles.Reviewer))
            {
                PromotionRules.CheckOwner(caller, model.Owner, model.Name);
            }

            var stage = await RegistryStore.StageAsync(tx, request.Model, request.Version, cancellationToken);
            var holder = request.Target.KindCase == Target.KindOneofCase.Alias
                ? await RegistryStore.AliasHolderAsync(tx, request.Model, request.Target.Alias, cancellationToken)
                : null;
            PromotionRules.CheckMove(request.Model, request.Version, stage, request.Target, holder);
            var promotion = new PromotionRequest
            {
                RequestId = Guid.CreateVersion7().ToString(),
                Model = request.Model,
                Version = request.Version,
                Target = request.Target,
                Justification = request.Justification,
                Requester = caller.Actor,
            };
            (requestId, var created) = await RegistryStore.CreateRequestAsync(tx, promotion, stage, model.PolicyVersion, model.RiskTier,
                clientRequestId, cancellationToken);
            if (!created)
            {
                return requestId;
            }

            tx.Publish(new PromotionRequested
            {
                Actor = caller.Actor,
                RequestId = requestId,
                Model = request.Model,
                Version = request.Version,
                Target = Targets.Format(request.Target),
                Justification = request.Justification,
            });
            await tx.CommitAsync(cancellationToken);
        }

        // The sweep may evaluate the new request first (it also evaluates requests never evaluated, in case their creator
        // died here): its first evaluation is then recorded once, not twice in a row.
        await EvaluateAsync(requestId, caller.Actor, cancellationToken, recordUnchanged: false);
        return requestId;
    }

    /// <summary>
    /// Evaluates an open request's gates (those of its pinned policy and tier) and records the result; when every gate
    /// passes, its transition is made in the same transaction. A request whose version left the stage it was asked from
    /// is superseded instead.
    /// </summary>
    public async Task<EvaluationOutcome> EvaluateAsync(Guid requestId, string actor, CancellationToken cancellationToken, bool recordUnchanged = true)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var request = await store.GetRequestAsync(requestId, cancellationToken)
                          ?? throw ServiceErrors.NotFound("promotion_request", requestId.ToString());
            if (request.State != RequestState.Open)
            {
                return EvaluationOutcome.NotOpen;
            }

            var version = await store.GetVersionAsync(request.Model, request.Version, cancellationToken)
                          ?? throw ServiceErrors.NotFound("model_version", $"{request.Model}/{request.Version}");
            var policy = await PinnedPolicyAsync(request, cancellationToken);
            var gates = Policies.GatesFor(policy, request.Target);
            var context = new EvaluationContext(version.Snapshot, request.RiskTier, policy, request.Target, request.Approvals);
            var results = await evaluator.EvaluateAsync(context, gates, cancellationToken);

            await using var tx = await store.BeginAsync(cancellationToken);
            await RegistryStore.LockModelAsync(tx, request.Model, cancellationToken);
            var locked = await RegistryStore.LockRequestAsync(tx, requestId, cancellationToken);
            if (locked.State != RequestState.Open)
            {
                return EvaluationOutcome.NotOpen;
            }

            if (locked.PolicyVersion != request.PolicyVersion || locked.RiskTier != request.RiskTier)
            {
                continue; // Re-opened under another policy while its gates were evaluated: evaluate under that one.
            }

            var now = await RegistryStore.ClockAsync(tx, cancellationToken);
            var stage = await RegistryStore.StageAsync(tx, request.Model, request.Version, cancellationToken);
            if (PromotionRules.Superseded(locked.Target, locked.FromStage, stage))
            {
                tx.Publish(await RegistryStore.CloseRequestAsync(tx, locked, RequestState.Superseded, "registry",
                    $"version {request.Version} is now {Targets.StageName(stage)}; the request was made from {Targets.StageName(locked.FromStage)}",
                    cancellationToken));
                await tx.CommitAsync(cancellationToken);
                return EvaluationOutcome.Recorded;
            }

            var approvals = await RegistryStore.ApprovalsAsync(tx, requestId, cancellationToken);
            var final = PromotionRules.Final(gates, results, context, approvals);
            var passed = final.All(r => r.Status == GateStatus.Pass);
            if (!recordUnchanged && !passed && locked.GatesJson is { } previous &&
                PromotionRules.Outcome(RegistryStore.ParseGates(previous)) == PromotionRules.Outcome(final))
            {
                return EvaluationOutcome.Unchanged;
            }

            var evaluationId = await RegistryStore.RecordEvaluationAsync(tx, requestId, locked.PolicyVersion, final, passed, now, cancellationToken);
            tx.Publish(new GateEvaluated
            {
                Actor = actor,
                RequestId = requestId,
                Model = request.Model,
                Version = request.Version,
                PolicyVersion = locked.PolicyVersion,
                Passed = passed,
                Gates = final.Select(r => new GateOutcome(r.Name, r.Kind, RequestStates.StatusName(r.Status), r.Reason, r.Evidence.ToDictionary())).ToList(),
            });
            if (passed)
            {
                var decider = approvals.Count > 0 ? approvals[^1].Reviewer : actor;
                var moving = version.Snapshot with { Stage = stage };
                var changes = await ApplyAsync(tx, now,
                    new Transition(moving, locked.Target, requestId, evaluationId, null, decider, locked.Justification), policy, cancellationToken);
                tx.Publish(await RegistryStore.CloseRequestAsync(tx, locked, RequestState.Approved, decider, "every gate passed", cancellationToken));
                changes.ForEach(tx.Publish);
            }

            await tx.CommitAsync(cancellationToken);
            return EvaluationOutcome.Recorded;
        }

        throw ServiceErrors.Aborted("REQUEST_REPINNED", $"Request {requestId} kept being re-opened while it was evaluated; evaluate it again.");
    }

    /// <summary>Records a reviewer's approval (four eyes), then evaluates the request.</summary>
    public async Task ApproveAsync(Guid requestId, string reviewer, string comment, CancellationToken cancellationToken)
    {
        await using (var tx = await store.BeginAsync(cancellationToken))
        {
            var request = await RegistryStore.LockOpenRequestAsync(tx, requestId, cancellationToken);
            var version = await store.GetVersionAsync(request.Model, request.Version, cancellationToken)
                          ?? throw ServiceErrors.NotFound("model_version", $"{request.Model}/{request.Version}");
            PromotionRules.CheckReviewer(reviewer, request.Requester, version.Version);
            await RegistryStore.AddApprovalAsync(tx, requestId, reviewer, comment, cancellationToken);
            tx.Publish(new PromotionApproved
            {
                Actor = reviewer,
                RequestId = requestId,
                Model = request.Model,
                Version = request.Version,
                Comment = comment,
            });
            await tx.CommitAsync(cancellationToken);
        }

        await EvaluateAsync(requestId, reviewer, cancellationToken);
    }

    /// <summary>Ends an open request as REJECTED (a reviewer other than its requester) or CANCELLED (its requester or an admin).</summary>
    public async Task DecideAsync(Guid requestId, RequestState state, Caller caller, string comment, CancellationToken cancellationToken)
    {
        await using var tx = await store.BeginAsync(cancellationToken);
        var request = await RegistryStore.LockOpenRequestAsync(tx, requestId, cancellationToken);
        if (state == RequestState.Rejected && caller.Actor == request.Requester)
        {
            throw ServiceErrors.PermissionDenied("FOUR_EYES", $"{TextRules.Echo(caller.Actor)} asked for this promotion; withdraw it with CancelPromotion instead.");
        }

        if (state == RequestState.Cancelled && caller.Actor != request.Requester && !caller.IsInRole(Roles.Admin))
        {
            throw ServiceErrors.PermissionDenied("NOT_REQUESTER", "Only the requester or an admin can withdraw a request.");
        }

        tx.Publish(await RegistryStore.CloseRequestAsync(tx, request, state, caller.Actor, comment, cancellationToken));
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Re-opens an open request under the policy and risk tier in force now (its requester or an admin), recorded with the
    /// reason as <see cref="PromotionRepinned"/>; nothing changes when they are the request's already.
    /// </summary>
    public async Task RepinAsync(Guid requestId, Caller caller, string reason, CancellationToken cancellationToken)
    {
        await using var tx = await store.BeginAsync(cancellationToken);
        var request = await RegistryStore.LockOpenRequestAsync(tx, requestId, cancellationToken);
        if (caller.Actor != request.Requester && !caller.IsInRole(Roles.Admin))
        {
            throw ServiceErrors.PermissionDenied("NOT_REQUESTER", "Only the requester or an admin can re-open a request under the current policy.");
        }

        var model = await RegistryStore.LockModelAsync(tx, request.Model, cancellationToken);
        if (model.PolicyVersion == request.PolicyVersion && model.RiskTier == request.RiskTier)
        {
            return;
        }

        await RegistryStore.RepinAsync(tx, requestId, model.PolicyVersion, model.RiskTier, cancellationToken);
        tx.Publish(new PromotionRepinned
        {
            Actor = caller.Actor,
            RequestId = requestId,
            Model = request.Model,
            Version = request.Version,
            FromPolicyVersion = request.PolicyVersion,
            FromRiskTier = RiskTiers.Name(request.RiskTier),
            ToPolicyVersion = model.PolicyVersion,
            ToRiskTier = RiskTiers.Name(model.RiskTier),
            Reason = reason,
        });
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>An admin's move past the gates, recorded with its reason.</summary>
    public async Task OverrideAsync(string modelName, int versionNumber, Target target, string reason, string actor, CancellationToken cancellationToken)
    {
        await using var tx = await store.BeginAsync(cancellationToken);
        var model = await RegistryStore.LockModelAsync(tx, modelName, cancellationToken);
        var version = await store.GetVersionAsync(modelName, versionNumber, cancellationToken)
                      ?? throw ServiceErrors.NotFound("model_version", $"{modelName}/{versionNumber}");
        var stage = await RegistryStore.StageAsync(tx, modelName, versionNumber, cancellationToken);
        var holder = target.KindCase == Target.KindOneofCase.Alias
            ? await RegistryStore.AliasHolderAsync(tx, modelName, target.Alias, cancellationToken)
            : null;
        PromotionRules.CheckMove(modelName, versionNumber, stage, target, holder);
        var now = await RegistryStore.ClockAsync(tx, cancellationToken);
        var changes = await ApplyAsync(tx, now, new Transition(version.Snapshot with { Stage = stage }, target, null, null, reason, actor, reason),
            await PolicyInEffectAsync(model, cancellationToken), cancellationToken);
        changes.ForEach(tx.Publish);
        await tx.CommitAsync(cancellationToken);
    }

    // A move into Production retires the longest-serving versions beyond the policy's cap.
    private static async Task<List<StageChanged>> ApplyAsync(
        ServiceDefaults.Data.UnitOfWork tx, DateTime now, Transition move, Policy policy, CancellationToken cancellationToken)
    {
        var retire = move.Target.KindCase == Target.KindOneofCase.Stage && move.Target.Stage == Stage.Production
            ? PromotionRules.Retired(await RegistryStore.ProductionAsync(tx, move.Version, cancellationToken), Policies.MaxProduction(policy))
            : [];
        return await RegistryStore.ApplyAsync(tx, now, move, retire, cancellationToken);
    }

    // The policy a request's gates come from: the stored version it was opened under, or the default of its tier.
    private async Task<Policy> PinnedPolicyAsync(PromotionRequest request, CancellationToken cancellationToken)
    {
        if (request.PolicyVersion == 0)
        {
            return Policies.Default(request.Model, request.RiskTier);
        }

        var policy = await store.GetPolicyAsync(request.Model, request.PolicyVersion, cancellationToken);
        if (policy is null)
        {
            LogPolicyMissing(logger, request.Model, request.PolicyVersion);
            throw ServiceErrors.DataLoss("POLICY_MISSING", $"Version {request.PolicyVersion} of the policy of '{request.Model}' is missing from the store.");
        }

        return policy;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Policy version {PolicyVersion} of {Model} is missing from the store")]
    private static partial void LogPolicyMissing(ILogger logger, string model, int policyVersion);
}

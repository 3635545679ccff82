using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Ledger.V1;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using static ModelOps.Registry.Grpc.RegistryRequests;

namespace ModelOps.Registry.Grpc;

/// <summary>The promotion part of the registry API: requests, reviews, overrides, serving and history.</summary>
public sealed partial class RegistryService
{
    /// <inheritdoc />
    [Authorize(Roles = Requesters)]
    public override async Task<PromotionRequest> RequestPromotion(RequestPromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        request.Model = ModelName(violations, "model", request.Model);
        Targets.Check(violations, "target", request.Target);
        Text(violations, "justification", request.Justification, required: true);
        var clientRequestId = TextRules.Name(violations, "client_request_id", request.ClientRequestId, 128, required: false);
        violations.ThrowIfAny("The request was not recorded.");
        await LoadVersionAsync(request.Model, request.Version, context.CancellationToken);
        var requestId = await workflow.OpenAsync(request, clientRequestId, context.GetCaller(), context.CancellationToken);
        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    public override Task<PromotionRequest> GetPromotionRequest(GetPromotionRequestRequest request, ServerCallContext context) =>
        LoadRequestAsync(RequestId(request.RequestId), context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListPromotionRequestsResponse> ListPromotionRequests(ListPromotionRequestsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        // No model: every model's requests (a reviewer's queue of what waits, across the models they review).
        var model = request.Model.Length == 0 ? null : ModelName(violations, "model", request.Model);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        violations.Require(Enum.IsDefined(request.State), "state", "is not a request state");
        var fingerprint = Paging.Fingerprint("requests", model ?? "", request.State.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        if (model is not null)
        {
            await LoadModelAsync(model, context.CancellationToken);
        }

        var requests = await store.ListRequestsAsync(model, request.State, pageSize + 1, offset, context.CancellationToken);
        return new ListPromotionRequestsResponse
        {
            Requests = { requests.Take(pageSize) },
            NextPageToken = Paging.NextToken(requests.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Reviewer)]
    public override async Task<PromotionRequest> ApprovePromotion(ReviewPromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var requestId = RequestId(violations, request.RequestId);
        Text(violations, "comment", request.Comment);
        violations.ThrowIfAny();
        await workflow.ApproveAsync(requestId, context.GetCaller().Actor, request.Comment, context.CancellationToken);
        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Reviewer)]
    public override Task<PromotionRequest> RejectPromotion(ReviewPromotionRequest request, ServerCallContext context) =>
        DecideAsync(request.RequestId, request.Comment, RequestState.Rejected, context);

    /// <inheritdoc />
    [Authorize(Roles = Requesters)]
    public override Task<PromotionRequest> CancelPromotion(CancelPromotionRequest request, ServerCallContext context) =>
        DecideAsync(request.RequestId, request.Comment, RequestState.Cancelled, context);

    private async Task<PromotionRequest> DecideAsync(string requestIdText, string comment, RequestState state, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var requestId = RequestId(violations, requestIdText);
        Text(violations, "comment", comment, required: state == RequestState.Rejected);
        violations.ThrowIfAny();
        await workflow.DecideAsync(requestId, state, context.GetCaller(), comment, context.CancellationToken);
        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Requesters},{Roles.Service}")]
    public override async Task<PromotionRequest> ReevaluatePromotion(ReevaluatePromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var requestId = RequestId(violations, request.RequestId);
        Text(violations, "reason", request.Reason, required: request.AdoptCurrentPolicy);
        violations.ThrowIfAny();
        var caller = context.GetCaller();
        if (request.AdoptCurrentPolicy)
        {
            await workflow.RepinAsync(requestId, caller, request.Reason, context.CancellationToken);
        }

        if (await workflow.EvaluateAsync(requestId, caller.Actor, context.CancellationToken) == EvaluationOutcome.NotOpen)
        {
            var decided = await LoadRequestAsync(requestId, context.CancellationToken);
            throw ServiceErrors.FailedPrecondition("REQUEST_NOT_OPEN",
                $"Promotion request {requestId} is {RequestStates.Name(decided.State)}: only an OPEN request is evaluated.", "REQUEST_STATE", requestId.ToString());
        }

        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Admin)]
    public override async Task<ModelVersion> OverrideTransition(OverrideTransitionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = ModelName(violations, "model", request.Model);
        Targets.Check(violations, "target", request.Target);
        Text(violations, "reason", request.Reason, required: true);
        violations.ThrowIfAny("Nothing was changed.");
        await workflow.OverrideAsync(model, request.Version, request.Target, request.Reason, context.GetCaller().Actor, context.CancellationToken);
        return await LoadVersionAsync(model, request.Version, context.CancellationToken);
    }

    /// <inheritdoc />
    public override async Task<Deployable> GetDeployable(GetDeployableRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = ModelName(violations, "model", request.Model);
        Targets.Check(violations, "target", request.Target);
        violations.ThrowIfAny();
        var cancellationToken = context.CancellationToken;
        await LoadModelAsync(model, cancellationToken);
        var (assignment, gates, ledgerIndex) = await store.CurrentAsync(model, request.Target, cancellationToken)
                                               ?? throw ServiceErrors.NotFound("assignment", $"{model} {Targets.Format(request.Target)}",
                                                   $"No version of '{model}' is in {Targets.Format(request.Target)}.");
        var subject = $"{model}/{assignment.Version}";
        if (assignment.RequestId.Length == 0)
        {
            throw ServiceErrors.FailedPrecondition("OVERRIDE_ASSIGNMENT",
                $"{Targets.Format(request.Target)} of '{model}' holds version {assignment.Version} by an admin's override ({TextRules.Clip(assignment.OverrideReason, 200)}), not through its gates.",
                "ASSIGNMENT", subject);
        }

        var version = await store.GetVersionAsync(model, assignment.Version, cancellationToken)
                      ?? throw ServiceErrors.NotFound("model_version", subject);
        if (version.IntegrityFailedAt is { } failedAt)
        {
            throw ServiceErrors.FailedPrecondition("ARTIFACT_ALTERED",
                $"The artifact of version {assignment.Version} of '{model}' no longer hashes to its pinned SHA-256 (found {failedAt:O}): it is not served.",
                "ARTIFACT_INTEGRITY", subject,
                new Dictionary<string, string> { ["pinned_sha256"] = version.Version.ArtifactSha256, ["actual_sha256"] = version.IntegrityActualSha256 ?? "" });
        }

        return new Deployable
        {
            Model = model,
            Version = assignment.Version,
            Target = request.Target,
            RunId = version.Version.RunId,
            ArtifactUri = version.Version.ArtifactUri,
            ArtifactSha256 = version.Version.ArtifactSha256,
            ArtifactSize = version.Version.ArtifactSize,
            RequestId = assignment.RequestId,
            Gates = { gates },
            Since = assignment.Since,
            DecisionEventId = assignment.DecisionEventId,
            LedgerIndex = ledgerIndex ?? await LedgerIndexAsync(Guid.Parse(assignment.DecisionEventId), cancellationToken),
        };
    }

    /// <inheritdoc />
    public override async Task<ListHistoryResponse> ListHistory(ListHistoryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = ModelName(violations, "model", request.Model);
        if (request.Target is not null)
        {
            Targets.Check(violations, "target", request.Target);
        }

        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("history", model, request.Target?.ToString() ?? "");
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        await LoadModelAsync(model, context.CancellationToken);
        var history = await store.ListHistoryAsync(model, request.Target, pageSize + 1, offset, context.CancellationToken);
        return new ListHistoryResponse
        {
            Assignments = { history.Take(pageSize) },
            NextPageToken = Paging.NextToken(history.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    public override async Task<GetAssignmentsAtResponse> GetAssignmentsAt(GetAssignmentsAtRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = ModelName(violations, "model", request.Model);
        Targets.Check(violations, "target", request.Target);
        var at = Timestamps.Check(violations, "at", request.At, required: true);
        violations.ThrowIfAny();
        await LoadModelAsync(model, context.CancellationToken);
        return new GetAssignmentsAtResponse
        {
            Assignments = { await store.AssignmentsAtAsync(model, request.Target, at!.Value, context.CancellationToken) },
        };
    }

    // The ledger appends events as they arrive over the bus; until it has this one, the index is unknown (-1). Once
    // known it is kept, since a ledger index never changes.
    private async Task<long> LedgerIndexAsync(Guid eventId, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await ledger.GetEntryByEventIdAsync(new GetEntryByEventIdRequest { EventId = eventId.ToString() },
                deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: cancellationToken);
            await store.SetLedgerIndexAsync(eventId, entry.Index, cancellationToken);
            return entry.Index;
        }
        catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
        {
            LogLedgerUnknown(logger, eventId, exception.StatusCode);
            return -1;
        }
    }
}

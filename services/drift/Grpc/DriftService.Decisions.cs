using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Drift.Grpc;

// Decision logs: what a model decided for a request, read by the people and services that answer for it.
public sealed partial class DriftService
{
    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Service},{Roles.Admin},{Roles.Auditor}")]
    public override async Task<Decisions> GetDecision(GetDecisionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        TextRules.Name(violations, "request_id", request.RequestId, MaxRequestId);
        violations.ThrowIfAny();
        var decisions = await store.GetDecisionsAsync(request.Model, request.RequestId, context.CancellationToken);
        if (decisions.Count == 0)
        {
            throw ServiceErrors.NotFound("decision", $"{request.Model}/{request.RequestId}",
                $"{TextRules.Echo(request.Model)} has no logged decision for request {TextRules.Echo(request.RequestId)}: it was not logged (no decision log in the " +
                "model's monitoring policy, or sent without that request id) or it has expired.");
        }

        return new Decisions { Decisions_ = { decisions } };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Service},{Roles.Admin},{Roles.Auditor}")]
    public override async Task<Decisions> ListDecisions(ListDecisionsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("decisions", request.Model, request.Version);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var page = await store.ListDecisionsAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        return new Decisions
        {
            Decisions_ = { page.Take(pageSize) },
            NextPageToken = Paging.NextToken(page.Count, pageSize, offset, fingerprint),
        };
    }
}

using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.Data;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Drift.Grpc;

// Decision logs: what ingestion logs of each decision, and what a model decided for a request, read by the people and
// services that answer for it.
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

    // The decisions of one version's queued records that carry a request id, late ones included, with the columns their
    // values follow.
    private static (string[] Numbers, string[] Labels, List<LoggedDecision> Decisions) Decisions(StoredReference reference, Pending queued)
    {
        var numbers = DecisionLogs.NumberColumns(reference.Schema);
        var labels = DecisionLogs.LabelColumns(reference.Schema);
        var prediction = reference.Prediction?.Column;
        var decisions = new List<LoggedDecision>();
        foreach (var record in queued.Records.Concat(queued.LateRecords))
        {
            if (DecisionLogs.Of(record.RequestId, record.At, numbers, labels, prediction, c => record.Row.GetValueOrDefault(c)) is { } decision)
            {
                decisions.Add(decision);
            }
        }

        foreach (var (times, columns, rows, requestIds) in queued.Batches.Concat(queued.LateBatches).Where(b => b.RequestIds is not null))
        {
            foreach (var r in rows)
            {
                if (DecisionLogs.Of(requestIds![r], times[r], numbers, labels, prediction, c => columns.GetValueOrDefault(c)?.ValueAt(r) ?? FeatureValue.Missing) is { } decision)
                {
                    decisions.Add(decision);
                }
            }
        }

        return (numbers, labels, decisions);
    }
}

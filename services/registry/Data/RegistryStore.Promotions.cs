using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using NpgsqlTypes;

namespace ModelOps.Registry.Data;

/// <summary>A promotion request as locked for a decision: what it asks, from where, under which policy and tier.</summary>
/// <param name="RequestId">The request.</param>
/// <param name="Model">The model.</param>
/// <param name="Version">The version.</param>
/// <param name="Target">Where it would go.</param>
/// <param name="FromStage">The version's stage when the request was made.</param>
/// <param name="State">Its state.</param>
/// <param name="Justification">Why.</param>
/// <param name="Requester">Who asked.</param>
/// <param name="PolicyVersion">The policy version its gates come from (0: the default policy of its tier).</param>
/// <param name="RiskTier">The risk tier its gates come from.</param>
/// <param name="GatesJson">Its latest evaluation's results, if any.</param>
public sealed record RequestRecord(
    Guid RequestId, string Model, int Version, Target Target, Stage FromStage, RequestState State, string Justification, string Requester,
    int PolicyVersion, RiskTier RiskTier, string? GatesJson);

/// <summary>Promotion requests, their approvals and their gate evaluations.</summary>
public sealed partial class RegistryStore
{
    private const string RequestColumns =
        "r.request_id, r.model, r.version, r.target, r.justification, r.requester, r.state, r.created_at, r.gates::text, r.evaluated_at, " +
        "r.policy_version, r.decided_by, r.decided_at, r.decision_comment, r.risk_tier";

    /// <summary>
    /// Records a new OPEN request in <paramref name="tx"/>, its gates fixed to <paramref name="policyVersion"/> and
    /// <paramref name="tier"/>. Another open request for the same version and target is
    /// <c>PROMOTION_REQUEST_ALREADY_EXISTS</c>. With a <paramref name="clientRequestId"/> the call is idempotent: a repeat
    /// finds the request the first one opened, and <c>Created</c> is false.
    /// </summary>
    public static async Task<(Guid RequestId, bool Created)> CreateRequestAsync(
        UnitOfWork tx, PromotionRequest request, Stage fromStage, int policyVersion, RiskTier tier, string clientRequestId,
        CancellationToken cancellationToken)
    {
        if (clientRequestId.Length > 0)
        {
            await using var earlier = tx.Command(
                "SELECT request_id, model, version FROM promotion_requests WHERE requester = $1 AND client_request_id = $2",
                request.Requester, clientRequestId);
            await using var reader = await earlier.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                return reader.GetString(1) == request.Model && reader.GetInt32(2) == request.Version
                    ? (reader.GetGuid(0), false)
                    : throw ServiceErrors.InvalidArgument("client_request_id", "was used before to ask for another promotion");
            }
        }

        await using var insert = tx.Command(
            """
            INSERT INTO promotion_requests (request_id, model, version, target, from_stage, justification, requester, policy_version, risk_tier, client_request_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING
            """,
            Guid.Parse(request.RequestId), request.Model, request.Version, Targets.Format(request.Target), Targets.StageName(fromStage),
            request.Justification, request.Requester, policyVersion, RiskTiers.Name(tier),
            Sql.Typed(clientRequestId.Length > 0 ? clientRequestId : null, NpgsqlDbType.Text));
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            throw ServiceErrors.AlreadyExists("promotion_request", $"{request.Model}/{request.Version} {Targets.Format(request.Target)}",
                $"Version {request.Version} of '{request.Model}' has an open request for {Targets.Format(request.Target)} already; approve, reject or cancel that one.");
        }

        return (Guid.Parse(request.RequestId), true);
    }

    /// <summary>One request with its approvals, or null.</summary>
    public async Task<PromotionRequest?> GetRequestAsync(Guid requestId, CancellationToken cancellationToken) =>
        (await QueryRequestsAsync("r.request_id = $1", [requestId], 1, 0, cancellationToken)).SingleOrDefault();

    /// <summary>A model's requests (every model's when <paramref name="model"/> is null), newest first, optionally in one state.</summary>
    public Task<List<PromotionRequest>> ListRequestsAsync(string? model, RequestState state, int limit, long offset, CancellationToken cancellationToken) =>
        (model, state) switch
        {
            (null, RequestState.Unspecified) => QueryRequestsAsync("TRUE", [], limit, offset, cancellationToken),
            (null, _) => QueryRequestsAsync("r.state = $1", [RequestStates.Name(state)], limit, offset, cancellationToken),
            (_, RequestState.Unspecified) => QueryRequestsAsync("r.model = $1", [model], limit, offset, cancellationToken),
            _ => QueryRequestsAsync("r.model = $1 AND r.state = $2", [model, RequestStates.Name(state)], limit, offset, cancellationToken),
        };

    /// <summary>
    /// Open requests whose latest evaluation has a PENDING gate other than approvals (a remote gate waiting for its
    /// service or its evidence, a service that could not be asked), or that were never evaluated (the service stopped in
    /// between), oldest first.
    /// </summary>
    public async Task<List<Guid>> WaitingRequestIdsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            """
            SELECT request_id FROM promotion_requests
            WHERE state = 'OPEN' AND (gates IS NULL OR
                  EXISTS (SELECT 1 FROM jsonb_array_elements(gates) g WHERE g->>'status' = 'GATE_STATUS_PENDING' AND g->>'kind' <> 'approval'))
            ORDER BY created_at LIMIT $1
            """, limit);
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    /// <summary>The request, locked in <paramref name="tx"/>; <c>PROMOTION_REQUEST_NOT_FOUND</c> when there is none.</summary>
    public static async Task<RequestRecord> LockRequestAsync(UnitOfWork tx, Guid requestId, CancellationToken cancellationToken)
    {
        await using var command = tx.Command(
            """
            SELECT model, version, target, from_stage, state, justification, requester, gates::text, policy_version, risk_tier
            FROM promotion_requests WHERE request_id = $1 FOR UPDATE
            """, requestId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw ServiceErrors.NotFound("promotion_request", requestId.ToString());
        }

        return new RequestRecord(requestId, reader.GetString(0), reader.GetInt32(1), Targets.Parse(reader.GetString(2)),
            Targets.ParseStage(reader.GetString(3)), RequestStates.Parse(reader.GetString(4)), reader.GetString(5), reader.GetString(6),
            reader.GetInt32(8), RiskTiers.Parse(reader.GetString(9)), reader.IsDBNull(7) ? null : reader.GetString(7));
    }

    /// <summary>The request, locked; <c>REQUEST_NOT_OPEN</c> unless it is OPEN.</summary>
    public static async Task<RequestRecord> LockOpenRequestAsync(UnitOfWork tx, Guid requestId, CancellationToken cancellationToken)
    {
        var request = await LockRequestAsync(tx, requestId, cancellationToken);
        return request.State == RequestState.Open
            ? request
            : throw ServiceErrors.FailedPrecondition("REQUEST_NOT_OPEN",
                $"Promotion request {requestId} is {RequestStates.Name(request.State)}: only an OPEN request can be reviewed or evaluated.",
                "REQUEST_STATE", requestId.ToString(), new Dictionary<string, string> { ["state"] = RequestStates.Name(request.State) });
    }

    /// <summary>Records an approval; a second approval by the same reviewer is <c>APPROVAL_ALREADY_EXISTS</c>.</summary>
    public static async Task AddApprovalAsync(UnitOfWork tx, Guid requestId, string reviewer, string comment, CancellationToken cancellationToken)
    {
        await using var insert = tx.Command(
            "INSERT INTO approvals (request_id, reviewer, comment) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", requestId, reviewer, comment);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            throw ServiceErrors.AlreadyExists("approval", $"{requestId}/{reviewer}", $"{TextRules.Echo(reviewer)} has approved request {requestId} already.");
        }
    }

    /// <summary>The approvals of a request, oldest first.</summary>
    public static async Task<List<Approval>> ApprovalsAsync(UnitOfWork tx, Guid requestId, CancellationToken cancellationToken)
    {
        await using var command = tx.Command(
            "SELECT reviewer, comment, created_at FROM approvals WHERE request_id = $1 ORDER BY created_at, reviewer", requestId);
        var approvals = new List<Approval>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            approvals.Add(new Approval { Reviewer = reader.GetString(0), Comment = reader.GetString(1), At = Time(reader, 2) });
        }

        return approvals;
    }

    /// <summary>Ends an OPEN request as <paramref name="state"/>; returns the event that announces it.</summary>
    public static async Task<PromotionDecided> CloseRequestAsync(
        UnitOfWork tx, RequestRecord request, RequestState state, string actor, string comment, CancellationToken cancellationToken)
    {
        await using var update = tx.Command(
            "UPDATE promotion_requests SET state = $2, decided_by = $3, decided_at = clock_timestamp(), decision_comment = $4 WHERE request_id = $1",
            request.RequestId, RequestStates.Name(state), actor, comment);
        await update.ExecuteNonQueryAsync(cancellationToken);
        return new PromotionDecided
        {
            Actor = actor,
            RequestId = request.RequestId,
            Model = request.Model,
            Version = request.Version,
            Target = Targets.Format(request.Target),
            Outcome = RequestStates.Name(state),
            Comment = comment,
        };
    }

    /// <summary>Fixes an open request's gates to another policy version and tier (a re-opening).</summary>
    public static async Task RepinAsync(UnitOfWork tx, Guid requestId, int policyVersion, RiskTier tier, CancellationToken cancellationToken)
    {
        await using var update = tx.Command(
            "UPDATE promotion_requests SET policy_version = $2, risk_tier = $3 WHERE request_id = $1", requestId, policyVersion, RiskTiers.Name(tier));
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records one evaluation of a request and makes it the request's latest; returns its id.</summary>
    public static async Task<Guid> RecordEvaluationAsync(
        UnitOfWork tx, Guid requestId, int policyVersion, IReadOnlyList<GateResult> results, bool passed, DateTime now,
        CancellationToken cancellationToken)
    {
        var evaluationId = Guid.CreateVersion7();
        var gatesJson = GatesJson(results);
        await using var record = tx.Batch(
            Sql.Statement(
                "INSERT INTO gate_evaluations (evaluation_id, request_id, policy_version, gates, passed, evaluated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                evaluationId, requestId, policyVersion, Sql.Jsonb(gatesJson), passed, now),
            Sql.Statement("UPDATE promotion_requests SET gates = $2, evaluated_at = $3 WHERE request_id = $1", requestId, Sql.Jsonb(gatesJson), now));
        await record.ExecuteNonQueryAsync(cancellationToken);
        return evaluationId;
    }

    private async Task<List<PromotionRequest>> QueryRequestsAsync(string where, object[] values, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var tx = await BeginAsync(cancellationToken);
        var requests = new List<PromotionRequest>();
        await using (var command = tx.Command(
                         $"SELECT {RequestColumns} FROM promotion_requests r WHERE {where} ORDER BY r.created_at DESC, r.request_id DESC LIMIT {limit} OFFSET {offset}",
                         values))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var request = new PromotionRequest
                {
                    RequestId = reader.GetGuid(0).ToString(),
                    Model = reader.GetString(1),
                    Version = reader.GetInt32(2),
                    Target = Targets.Parse(reader.GetString(3)),
                    Justification = reader.GetString(4),
                    Requester = reader.GetString(5),
                    State = RequestStates.Parse(reader.GetString(6)),
                    CreatedAt = Time(reader, 7),
                    PolicyVersion = reader.GetInt32(10),
                    RiskTier = RiskTiers.Parse(reader.GetString(14)),
                };
                if (!reader.IsDBNull(8))
                {
                    request.Gates.AddRange(ParseGates(reader.GetString(8)));
                    request.EvaluatedAt = Time(reader, 9);
                }

                if (!reader.IsDBNull(11))
                {
                    request.DecidedBy = reader.GetString(11);
                    request.DecidedAt = Time(reader, 12);
                    request.DecisionComment = reader.GetString(13);
                }

                requests.Add(request);
            }
        }

        foreach (var request in requests)
        {
            request.Approvals.AddRange(await ApprovalsAsync(tx, Guid.Parse(request.RequestId), cancellationToken));
        }

        return requests;
    }
}

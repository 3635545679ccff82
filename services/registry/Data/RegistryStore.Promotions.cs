using System.Text;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Contracts;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Registry.Data;

/// <summary>A move of a version to a stage or alias, by a request whose gates passed or by an admin's override.</summary>
/// <param name="Version">The version that moves.</param>
/// <param name="Target">Where to.</param>
/// <param name="RequestId">The deciding request; null for an override.</param>
/// <param name="EvaluationId">The evaluation whose gates passed; null for an override.</param>
/// <param name="OverrideReason">The override's reason; null for a request.</param>
/// <param name="Actor">Who decided: the last approver, or the admin.</param>
/// <param name="Reason">The request's justification, or the override's reason.</param>
/// <param name="MaxProduction">Most Production versions the policy allows.</param>
public sealed record Transition(
    VersionSnapshot Version, Target Target, Guid? RequestId, Guid? EvaluationId, string? OverrideReason, string Actor, string Reason, int MaxProduction);

/// <summary>What became of an evaluation.</summary>
public enum EvaluationOutcome
{
    /// <summary>Recorded (and, when every gate passed, applied).</summary>
    Recorded,

    /// <summary>The request had been decided meanwhile.</summary>
    NotOpen,

    /// <summary>The policy changed while the gates were evaluated: evaluate again.</summary>
    StalePolicy,

    /// <summary>Every gate said what the latest recorded evaluation said; asked not to record that, nothing was written.</summary>
    Unchanged,
}

public sealed partial class RegistryStore
{
    private const string AssignmentColumns = "a.target, a.version, a.valid_from, a.valid_to, a.request_id, a.override_reason, a.decided_by, a.decision_event_id";
    private const string RequestColumns =
        "r.request_id, r.model, r.version, r.target, r.justification, r.requester, r.state, r.created_at, r.gates::text, r.evaluated_at, " +
        "coalesce(r.policy_version, 0), r.decided_by, r.decided_at, r.decision_comment";

    // ------------------------------------------------------------------ requests

    /// <summary>Records a new OPEN request; another open request for the same version and target is ALREADY_EXISTS.</summary>
    public async Task CreateRequestAsync(PromotionRequest request, Stage fromStage, IIntegrationEvent requested, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var insert = Command(connection, transaction,
            """
            INSERT INTO promotion_requests (request_id, model, version, target, from_stage, justification, requester)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
            """,
            Guid.Parse(request.RequestId), request.Model, request.Version, Targets.Format(request.Target), Targets.StageName(fromStage),
            request.Justification, request.Requester);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            GrpcErrors.AlreadyExists(
                $"Version {request.Version} of '{request.Model}' has an open request for {Targets.Format(request.Target)} already; approve, reject or cancel that one.");
        }

        await transaction.EnqueueAsync(requested, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>One request with its approvals, or null.</summary>
    public async Task<PromotionRequest?> GetRequestAsync(Guid requestId, CancellationToken cancellationToken)
    {
        var found = await QueryRequestsAsync("r.request_id = $1", [requestId], 1, 0, cancellationToken);
        return found.Count == 0 ? null : found[0];
    }

    /// <summary>A model's requests, newest first, optionally in one state.</summary>
    public Task<List<PromotionRequest>> ListRequestsAsync(string model, RequestState state, int limit, long offset, CancellationToken cancellationToken) =>
        state == RequestState.Unspecified
            ? QueryRequestsAsync("r.model = $1", [model], limit, offset, cancellationToken)
            : QueryRequestsAsync("r.model = $1 AND r.state = $2", [model, StateName(state)], limit, offset, cancellationToken);

    /// <summary>
    /// Open requests whose latest evaluation has a PENDING gate other than approvals (a remote gate waiting for its
    /// service or its evidence), or that were never evaluated (the service stopped in between), oldest first.
    /// </summary>
    public async Task<List<Guid>> WaitingRequestIdsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
             SELECT request_id FROM promotion_requests
             WHERE state = 'OPEN' AND (gates IS NULL OR
                   EXISTS (SELECT 1 FROM jsonb_array_elements(gates) g WHERE g->>'status' = 'GATE_STATUS_PENDING' AND g->>'kind' <> 'approval'))
             ORDER BY created_at LIMIT {limit}
             """);
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    /// <summary>The ids of a model's open requests, oldest first.</summary>
    public async Task<List<Guid>> OpenRequestIdsAsync(string model, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT request_id FROM promotion_requests WHERE model = $1 AND state = 'OPEN' ORDER BY created_at");
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetGuid(0));
        }

        return ids;
    }

    /// <summary>Records an approval of an OPEN request; a second approval by the same reviewer is ALREADY_EXISTS.</summary>
    public async Task AddApprovalAsync(Guid requestId, string reviewer, string comment, Func<PromotionRequest, IIntegrationEvent> approved, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var request = await LockOpenRequestAsync(connection, transaction, requestId, cancellationToken);
        await using var insert = Command(connection, transaction,
            "INSERT INTO approvals (request_id, reviewer, comment) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", requestId, reviewer, comment);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            GrpcErrors.AlreadyExists($"{reviewer} has approved request {requestId} already.");
        }

        await transaction.EnqueueAsync(approved(request), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Ends an OPEN request as REJECTED or CANCELLED.</summary>
    public async Task DecideAsync(Guid requestId, RequestState state, string actor, string comment, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var request = await LockOpenRequestAsync(connection, transaction, requestId, cancellationToken);
        await CloseRequestAsync(connection, transaction, request, state, actor, comment, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The approvals of a request, oldest first.</summary>
    public async Task<List<Approval>> GetApprovalsAsync(Guid requestId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ApprovalsAsync(connection, null, requestId, cancellationToken);
    }

    /// <summary>
    /// Records an evaluation of an OPEN request and, when every gate passed, makes its transition — all in one
    /// transaction under the model's lock, so two evaluations cannot both move versions. The approval gates are
    /// computed here, from the approvals committed by then; <paramref name="results"/> holds the others.
    /// Writes nothing when the request is no longer open, or when the policy changed since the gates were evaluated.
    /// </summary>
    public async Task<EvaluationOutcome> RecordEvaluationAsync(
        Guid requestId, int policyVersion, IReadOnlyList<Gate> gates, IReadOnlyList<GateResult> results,
        Func<IReadOnlyList<Approval>, Gate, GateResult> approvals, VersionSnapshot version, string actor, int maxProduction,
        bool recordUnchanged, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await LockModelAsync(connection, transaction, version.Model, cancellationToken) != policyVersion)
        {
            return EvaluationOutcome.StalePolicy;
        }

        var request = await LockRequestAsync(connection, transaction, requestId, cancellationToken);
        if (request.State != RequestState.Open)
        {
            return EvaluationOutcome.NotOpen;
        }

        var now = await ClockAsync(connection, transaction, cancellationToken);
        var stage = await StageAsync(connection, transaction, version.Model, version.Version, cancellationToken);
        var moved = request.Target.KindCase == Target.KindOneofCase.Stage
            ? stage != request.FromStage
            : stage == Stage.Archived;
        if (moved)
        {
            await CloseRequestAsync(connection, transaction, request, RequestState.Superseded, "registry",
                $"version {version.Version} is now {Targets.StageName(stage)}; the request was made from {Targets.StageName(request.FromStage)}", cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return EvaluationOutcome.Recorded;
        }

        var fresh = await ApprovalsAsync(connection, transaction, requestId, cancellationToken);
        var final = gates.Select((gate, i) => gate.KindCase == Gate.KindOneofCase.Approval ? approvals(fresh, gate) : results[i]).ToList();
        var passed = final.All(r => r.Status == GateStatus.Pass);
        if (!recordUnchanged && !passed && request.Gates is { } previous && Outcomes(ParseGates(previous)) == Outcomes(final))
        {
            return EvaluationOutcome.Unchanged;
        }

        var evaluationId = Guid.CreateVersion7();
        var gatesJson = GatesJson(final);
        await using (var record = Command(connection, transaction,
                         "INSERT INTO gate_evaluations (evaluation_id, request_id, policy_version, gates, passed, evaluated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                         evaluationId, requestId, policyVersion, Jsonb(gatesJson), passed, now))
        {
            await record.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var latest = Command(connection, transaction,
                         "UPDATE promotion_requests SET gates = $2, evaluated_at = $3, policy_version = $4 WHERE request_id = $1",
                         requestId, Jsonb(gatesJson), now, policyVersion))
        {
            await latest.ExecuteNonQueryAsync(cancellationToken);
        }

        var events = new List<IIntegrationEvent>
        {
            new GateEvaluated
            {
                Actor = actor,
                RequestId = requestId,
                Model = version.Model,
                Version = version.Version,
                PolicyVersion = policyVersion,
                Passed = passed,
                Gates = final.Select(r => new GateOutcome(r.Name, r.Kind, StatusName(r.Status), r.Reason, r.Evidence.ToDictionary())).ToList(),
            },
        };
        if (passed)
        {
            var decider = fresh.Count > 0 ? fresh[^1].Reviewer : actor;
            await ApplyAsync(connection, transaction, now,
                new Transition(version with { Stage = stage }, request.Target, requestId, evaluationId, null, decider, request.Justification, maxProduction),
                events, cancellationToken);
            await CloseRequestAsync(connection, transaction, request, RequestState.Approved, decider, "every gate passed", cancellationToken, events);
        }

        await transaction.EnqueueAsync(events, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return EvaluationOutcome.Recorded;
    }

    /// <summary>An admin's move past the gates; FAILED_PRECONDITION when it would change nothing.</summary>
    public async Task OverrideAsync(Transition transition, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var version = transition.Version;
        await LockModelAsync(connection, transaction, version.Model, cancellationToken);
        var stage = await StageAsync(connection, transaction, version.Model, version.Version, cancellationToken);
        var target = transition.Target;
        if (target.KindCase == Target.KindOneofCase.Stage && target.Stage == stage)
        {
            GrpcErrors.FailedPrecondition($"Version {version.Version} of '{version.Model}' is {Targets.StageName(stage)} already.");
        }

        if (target.KindCase == Target.KindOneofCase.Alias)
        {
            if (stage == Stage.Archived)
            {
                GrpcErrors.FailedPrecondition($"Version {version.Version} of '{version.Model}' is archived: an alias cannot point at it.");
            }

            if (await AliasHolderAsync(connection, transaction, version.Model, target.Alias, cancellationToken) == version.Version)
            {
                GrpcErrors.FailedPrecondition($"'{target.Alias}' points at version {version.Version} already.");
            }
        }

        var events = new List<IIntegrationEvent>();
        await ApplyAsync(connection, transaction, await ClockAsync(connection, transaction, cancellationToken),
            transition with { Version = version with { Stage = stage } }, events, cancellationToken);
        await transaction.EnqueueAsync(events, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The version an alias points at now, or null.</summary>
    public async Task<int?> AliasHolderAsync(string model, string alias, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await AliasHolderAsync(connection, null, model, alias, cancellationToken);
    }

    // ------------------------------------------------------------------ transitions

    // Closes the version's current assignment, opens the new one, and keeps Production within the policy's limit by
    // archiving the longest-serving versions. Each move is a StageChanged event; the target's own is the decision.
    private static async Task ApplyAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateTime now, Transition move, List<IIntegrationEvent> events,
        CancellationToken cancellationToken)
    {
        var version = move.Version;
        var target = move.Target;
        if (target.KindCase == Target.KindOneofCase.Alias)
        {
            var alias = Targets.Format(target);
            var previous = await AliasHolderAsync(connection, transaction, version.Model, target.Alias, cancellationToken);
            await CloseAsync(connection, transaction, now, version.Model, alias, previous, cancellationToken);
            events.Add(await OpenAsync(connection, transaction, now, move, alias, previous?.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken));
            return;
        }

        await MoveStageAsync(connection, transaction, now, move, cancellationToken, events);
        if (target.Stage != Stage.Production)
        {
            return;
        }

        var serving = new List<VersionSnapshot>();
        await using (var others = Command(connection, transaction,
                         """
                         SELECT v.version, v.run_id, v.artifact_sha256 FROM assignments a JOIN model_versions v USING (model, version)
                         WHERE a.model = $1 AND a.target = 'stage:PRODUCTION' AND a.valid_to IS NULL AND a.version <> $2
                         ORDER BY a.valid_from, a.assignment_id
                         """, version.Model, version.Version))
        {
            await using var reader = await others.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                serving.Add(version with { Version = reader.GetInt32(0), RunId = reader.GetString(1), ArtifactSha256 = reader.GetString(2), Stage = Stage.Production });
            }
        }

        foreach (var retired in serving.Take(Math.Max(0, serving.Count - (move.MaxProduction - 1))))
        {
            await MoveStageAsync(connection, transaction, now, move with
            {
                Version = retired,
                Target = new Target { Stage = Stage.Archived },
                Reason = $"replaced in PRODUCTION by version {version.Version}",
            }, cancellationToken, events);
        }
    }

    private static async Task MoveStageAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateTime now, Transition move, CancellationToken cancellationToken,
        List<IIntegrationEvent> events)
    {
        var version = move.Version;
        var to = move.Target.Stage;
        await CloseAsync(connection, transaction, now, version.Model, Targets.Of(version.Stage), version.Version, cancellationToken);
        if (to == Stage.Archived)
        {
            // An archived version serves nothing: its aliases end with it.
            await using var aliases = Command(connection, transaction,
                "UPDATE assignments SET valid_to = $3 WHERE model = $1 AND version = $2 AND valid_to IS NULL AND target LIKE 'alias:%'",
                version.Model, version.Version, now);
            await aliases.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var stage = Command(connection, transaction,
                         "UPDATE model_versions SET stage = $3 WHERE model = $1 AND version = $2", version.Model, version.Version, Targets.StageName(to)))
        {
            await stage.ExecuteNonQueryAsync(cancellationToken);
        }

        events.Add(await OpenAsync(connection, transaction, now, move, Targets.Of(to), Targets.Of(version.Stage), cancellationToken));
    }

    private static async Task CloseAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateTime now, string model, string target, int? version, CancellationToken cancellationToken)
    {
        if (version is null)
        {
            return;
        }

        await using var close = Command(connection, transaction,
            "UPDATE assignments SET valid_to = $4 WHERE model = $1 AND target = $2 AND version = $3 AND valid_to IS NULL", model, target, version.Value, now);
        await close.ExecuteNonQueryAsync(cancellationToken);
    }

    // Opens the assignment (none for NONE: a version outside every stage holds nothing) and returns its event.
    private static async Task<StageChanged> OpenAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DateTime now, Transition move, string target, string? from,
        CancellationToken cancellationToken)
    {
        var version = move.Version;
        var changed = new StageChanged
        {
            Actor = move.Actor,
            Model = version.Model,
            Version = version.Version,
            RunId = version.RunId,
            From = from,
            To = target,
            ArtifactSha256 = version.ArtifactSha256,
            RequestId = move.RequestId,
            Override = move.OverrideReason is not null,
            Reason = move.Reason,
        };
        if (target != Targets.Of(Stage.None))
        {
            await using var open = Command(connection, transaction,
                """
                INSERT INTO assignments (model, target, version, valid_from, request_id, evaluation_id, override_reason, decided_by, decision_event_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """,
                version.Model, target, version.Version, now, Nullable(move.RequestId), Nullable(move.EvaluationId),
                new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = (object?)move.OverrideReason ?? DBNull.Value },
                move.Actor, changed.EventId);
            await open.ExecuteNonQueryAsync(cancellationToken);
        }

        return changed;
    }

    // ------------------------------------------------------------------ helpers

    private static NpgsqlParameter Nullable(Guid? value) =>
        new() { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Uuid, Value = value is null ? DBNull.Value : value.Value };

    private sealed record LockedRequest(
        Guid RequestId, string Model, int Version, Target Target, Stage FromStage, RequestState State, string Justification, string Requester,
        string? Gates = null);

    // What an evaluation concluded, without its evidence's incidental detail (when a hash was measured).
    private static string Outcomes(IEnumerable<GateResult> results) =>
        string.Join("\n", results.Select(r => $"{r.Name}\t{r.Status}\t{r.Reason}"));

    // Locks the model's row (every stage change of a model is serialized by it) and returns its policy version.
    private static async Task<int> LockModelAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string model, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, "SELECT policy_version FROM registered_models WHERE name = $1 FOR UPDATE", model);
        if (await command.ExecuteScalarAsync(cancellationToken) is not int policyVersion)
        {
            GrpcErrors.NotFound($"Registered model '{model}'");
            return 0;
        }

        return policyVersion;
    }

    // The transaction's own instant, read after its locks are held, so that history is ordered as decisions were.
    private static async Task<DateTime> ClockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, "SELECT clock_timestamp()");
        return (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<Stage> StageAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string model, int version, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, "SELECT stage FROM model_versions WHERE model = $1 AND version = $2", model, version);
        return await command.ExecuteScalarAsync(cancellationToken) is string stage
            ? Targets.ParseStage(stage)
            : throw new InvalidOperationException($"Version {version} of {model} vanished");
    }

    private static async Task<int?> AliasHolderAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string model, string alias, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction,
            "SELECT version FROM assignments WHERE model = $1 AND target = $2 AND valid_to IS NULL", model, "alias:" + alias);
        return await command.ExecuteScalarAsync(cancellationToken) as int?;
    }

    private static async Task<LockedRequest> LockRequestAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid requestId, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction,
            "SELECT model, version, target, from_stage, state, justification, requester, gates::text FROM promotion_requests WHERE request_id = $1 FOR UPDATE",
            requestId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            GrpcErrors.NotFound($"Promotion request {requestId}");
        }

        return new LockedRequest(requestId, reader.GetString(0), reader.GetInt32(1), Targets.Parse(reader.GetString(2)), Targets.ParseStage(reader.GetString(3)),
            ParseState(reader.GetString(4)), reader.GetString(5), reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7));
    }

    private static async Task<PromotionRequest> LockOpenRequestAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid requestId, CancellationToken cancellationToken)
    {
        var request = await LockRequestAsync(connection, transaction, requestId, cancellationToken);
        if (request.State != RequestState.Open)
        {
            GrpcErrors.FailedPrecondition($"Promotion request {requestId} is {StateName(request.State)}: only an OPEN request can be reviewed.");
        }

        return new PromotionRequest
        {
            RequestId = requestId.ToString(),
            Model = request.Model,
            Version = request.Version,
            Target = request.Target,
            Requester = request.Requester,
            Justification = request.Justification,
            State = request.State,
        };
    }

    private static Task CloseRequestAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, PromotionRequest request, RequestState state, string actor, string comment,
        CancellationToken cancellationToken) =>
        CloseRequestAsync(connection, transaction,
            new LockedRequest(Guid.Parse(request.RequestId), request.Model, request.Version, request.Target, Stage.Unspecified, request.State, request.Justification, request.Requester),
            state, actor, comment, cancellationToken);

    private static async Task CloseRequestAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, LockedRequest request, RequestState state, string actor, string comment,
        CancellationToken cancellationToken, List<IIntegrationEvent>? events = null)
    {
        await using var update = Command(connection, transaction,
            "UPDATE promotion_requests SET state = $2, decided_by = $3, decided_at = clock_timestamp(), decision_comment = $4 WHERE request_id = $1",
            request.RequestId, StateName(state), actor, comment);
        await update.ExecuteNonQueryAsync(cancellationToken);
        var decided = new PromotionDecided
        {
            Actor = actor,
            RequestId = request.RequestId,
            Model = request.Model,
            Version = request.Version,
            Target = Targets.Format(request.Target),
            Outcome = StateName(state),
            Comment = comment,
        };
        if (events is not null)
        {
            events.Insert(1, decided);
        }
        else
        {
            await transaction.EnqueueAsync(decided, cancellationToken);
        }
    }

    private static async Task<List<Approval>> ApprovalsAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid requestId, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction,
            "SELECT reviewer, comment, created_at FROM approvals WHERE request_id = $1 ORDER BY created_at, reviewer", requestId);
        var approvals = new List<Approval>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            approvals.Add(new Approval { Reviewer = reader.GetString(0), Comment = reader.GetString(1), At = Timestamp.FromDateTime(reader.GetDateTime(2)) });
        }

        return approvals;
    }

    private async Task<List<PromotionRequest>> QueryRequestsAsync(string where, object[] values, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var requests = new List<PromotionRequest>();
        await using (var command = Command(connection, null,
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
                    State = ParseState(reader.GetString(6)),
                    CreatedAt = Timestamp.FromDateTime(reader.GetDateTime(7)),
                    PolicyVersion = reader.GetInt32(10),
                };
                if (!reader.IsDBNull(8))
                {
                    request.Gates.AddRange(ParseGates(reader.GetString(8)));
                    request.EvaluatedAt = Timestamp.FromDateTime(reader.GetDateTime(9));
                }

                if (!reader.IsDBNull(11))
                {
                    request.DecidedBy = reader.GetString(11);
                    request.DecidedAt = Timestamp.FromDateTime(reader.GetDateTime(12));
                    request.DecisionComment = reader.GetString(13);
                }

                requests.Add(request);
            }
        }

        foreach (var request in requests)
        {
            request.Approvals.AddRange(await ApprovalsAsync(connection, null, Guid.Parse(request.RequestId), cancellationToken));
        }

        return requests;
    }

    internal static string GatesJson(IEnumerable<GateResult> results)
    {
        var json = new StringBuilder("[");
        foreach (var result in results)
        {
            json.Append(json.Length > 1 ? "," : "").Append(ProtoJson.Format(result));
        }

        return json.Append(']').ToString();
    }

    internal static List<GateResult> ParseGates(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(e => ProtoJsonParser.Parse<GateResult>(e.GetRawText())).ToList();
    }

    internal static string StateName(RequestState state) => state switch
    {
        RequestState.Open => "OPEN",
        RequestState.Approved => "APPROVED",
        RequestState.Rejected => "REJECTED",
        RequestState.Cancelled => "CANCELLED",
        RequestState.Superseded => "SUPERSEDED",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "not a request state"),
    };

    private static RequestState ParseState(string name) => name switch
    {
        "OPEN" => RequestState.Open,
        "APPROVED" => RequestState.Approved,
        "REJECTED" => RequestState.Rejected,
        "CANCELLED" => RequestState.Cancelled,
        "SUPERSEDED" => RequestState.Superseded,
        _ => throw new FormatException($"'{name}' is not a request state"),
    };

    internal static string StatusName(GateStatus status) => status switch
    {
        GateStatus.Pass => "PASS",
        GateStatus.Fail => "FAIL",
        _ => "PENDING",
    };
}

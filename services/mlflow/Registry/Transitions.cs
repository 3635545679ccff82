using System.Globalization;
using System.Text.Json.Nodes;
using Grpc.Core;
using ModelOps.Client;
using ModelOps.Mlflow.Tracking;
using ModelOps.Mlflow.Wire;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Identity;
using V1 = ModelOps.Registry.V1;

namespace ModelOps.Mlflow.Registry;

/// <summary>
/// Stage transitions and aliases through stock MLflow clients, governed as for ModelOps' own: a call opens (or finds) the
/// registry's promotion request for that move, whose gates the registry evaluates. While the request waits (for a
/// second principal's approval, or for evidence), the answer is 409 INVALID_STATE_TRANSITION with its id: a 4xx that
/// no client retries and that every client surfaces. The same call by a reviewer other than the requester approves it;
/// once the gates pass, the registry applies the move and the call answers 200 with the version. Reads never show a
/// pending move. Databricks' <c>transition-requests</c> endpoints drive the same requests.
/// </summary>
public static class Transitions
{
    /// <summary>Maps the endpoints under <paramref name="api"/>.</summary>
    public static void Map(IEndpointRouteBuilder api)
    {
        api.Map<RegistryIn>(["POST"], "/model-versions/transition-stage", TransitionStageAsync);
        api.Map<RegistryIn>(["POST"], "/databricks/model-versions/transition-stage", TransitionStageAsync);
        api.Map<RegistryIn>(["POST"], "/registered-models/alias", SetAliasAsync);
        api.Map<RegistryIn>(["DELETE"], "/registered-models/alias", DeleteAliasAsync);
        api.Map<RegistryIn>(["POST"], "/transition-requests/create", CreateRequestAsync);
        api.Map<RegistryIn>(["POST"], "/transition-requests/approve", (r, c, t) => ReviewAsync(r, c, approve: true, t));
        api.Map<RegistryIn>(["POST"], "/transition-requests/reject", (r, c, t) => ReviewAsync(r, c, approve: false, t));
        api.Map<RegistryIn>(["GET"], "/transition-requests/list", ListRequestsAsync);
        api.Map<RegistryIn>(["DELETE"], "/transition-requests/delete", CancelRequestAsync);
    }

    private static async Task<object> TransitionStageAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var target = new Target { Stage = RegistryMapping.ParseStage(request.Stage) };
        var version = await MoveAsync(request, target, context, cancellationToken);
        var shaped = await RegistryApi.Services(context).Mapping.ToMlflowAsync(version, cancellationToken);
        return context.Request.Path.Value!.Contains("/databricks/", StringComparison.Ordinal)
            ? new { model_version_databricks = shaped }
            : new { model_version = shaped };
    }

    private static async Task<object> SetAliasAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var alias = string.IsNullOrEmpty(request.Alias) ? throw MlflowError.Missing("alias") : request.Alias;
        if (alias == "latest" || (alias.Length > 1 && alias[0] is 'v' or 'V' && alias[1..].All(char.IsAsciiDigit)))
        {
            throw MlflowError.InvalidParameter($"'{alias}' is a reserved alias name: 'latest' and 'v<number>' name versions.");
        }

        await MoveAsync(request, new Target { Alias = alias }, context, cancellationToken);
        return Routes.Empty;
    }

    /// <summary>An alias moves only by promotion: removing one is an admin's override, outside this API.</summary>
    private static async Task<object> DeleteAliasAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var alias = string.IsNullOrEmpty(request.Alias) ? throw MlflowError.Missing("alias") : request.Alias;
        var model = await RegistryApi.GetModelAsync(RegistryApi.Services(context).Registry, RegistryApi.RequireName(request.Name), cancellationToken);
        if (!model.Current.Any(a => a.Target.KindCase == Target.KindOneofCase.Alias && a.Target.Alias == alias && a.Until is null))
        {
            throw MlflowError.InvalidParameter($"Registered model alias {alias} not found.");
        }

        throw new MlflowError("INVALID_STATE_TRANSITION", 409,
            $"Alias '{alias}' of '{model.Name}' is governed: removing what it serves is a deployment change that ModelOps makes only by promoting another version to it (or by an admin's recorded override, `modelops override`).");
    }

    /// <summary>
    /// The move protocol: the version already there answers at once; otherwise the open request for the move is found or
    /// opened; a reviewer other than its requester approves it; applied, the version is returned, else 409 pending.
    /// </summary>
    private static async Task<V1.ModelVersion> MoveAsync(RegistryIn request, Target target, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, _) = RegistryApi.Services(context);
        var name = RegistryApi.RequireName(request.Name);
        var number = RegistryMapping.ParseVersion(request.Version);
        var version = await RegistryApi.GetVersionAsync(registry, name, number, cancellationToken);
        if (Holds(version, target))
        {
            return version;
        }

        var caller = Caller.FromPrincipal(context.User);
        var open = await FindOpenAsync(registry, name, number, target, cancellationToken);
        if (open is null)
        {
            open = await OpenAsync(registry, name, number, target, request.Comment, cancellationToken)
                   ?? await FindOpenAsync(registry, name, number, target, cancellationToken);
        }
        else if (open.Requester != caller.Actor && (caller.IsInRole(Roles.Reviewer) || caller.IsInRole(Roles.Admin)) &&
                 open.Approvals.All(a => a.Reviewer != caller.Actor))
        {
            open = await registry.ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = open.RequestId, Comment = request.Comment ?? "" }, cancellationToken: cancellationToken);
        }

        if (open is null)
        {
            // Decided between our two reads: what the version holds now is the answer.
            version = await RegistryApi.GetVersionAsync(registry, name, number, cancellationToken);
            return Holds(version, target) ? version : throw new MlflowError("ABORTED", 409, "The transition was decided concurrently; read the version and try again.");
        }

        return open.State == RequestState.Approved
            ? await RegistryApi.GetVersionAsync(registry, name, number, cancellationToken)
            : throw Pending(open, name, number, target);
    }

    private static async Task<PromotionRequest?> OpenAsync(
        RegistryService.RegistryServiceClient registry, string name, int version, Target target, string? comment, CancellationToken cancellationToken)
    {
        try
        {
            return await registry.RequestPromotionAsync(new RequestPromotionRequest
            {
                Model = name,
                Version = version,
                Target = target,
                Justification = string.IsNullOrWhiteSpace(comment) ? $"Requested through the MLflow API: {Describe(target)}." : comment,
            }, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.Reason() == "PROMOTION_REQUEST_ALREADY_EXISTS")
        {
            return null;
        }
    }

    private static MlflowError Pending(PromotionRequest open, string name, int version, Target target)
    {
        var failing = open.Gates.Where(g => g.Status != GateStatus.Pass).ToList();
        var required = open.Gates.Where(g => g.Kind == "approval")
            .Sum(g => int.TryParse(g.Evidence.GetValueOrDefault("required"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0);
        var waiting = open.State != RequestState.Open
            ? $"request {open.RequestId} is {open.State.ToString().ToUpperInvariant()}"
            : failing.Count == 0
                ? $"is being applied; request {open.RequestId} (requested by {open.Requester})"
            : failing.All(g => g.Kind == "approval")
                ? $"needs approval by a second principal; request {open.RequestId} pending (requested by {open.Requester})"
                : $"is blocked by its gates ({string.Join("; ", failing.Select(g => $"{g.Name}: {g.Reason}"))}); request {open.RequestId} pending (requested by {open.Requester})";
        var extra = new JsonObject
        {
            ["transition_request_id"] = open.RequestId,
            ["request_state"] = open.State.ToString().ToUpperInvariant(),
            ["approvals_required"] = required,
            ["approvals"] = new JsonArray([.. open.Approvals.Select(a => (JsonNode)new JsonObject { ["user_id"] = a.Reviewer, ["comment"] = a.Comment })]),
            ["gate_failures"] = new JsonArray([.. failing.Select(g => (JsonNode)new JsonObject
            {
                ["name"] = g.Name, ["kind"] = g.Kind, ["status"] = g.Status.ToString().ToUpperInvariant(), ["reason"] = g.Reason,
            })]),
        };
        return new MlflowError("INVALID_STATE_TRANSITION", 409,
            $"Transition of '{name}' v{version} to {Describe(target)} {waiting}. Repeat this call as an approver, or POST /api/2.0/mlflow/transition-requests/approve.", extra);
    }

    private static async Task<object> CreateRequestAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, _) = RegistryApi.Services(context);
        var name = RegistryApi.RequireName(request.Name);
        var number = RegistryMapping.ParseVersion(request.Version);
        var target = new Target { Stage = RegistryMapping.ParseStage(request.Stage) };
        var open = await FindOpenAsync(registry, name, number, target, cancellationToken)
                   ?? await OpenAsync(registry, name, number, target, request.Comment, cancellationToken)
                   ?? await FindOpenAsync(registry, name, number, target, cancellationToken)
                   ?? throw new MlflowError("ABORTED", 409, "The request was decided concurrently; list the requests and try again.");
        return new { request = Shape(open) };
    }

    private static async Task<object> ReviewAsync(RegistryIn request, HttpContext context, bool approve, CancellationToken cancellationToken)
    {
        var (registry, _) = RegistryApi.Services(context);
        var (open, target) = await RequireOpenAsync(registry, request, cancellationToken);
        var review = new ReviewPromotionRequest { RequestId = open.RequestId, Comment = request.Comment ?? "" };
        var decided = approve
            ? await registry.ApprovePromotionAsync(review, cancellationToken: cancellationToken)
            : await registry.RejectPromotionAsync(review, cancellationToken: cancellationToken);
        var caller = Caller.FromPrincipal(context.User);
        return new
        {
            activity = new
            {
                id = decided.RequestId,
                activity_type = approve ? "APPROVED_REQUEST" : "REJECTED_REQUEST",
                to_stage = RegistryMapping.StageName(target.Stage),
                user_id = caller.Actor,
                comment = request.Comment ?? "",
                system_comment = approve && decided.State == RequestState.Approved ? "Applied: every gate passed." : $"Request {decided.State.ToString().ToUpperInvariant()}.",
                creation_timestamp = ExperimentIds.Millis(decided.DecidedAt ?? decided.EvaluatedAt ?? decided.CreatedAt),
            },
        };
    }

    private static async Task<object> ListRequestsAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, _) = RegistryApi.Services(context);
        var name = RegistryApi.RequireName(request.Name);
        var number = RegistryMapping.ParseVersion(request.Version);
        var requests = await RequestsAsync(registry, name, RequestState.Open, cancellationToken);
        return new { requests = requests.Where(r => r.Version == number && r.Target.KindCase == Target.KindOneofCase.Stage).Select(Shape).ToList() };
    }

    private static async Task<object> CancelRequestAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, _) = RegistryApi.Services(context);
        var (open, target) = await RequireOpenAsync(registry, request, cancellationToken);
        await registry.CancelPromotionAsync(new CancelPromotionRequest { RequestId = open.RequestId, Comment = request.Comment ?? "" }, cancellationToken: cancellationToken);
        return Routes.Empty;
    }

    /// <summary>The open request for the stage move <paramref name="request"/> names, or MLflow's 404.</summary>
    private static async Task<(PromotionRequest Open, Target Target)> RequireOpenAsync(
        RegistryService.RegistryServiceClient registry, RegistryIn request, CancellationToken cancellationToken)
    {
        var name = RegistryApi.RequireName(request.Name);
        var number = RegistryMapping.ParseVersion(request.Version);
        var target = new Target { Stage = RegistryMapping.ParseStage(request.Stage) };
        var open = await FindOpenAsync(registry, name, number, target, cancellationToken)
                   ?? throw MlflowError.NotFound($"No open transition request of '{name}' v{number} to {Describe(target)}.");
        return (open, target);
    }

    private static object Shape(PromotionRequest request) => new
    {
        id = request.RequestId,
        creation_timestamp = ExperimentIds.Millis(request.CreatedAt),
        to_stage = request.Target.KindCase == Target.KindOneofCase.Stage ? RegistryMapping.StageName(request.Target.Stage) : null,
        user_id = request.Requester,
        comment = request.Justification,
        state = request.State.ToString().ToUpperInvariant(),
        approvals = request.Approvals.Select(a => new { user_id = a.Reviewer, comment = a.Comment, creation_timestamp = ExperimentIds.Millis(a.At) }).ToList(),
        available_actions = request.State == RequestState.Open ? new[] { "APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST", "CANCEL_TRANSITION_REQUEST" } : [],
    };

    private static bool Holds(V1.ModelVersion version, Target target) => target.KindCase == Target.KindOneofCase.Stage
        ? version.Stage == target.Stage
        : version.Aliases.Contains(target.Alias);

    private static async Task<PromotionRequest?> FindOpenAsync(
        RegistryService.RegistryServiceClient registry, string name, int version, Target target, CancellationToken cancellationToken) =>
        (await RequestsAsync(registry, name, RequestState.Open, cancellationToken)).FirstOrDefault(r => r.Version == version && r.Target.Equals(target));

    private static async Task<List<PromotionRequest>> RequestsAsync(
        RegistryService.RegistryServiceClient registry, string name, RequestState state, CancellationToken cancellationToken)
    {
        var requests = new List<PromotionRequest>();
        var token = "";
        try
        {
            do
            {
                var page = await registry.ListPromotionRequestsAsync(
                    new ListPromotionRequestsRequest { Model = name, State = state, PageSize = 1000, PageToken = token }, cancellationToken: cancellationToken);
                requests.AddRange(page.Requests);
                token = page.NextPageToken;
            }
            while (token.Length > 0);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw MlflowError.NotFound($"Registered Model with name={name} not found");
        }

        return requests;
    }

    private static string Describe(Target target) =>
        target.KindCase == Target.KindOneofCase.Stage ? $"'{RegistryMapping.StageName(target.Stage)}'" : $"alias '{target.Alias}'";
}

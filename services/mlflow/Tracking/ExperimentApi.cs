using Grpc.Core;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tracking;

/// <summary>MLflow's experiment endpoints (create, get, get-by-name, search, list, update, delete, restore, set-experiment-tag) over tracking.</summary>
public static class ExperimentApi
{
    /// <summary>Most experiments a search looks through: MLflow's own bound on one page.</summary>
    public const int MaxExperiments = 50_000;

    /// <summary>Tag recording the artifact location a client asked for (artifacts always stay in ModelOps' store).</summary>
    public const string RequestedLocationTag = "modelops.requested_artifact_location";

    /// <summary>Maps the endpoints under <paramref name="api"/> (<c>/api/2.0/mlflow</c>).</summary>
    public static void Map(IEndpointRouteBuilder api)
    {
        api.Map<CreateExperimentIn>(["POST"], "/experiments/create", CreateAsync);
        api.Map<ExperimentRef>(["GET"], "/experiments/get", GetAsync);
        api.Map<ExperimentRef>(["GET"], "/experiments/get-by-name", GetByNameAsync);
        api.Map<SearchIn>(["POST", "GET"], "/experiments/search", SearchAsync);
        api.Map<SearchIn>(["GET"], "/experiments/list", SearchAsync);
        api.Map<UpdateExperimentIn>(["POST"], "/experiments/update", UpdateAsync);
        api.Map<ExperimentRef>(["POST"], "/experiments/delete", (r, c, t) => LifecycleAsync(r, c, archive: true, t));
        api.Map<ExperimentRef>(["POST"], "/experiments/restore", (r, c, t) => LifecycleAsync(r, c, archive: false, t));
        api.Map<ExperimentTagIn>(["POST"], "/experiments/set-experiment-tag", SetTagAsync);
    }

    private static async Task<object> CreateAsync(CreateExperimentIn request, HttpContext context, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Name))
        {
            throw MlflowError.Missing("name");
        }

        var create = new CreateExperimentRequest { Name = request.Name };
        foreach (var tag in request.Tags ?? [])
        {
            create.Tags[TagRules.ClientKey(tag.Key, "tags")] = tag.Value ?? "";
        }

        if (!string.IsNullOrEmpty(request.ArtifactLocation))
        {
            create.Tags[RequestedLocationTag] = request.ArtifactLocation;
        }

        var (tracking, ids) = Services(context);
        try
        {
            var experiment = await tracking.CreateExperimentAsync(create, cancellationToken: cancellationToken);
            await ids.KnowDefaultAsync(cancellationToken);
            return new { experiment_id = ids.ToMlflow(experiment.ExperimentId) };
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            throw new MlflowError("RESOURCE_ALREADY_EXISTS", 400, $"Experiment '{request.Name}' already exists.");
        }
    }

    private static async Task<object> GetAsync(ExperimentRef request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = Services(context);
        var id = await ids.RequireAsync(request.ExperimentId, create: true, cancellationToken);
        var experiment = await GetOrNotFoundAsync(tracking, new GetExperimentRequest { ExperimentId = id },
            $"No Experiment with id={request.ExperimentId} exists", cancellationToken);
        return new { experiment = ids.ToMlflow(experiment) };
    }

    private static async Task<object> GetByNameAsync(ExperimentRef request, HttpContext context, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.ExperimentName))
        {
            throw MlflowError.Missing("experiment_name");
        }

        var (tracking, ids) = Services(context);
        var experiment = await GetOrNotFoundAsync(tracking, new GetExperimentRequest { Name = request.ExperimentName },
            $"Could not find experiment with name '{request.ExperimentName}'", cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        return new { experiment = ids.ToMlflow(experiment) };
    }

    private static async Task<object> SearchAsync(SearchIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var maxResults = Paging.MaxResults(request.MaxResults, 1000, MaxExperiments);
        var view = Paging.ViewType(request.ViewType, "view_type");
        var clauses = MlflowFilter.Parse(request.Filter);
        foreach (var clause in clauses)
        {
            _ = clause.Key switch
            {
                { Entity: "tag" } => true,
                { Entity: "attribute", Key: "name" or "creation_time" or "last_update_time" } => true,
                _ => throw MlflowError.InvalidParameter(
                    $"Invalid key '{clause.Key.Key}' in an experiment filter: valid keys are name, creation_time, last_update_time and tags.<key>."),
            };
        }

        var orders = (request.OrderBy ?? []).Select(MlflowFilter.ParseOrder).ToList();
        foreach (var (key, _) in orders)
        {
            if (key is not { Entity: "attribute", Key: "name" or "experiment_id" or "creation_time" or "last_update_time" })
            {
                throw MlflowError.InvalidParameter($"Invalid order_by key '{key.Key}': valid keys are name, experiment_id, creation_time and last_update_time.");
            }
        }

        var (tracking, ids) = Services(context);
        await ids.KnowDefaultAsync(cancellationToken);
        // Tracking pages experiments by name only; MLflow's filters and orderings are applied here, over every
        // experiment (at most MaxExperiments), and paged by offset.
        var all = new List<ModelOps.Mlflow.Wire.Experiment>();
        var token = "";
        do
        {
            var page = await tracking.SearchExperimentsAsync(new SearchExperimentsRequest
            {
                IncludeArchived = view != RunViewType.ActiveOnly,
                PageSize = 1000,
                PageToken = token,
            }, cancellationToken: cancellationToken);
            all.AddRange(page.Experiments
                .Where(e => view != RunViewType.DeletedOnly || e.LifecycleStage == LifecycleStage.Deleted)
                .Select(ids.ToMlflow)
                .Where(e => clauses.All(c => c.Matches(Field(e, c.Key)))));
            token = page.NextPageToken;
        }
        while (token.Length > 0 && all.Count < MaxExperiments);

        IEnumerable<ModelOps.Mlflow.Wire.Experiment> ordered = all.OrderByDescending(e => e.CreationTime).ThenBy(e => long.TryParse(e.ExperimentId, out var n) ? n : 0);
        if (orders.Count > 0)
        {
            var sorted = all.OrderBy(_ => 0);
            foreach (var (key, descending) in orders)
            {
                sorted = descending ? sorted.ThenByDescending(e => Field(e, key), OrderComparer.Instance) : sorted.ThenBy(e => Field(e, key), OrderComparer.Instance);
            }

            ordered = sorted;
        }

        var (items, next) = Paging.Slice(ordered, request.PageToken, maxResults);
        return new { experiments = items, next_page_token = next };
    }

    private static async Task<object> UpdateAsync(UpdateExperimentIn request, HttpContext context, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.NewName))
        {
            throw MlflowError.Missing("new_name");
        }

        var (tracking, ids) = Services(context);
        var id = await ids.RequireAsync(request.ExperimentId, create: false, cancellationToken);
        await tracking.RenameExperimentAsync(new RenameExperimentRequest { ExperimentId = id, NewName = request.NewName }, cancellationToken: cancellationToken);
        return Routes.Empty;
    }

    private static async Task<object> LifecycleAsync(ExperimentRef request, HttpContext context, bool archive, CancellationToken cancellationToken)
    {
        var (tracking, ids) = Services(context);
        var id = await ids.RequireAsync(request.ExperimentId, create: false, cancellationToken);
        if (archive)
        {
            await tracking.ArchiveExperimentAsync(new ArchiveExperimentRequest { ExperimentId = id }, cancellationToken: cancellationToken);
        }
        else
        {
            await tracking.RestoreExperimentAsync(new RestoreExperimentRequest { ExperimentId = id }, cancellationToken: cancellationToken);
        }

        return Routes.Empty;
    }

    private static async Task<object> SetTagAsync(ExperimentTagIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = Services(context);
        var id = await ids.RequireAsync(request.ExperimentId, create: true, cancellationToken);
        await tracking.SetExperimentTagAsync(new SetExperimentTagRequest
        {
            ExperimentId = id,
            Key = TagRules.ClientKey(request.Key, "key"),
            Value = request.Value ?? "",
        }, cancellationToken: cancellationToken);
        return Routes.Empty;
    }

    private static object? Field(ModelOps.Mlflow.Wire.Experiment experiment, FilterKey key) => key switch
    {
        { Entity: "tag" } => experiment.Tags.FirstOrDefault(t => t.Key == key.Key)?.Value,
        { Key: "name" } => experiment.Name,
        { Key: "experiment_id" } => long.TryParse(experiment.ExperimentId, out var id) ? id : 0,
        { Key: "creation_time" } => experiment.CreationTime,
        { Key: "last_update_time" } => experiment.LastUpdateTime,
        _ => null,
    };

    private static async Task<ModelOps.Tracking.V1.Experiment> GetOrNotFoundAsync(
        TrackingService.TrackingServiceClient tracking, GetExperimentRequest request, string notFound, CancellationToken cancellationToken)
    {
        try
        {
            return await tracking.GetExperimentAsync(request, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // The Python, R and Java clients branch on this code (set_experiment creates the experiment when it is missing).
            throw MlflowError.NotFound(notFound);
        }
    }

    private static (TrackingService.TrackingServiceClient Tracking, ExperimentIds Ids) Services(HttpContext context) => RunApi.Services(context);
}

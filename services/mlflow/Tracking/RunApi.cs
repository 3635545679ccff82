using Grpc.Core;
using ModelOps.Client;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tracking;

/// <summary>
/// MLflow's run endpoints over tracking. Two rules of ModelOps show through: a run's record is sealed when it ends
/// (no writes, no resume: its hash is announced to the ledger then), and params and tags are write-once evidence (the
/// same value again is accepted, another is refused). Both refusals are 400s, which no client retries.
/// </summary>
public static class RunApi
{
    /// <summary>Most runs one search returns: MLflow's bound.</summary>
    public const int MaxSearchResults = 50_000;

    /// <summary>Most points one metric-history page returns (tracking's own bound on a history).</summary>
    public const int MaxHistoryPoints = 100_000;

    /// <summary>Maps the endpoints under <paramref name="api"/>.</summary>
    public static void Map(IEndpointRouteBuilder api)
    {
        api.Map<CreateRunIn>(["POST"], "/runs/create", CreateAsync);
        api.Map<RunRef>(["GET"], "/runs/get", GetAsync);
        api.Map<UpdateRunIn>(["POST"], "/runs/update", UpdateAsync);
        api.Map<RunRef>(["POST"], "/runs/delete", (r, c, t) => LifecycleAsync(r, c, delete: true, t));
        api.Map<RunRef>(["POST"], "/runs/restore", (r, c, t) => LifecycleAsync(r, c, delete: false, t));
        api.Map<SearchIn>(["POST", "GET"], "/runs/search", SearchAsync);
        api.Map<MetricHistoryIn>(["GET"], "/metrics/get-history", HistoryAsync);
        RunLogging.Map(api);
    }

    private static async Task<object> CreateAsync(CreateRunIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = Services(context);
        var experiment = await ids.RequireAsync(string.IsNullOrEmpty(request.ExperimentId) ? ExperimentIds.DefaultId : request.ExperimentId, create: true, cancellationToken);
        var start = new StartRunRequest { ExperimentId = experiment };
        RunMapping.AddClientTags(start, request.Tags);

        var nameTag = start.Tags.GetValueOrDefault(RunMapping.RunNameTag);
        if (!string.IsNullOrEmpty(request.RunName) && nameTag is not null && nameTag != request.RunName)
        {
            throw MlflowError.InvalidParameter(
                $"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{request.RunName}', mlflow.runName='{nameTag}').");
        }

        start.RunName = string.IsNullOrEmpty(request.RunName) ? nameTag ?? "" : request.RunName;
        if (start.RunName.Length > 0)
        {
            start.Tags[RunMapping.RunNameTag] = start.RunName;
        }

        if (request.StartTime is { } startTime)
        {
            RunMapping.FromMillis(startTime, "start_time");
        }

        // A retried create (the Python client retries on 5xx and lost connections) returns the run the first one
        // started. MLflow clients send start_time, which makes two distinct runs' requests differ; without it, the same
        // request within RunMapping.ReplayWindow counts as a retry.
        var window = request.StartTime is null ? RunMapping.ReplayWindow(context) : "";
        start.ClientRequestId = RunMapping.IdempotencyKey("runs/create", window, start);
        var run = await tracking.StartRunAsync(start, cancellationToken: cancellationToken);
        return new { run = RunMapping.ToMlflow(run, ids) };
    }

    private static async Task<object> GetAsync(RunRef request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = Services(context);
        var run = await GetRunAsync(tracking, request.Id, cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        return new { run = RunMapping.ToMlflow(run, ids) };
    }

    /// <summary>
    /// Ends a run (FINISHED, FAILED, KILLED). A repeat of the same end is answered with the run as it is (a retry);
    /// reopening an ended run, or ending it differently, is refused: the ended record's hash is already in the ledger.
    /// </summary>
    private static async Task<object> UpdateAsync(UpdateRunIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = Services(context);
        var id = string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId;
        var run = await GetRunAsync(tracking, id, cancellationToken);
        if (!string.IsNullOrEmpty(request.RunName) && request.RunName != run.RunName)
        {
            throw MlflowError.InvalidParameter($"Run {run.RunId} is named '{run.RunName}': a ModelOps run's name is set when it starts.");
        }

        if (request.Status is { Length: > 0 } statusName)
        {
            var status = RunMapping.ParseStatus(statusName);
            if (run.Status == RunStatus.Running && status != RunStatus.Running)
            {
                var end = new EndRunRequest { RunId = run.RunId, Status = status };
                if (request.EndTime is { } endMillis)
                {
                    // The client's clock ended it; a client clock a little behind ours must not put the end before the
                    // start tracking recorded by its own clock.
                    var endTime = RunMapping.FromMillis(endMillis, "end_time");
                    end.EndTime = endTime < run.StartTime && run.StartTime.ToDateTimeOffset() - endTime.ToDateTimeOffset() < TimeSpan.FromMinutes(5)
                        ? run.StartTime
                        : endTime;
                }

                // A model logged in a finished run becomes registrable as one artifact: its directory's manifest.
                if (status == RunStatus.Finished)
                {
                    await Registry.ModelManifest.WriteAsync(tracking, run.RunId, cancellationToken);
                }

                try
                {
                    run = await tracking.EndRunAsync(end, cancellationToken: cancellationToken);
                }
                catch (RpcException e) when (e.Reason() == "RUN_ENDED")
                {
                    // Ended meanwhile, by a retry of this very call whose first answer was lost, or by another caller.
                    run = await GetRunAsync(tracking, run.RunId, cancellationToken);
                    if (run.Status != status)
                    {
                        throw EndedAs(run, status);
                    }
                }
            }
            else if (run.Status != status)
            {
                throw MlflowError.InvalidParameter(status == RunStatus.Running
                    ? $"Run {run.RunId} ended as {RunMapping.Status(run.Status)}: a ModelOps run's record is sealed when it ends (its hash is in the ledger), so it cannot be resumed. Start a new run."
                    : EndedAs(run, status).Message);
            }
        }

        await ids.KnowDefaultAsync(cancellationToken);
        return new { run_info = RunMapping.ToMlflow(run, ids).Info };
    }

    private static MlflowError EndedAs(ModelOps.Tracking.V1.Run run, RunStatus status) =>
        MlflowError.InvalidParameter($"Run {run.RunId} ended as {RunMapping.Status(run.Status)} already; it cannot end again as {RunMapping.Status(status)}.");

    private static async Task<object> LifecycleAsync(RunRef request, HttpContext context, bool delete, CancellationToken cancellationToken)
    {
        var (tracking, _) = Services(context);
        var id = RequireRunId(request.Id);
        if (delete)
        {
            await tracking.DeleteRunAsync(new DeleteRunRequest { RunId = id }, cancellationToken: cancellationToken);
        }
        else
        {
            await tracking.RestoreRunAsync(new RestoreRunRequest { RunId = id }, cancellationToken: cancellationToken);
        }

        return Routes.Empty;
    }

    private static async Task<object> SearchAsync(SearchIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var maxResults = Paging.MaxResults(request.MaxResults, 1000, MaxSearchResults);
        var (tracking, ids) = Services(context);
        var search = new SearchRunsRequest
        {
            Filter = RunSearch.Filter(request.Filter),
            RunViewType = Paging.ViewType(request.RunViewType, "run_view_type"),
            PageToken = request.PageToken ?? "",
        };
        search.OrderBy.AddRange((request.OrderBy ?? []).Select(RunSearch.Order));
        foreach (var experiment in request.ExperimentIds ?? [])
        {
            if (await ids.ToTrackingAsync(experiment, create: false, cancellationToken) is { } id)
            {
                search.ExperimentIds.Add(id);
            }
        }

        if (search.ExperimentIds.Count == 0)
        {
            return new { runs = Array.Empty<object>() };
        }

        // Tracking's pages hold at most 1000 runs; up to max_results are gathered here, and the token of the page after
        // them is tracking's own.
        var runs = new List<ModelOps.Tracking.V1.Run>();
        var token = search.PageToken;
        do
        {
            search.PageToken = token;
            search.PageSize = Math.Min(maxResults - runs.Count, ServiceDefaults.Grpc.Paging.MaxPageSize);
            var page = await tracking.SearchRunsAsync(search, cancellationToken: cancellationToken);
            // A logged model's run is not a training run: MLflow lists it among models, not runs.
            runs.AddRange(page.Runs.Where(r => !LoggedModels.IsLoggedModel(r)));
            token = page.NextPageToken;
        }
        while (token.Length > 0 && runs.Count < maxResults);

        await ids.KnowDefaultAsync(cancellationToken);
        return new { runs = runs.Select(r => RunMapping.ToMlflow(r, ids)).ToList(), next_page_token = token.Length > 0 ? token : null };
    }

    private static async Task<object> HistoryAsync(MetricHistoryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.MetricKey))
        {
            throw MlflowError.Missing("metric_key");
        }

        var maxResults = Paging.MaxResults(request.MaxResults, MaxHistoryPoints, MaxHistoryPoints);
        // A bad token is refused before any work.
        var (fromStep, skip) = Paging.ParseStepToken(request.PageToken);
        var (tracking, _) = Services(context);
        var id = RequireRunId(string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId);
        // Tracking answers at most MaxHistoryPoints points of a history, ordered by (step, timestamp, value), from a
        // step on: a page starts at a step, past the points of that step an earlier page returned, so a history of any
        // length is read whole, page after page.
        var history = await tracking.GetMetricHistoryAsync(new GetMetricHistoryRequest
        {
            RunId = id,
            MetricKey = request.MetricKey,
            MinStep = fromStep,
            MaxStep = fromStep == 0 ? 0 : long.MaxValue,
        }, cancellationToken: cancellationToken);
        var points = history.Metrics;
        if (skip > points.Count || (skip == points.Count && history.TotalPoints > points.Count))
        {
            throw MlflowError.InvalidParameter($"The history of {request.MetricKey} holds more than {MaxHistoryPoints} points at step {fromStep}: it cannot be paged.");
        }

        var page = points.Skip(skip).Take(maxResults).Select(m => new ModelOps.Mlflow.Wire.Metric(m.Key, m.Value, m.Timestamp, m.Step)).ToList();
        var end = skip + page.Count;
        string? next = null;
        if (end < points.Count || history.TotalPoints > points.Count)
        {
            // The next page starts at the step of the next point (or of the last one read, when the window is used up),
            // past the points of that step already returned.
            var step = end < points.Count ? points[end].Step : points[end - 1].Step;
            next = Paging.StepToken(step, points.Take(end).Count(p => p.Step == step));
        }

        return new { metrics = page, next_page_token = next };
    }

    /// <summary>The run, or 404 RESOURCE_DOES_NOT_EXIST in MLflow's words.</summary>
    public static async Task<ModelOps.Tracking.V1.Run> GetRunAsync(TrackingService.TrackingServiceClient tracking, string? id, CancellationToken cancellationToken)
    {
        var runId = RequireRunId(id);
        try
        {
            return await tracking.GetRunAsync(new GetRunRequest { RunId = runId }, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw MlflowError.NotFound($"Run with id={runId} not found");
        }
    }

    /// <summary><paramref name="id"/>, or 400 for a missing run id.</summary>
    public static string RequireRunId(string? id) => string.IsNullOrEmpty(id) ? throw MlflowError.Missing("run_id") : id;

    /// <summary>The tracking client and the experiment ids of the request's scope.</summary>
    public static (TrackingService.TrackingServiceClient Tracking, ExperimentIds Ids) Services(HttpContext context) =>
        (context.RequestServices.GetRequiredService<TrackingService.TrackingServiceClient>(), context.RequestServices.GetRequiredService<ExperimentIds>());
}

using System.Globalization;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tracking;

/// <summary>MLflow 3's logged-model endpoints over tracking runs (see <see cref="LoggedModels"/>).</summary>
public static class LoggedModelApi
{
    /// <summary>Most logged models one search returns.</summary>
    public const int MaxSearchResults = 1000;

    /// <summary>Maps the endpoints under <paramref name="api"/>.</summary>
    public static void Map(IEndpointRouteBuilder api)
    {
        api.Map<LoggedModelIn>(["POST"], "/logged-models", CreateAsync);
        api.Map<LoggedModelSearchIn>(["POST"], "/logged-models/search", SearchAsync);
        api.Map<LoggedModelIn>(["GET"], "/logged-models/{model_id}", GetAsync);
        api.Map<LoggedModelIn>(["PATCH"], "/logged-models/{model_id}", FinalizeAsync);
        api.Map<LoggedModelIn>(["POST"], "/logged-models/{model_id}/params", LogParamsAsync);
        api.Map<LoggedModelIn>(["PATCH"], "/logged-models/{model_id}/tags", SetTagsAsync);
        api.Map<RunOutputsIn>(["POST"], "/runs/outputs", OutputsAsync);
    }

    private static async Task<object> CreateAsync(LoggedModelIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = RunApi.Services(context);
        var experiment = await ids.RequireAsync(request.ExperimentId, create: true, cancellationToken);
        var start = new StartRunRequest { ExperimentId = experiment, RunName = request.Name ?? "" };
        RunMapping.AddClientTags(start, request.Tags);

        start.Tags[LoggedModels.MarkerTag] = "true";
        if (!string.IsNullOrEmpty(request.ModelType))
        {
            start.Tags[LoggedModels.ModelTypeTag] = request.ModelType;
        }

        // The data the source run was trained on is the model's evidence too.
        ModelOps.Tracking.V1.Run? source = null;
        if (!string.IsNullOrEmpty(request.SourceRunId))
        {
            source = await RunApi.GetRunAsync(tracking, request.SourceRunId, cancellationToken);
            start.Tags[LoggedModels.SourceRunTag] = source.RunId;
        }

        start.ClientRequestId = RunMapping.IdempotencyKey("logged-models/create", RunMapping.ReplayWindow(context), start);
        var run = await tracking.StartRunAsync(start, cancellationToken: cancellationToken);

        var batch = new LogBatchRequest { RunId = run.RunId };
        batch.Params.AddRange(Params(request.Params));
        batch.Inputs.AddRange(source?.Inputs ?? []);
        if (batch.Params.Count > 0 || batch.Inputs.Count > 0)
        {
            batch.BatchId = RunMapping.IdempotencyKey("runs/log", run.RunId, batch);
            await tracking.LogBatchAsync(batch, cancellationToken: cancellationToken);
            run = await tracking.GetRunAsync(new GetRunRequest { RunId = run.RunId }, cancellationToken: cancellationToken);
        }

        return new { model = LoggedModels.ToMlflow(run, ids) };
    }

    private static async Task<object> GetAsync(LoggedModelIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (_, ids) = RunApi.Services(context);
        var run = await BackingRunAsync(context, cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        return new { model = LoggedModels.ToMlflow(run, ids) };
    }

    /// <summary>READY ends the backing run (writing its model manifest), UPLOAD_FAILED ends it FAILED; the same again is a retry.</summary>
    private static async Task<object> FinalizeAsync(LoggedModelIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = RunApi.Services(context);
        var run = await BackingRunAsync(context, cancellationToken);
        var status = request.Status switch
        {
            "LOGGED_MODEL_READY" or "2" => RunStatus.Finished,
            "LOGGED_MODEL_UPLOAD_FAILED" or "3" => RunStatus.Failed,
            null or "" => throw MlflowError.Missing("status"),
            _ => throw MlflowError.InvalidParameter($"Invalid status '{request.Status}': a logged model is finalised as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED."),
        };
        if (run.Status == RunStatus.Running)
        {
            if (status == RunStatus.Finished)
            {
                await Registry.ModelManifest.WriteAsync(tracking, run.RunId, cancellationToken);
            }

            run = await tracking.EndRunAsync(new EndRunRequest { RunId = run.RunId, Status = status }, cancellationToken: cancellationToken);
        }
        else if (run.Status != status)
        {
            throw MlflowError.InvalidParameter($"Logged model {LoggedModels.IdOf(run.RunId)} was finalised as {LoggedModels.ToMlflow(run, ids).Info.Status} already.");
        }

        await ids.KnowDefaultAsync(cancellationToken);
        return new { model = LoggedModels.ToMlflow(run, ids) };
    }

    private static async Task<object> LogParamsAsync(LoggedModelIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var run = await BackingRunAsync(context, cancellationToken);
        var batch = new LogBatchRequest { RunId = run.RunId };
        batch.Params.AddRange(Params(request.Params));
        batch.BatchId = RunMapping.IdempotencyKey("runs/log", run.RunId, batch);
        await RunApi.Services(context).Tracking.LogBatchAsync(batch, cancellationToken: cancellationToken);
        return Routes.Empty;
    }

    private static async Task<object> SetTagsAsync(LoggedModelIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var run = await BackingRunAsync(context, cancellationToken);
        var batch = new LogBatchRequest { RunId = run.RunId };
        batch.Tags.AddRange((request.Tags ?? []).Select((t, i) => new RunTag { Key = TagRules.ClientKey(t.Key, $"tags[{i}]"), Value = t.Value ?? "" }));
        batch.BatchId = RunMapping.IdempotencyKey("runs/log", run.RunId, batch);
        await RunApi.Services(context).Tracking.LogBatchAsync(batch, cancellationToken: cancellationToken);
        return Routes.Empty;
    }

    private static async Task<object> SearchAsync(LoggedModelSearchIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var maxResults = Paging.MaxResults(request.MaxResults, 50, MaxSearchResults);
        var clauses = MlflowFilter.Parse(request.Filter).Select(LoggedModels.ToRunClause).ToList();
        clauses.Add(new FilterClause(new FilterKey("tag", LoggedModels.MarkerTag), "=", "true"));
        var (tracking, ids) = RunApi.Services(context);
        var search = new SearchRunsRequest { Filter = RunSearch.Render(clauses), PageSize = maxResults, PageToken = request.PageToken ?? "" };
        foreach (var order in request.OrderBy ?? [])
        {
            var key = LoggedModels.ToRunClause(new FilterClause(Key(order.FieldName), "=", "")).Key;
            search.OrderBy.Add(RunSearch.Order(key, descending: order.Ascending == false));
        }

        if (search.OrderBy.Count == 0)
        {
            search.OrderBy.Add("attributes.start_time DESC");
        }

        foreach (var experiment in request.ExperimentIds ?? [])
        {
            if (await ids.ToTrackingAsync(experiment, create: false, cancellationToken) is { } id)
            {
                search.ExperimentIds.Add(id);
            }
        }

        if (search.ExperimentIds.Count == 0)
        {
            return new { models = Array.Empty<object>() };
        }

        var page = await tracking.SearchRunsAsync(search, cancellationToken: cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        return new
        {
            models = page.Runs.Select(r => LoggedModels.ToMlflow(r, ids)).ToList(),
            next_page_token = page.NextPageToken.Length > 0 ? page.NextPageToken : null,
        };
    }

    /// <summary>Records on a run the models it logged: a tag per model, its value the step.</summary>
    private static async Task<object> OutputsAsync(RunOutputsIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var id = RunApi.RequireRunId(request.RunId);
        var batch = new LogBatchRequest { RunId = id };
        foreach (var (model, i) in (request.Models ?? []).Select((m, i) => (m, i)))
        {
            var modelId = LoggedModels.RunOf(model.ModelId) is not null ? model.ModelId! : throw MlflowError.InvalidParameter($"models[{i}].model_id '{model.ModelId}' is not a logged model id.");
            batch.Tags.Add(new RunTag { Key = LoggedModels.OutputTagPrefix + modelId, Value = (model.Step ?? 0).ToString(CultureInfo.InvariantCulture) });
        }

        if (batch.Tags.Count == 0)
        {
            throw MlflowError.Missing("models");
        }

        batch.BatchId = RunMapping.IdempotencyKey("runs/log", id, batch);
        await RunApi.Services(context).Tracking.LogBatchAsync(batch, cancellationToken: cancellationToken);
        return Routes.Empty;
    }

    private static FilterKey Key(string? field) => string.IsNullOrEmpty(field)
        ? throw MlflowError.Missing("order_by.field_name")
        : field.IndexOf('.', StringComparison.Ordinal) is var dot and > 0
            ? new FilterKey(FilterKey.Normalise(field[..dot]), field[(dot + 1)..])
            : new FilterKey("attribute", field);

    private static IEnumerable<Param> Params(List<KeyValueIn>? parameters) =>
        (parameters ?? []).Select((p, i) => new Param
        {
            Key = string.IsNullOrEmpty(p.Key) ? throw MlflowError.Missing($"params[{i}].key") : p.Key,
            Value = p.Value ?? throw MlflowError.Missing($"params[{i}].value"),
        });

    private static async Task<ModelOps.Tracking.V1.Run> BackingRunAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var modelId = context.GetRouteValue("model_id") as string;
        var notFound = MlflowError.NotFound($"Logged model with ID '{modelId}' not found.");
        if (LoggedModels.RunOf(modelId) is not { } runId)
        {
            throw notFound;
        }

        ModelOps.Tracking.V1.Run run;
        try
        {
            run = await RunApi.GetRunAsync(RunApi.Services(context).Tracking, runId, cancellationToken);
        }
        catch (MlflowError e) when (e.Status == 404)
        {
            throw notFound;
        }

        return LoggedModels.IsLoggedModel(run) ? run : throw notFound;
    }
}

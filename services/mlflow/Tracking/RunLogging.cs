using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tracking;

/// <summary>
/// MLflow's logging endpoints (log-metric, log-parameter, set-tag, delete-tag, log-batch, log-inputs), each one
/// tracking LogBatch whose batch_id is a hash of what it writes: a retried request is written once, as MLflow ignores
/// an exact duplicate metric.
/// </summary>
public static class RunLogging
{
    /// <summary>MLflow's log-batch bounds.</summary>
    public const int MaxMetrics = 1000, MaxParams = 100, MaxTags = 100, MaxEntries = 1000;

    /// <summary>Maps the endpoints under <paramref name="api"/>.</summary>
    public static void Map(IEndpointRouteBuilder api)
    {
        api.Map<LogMetricIn>(["POST"], "/runs/log-metric", LogMetricAsync);
        api.Map<RunKeyValueIn>(["POST"], "/runs/log-parameter", LogParamAsync);
        api.Map<RunKeyValueIn>(["POST"], "/runs/set-tag", SetTagAsync);
        api.Map<RunKeyValueIn>(["POST", "DELETE"], "/runs/delete-tag", DeleteTagAsync);
        api.Map<LogBatchIn>(["POST"], "/runs/log-batch", LogBatchAsync);
        api.Map<LogInputsIn>(["POST"], "/runs/log-inputs", LogInputsAsync);
    }

    private static Task<object> LogMetricAsync(LogMetricIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var id = RunApi.RequireRunId(string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId);
        var batch = new LogBatchRequest { RunId = id };
        batch.Metrics.Add(RunMapping.ToTracking(request.Key, request.Value, request.Timestamp, request.Step, ""));
        return WriteAsync(context, batch, cancellationToken);
    }

    private static Task<object> LogParamAsync(RunKeyValueIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var id = RunApi.RequireRunId(string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId);
        var batch = new LogBatchRequest { RunId = id };
        batch.Params.Add(new Param
        {
            Key = string.IsNullOrEmpty(request.Key) ? throw MlflowError.Missing("key") : request.Key,
            Value = request.Value ?? throw MlflowError.Missing("value"),
        });
        return WriteAsync(context, batch, cancellationToken);
    }

    private static async Task<object> SetTagAsync(RunKeyValueIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var id = RunApi.RequireRunId(string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId);
        var batch = new LogBatchRequest { RunId = id };
        batch.Tags.Add(new RunTag { Key = TagRules.ClientKey(request.Key, "key"), Value = request.Value ?? "" });
        await RequireNameUnchangedAsync(context, batch, cancellationToken);
        return await WriteAsync(context, batch, cancellationToken);
    }

    /// <summary>A tag is evidence and is not deleted; a tag the run does not have is MLflow's 404.</summary>
    private static async Task<object> DeleteTagAsync(RunKeyValueIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var key = string.IsNullOrEmpty(request.Key) ? throw MlflowError.Missing("key") : request.Key;
        var (tracking, _) = RunApi.Services(context);
        var run = await RunApi.GetRunAsync(tracking, string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId, cancellationToken);
        if (!run.Tags.ContainsKey(key))
        {
            throw MlflowError.NotFound($"No tag with name: {key} in run with id {run.RunId}");
        }

        throw MlflowError.InvalidParameter($"Tag '{key}' of run {run.RunId} cannot be deleted: ModelOps keeps a run's tags as written (they are evidence).");
    }

    private static async Task<object> LogBatchAsync(LogBatchIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var id = RunApi.RequireRunId(string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId);
        var (metrics, parameters, tags) = (request.Metrics ?? [], request.Params ?? [], request.Tags ?? []);
        if (metrics.Count > MaxMetrics || parameters.Count > MaxParams || tags.Count > MaxTags || metrics.Count + parameters.Count + tags.Count > MaxEntries)
        {
            throw MlflowError.InvalidParameter(
                $"A batch logging request can contain at most {MaxMetrics} metrics, {MaxParams} params and {MaxTags} tags, {MaxEntries} in all; " +
                $"this one has {metrics.Count} metrics, {parameters.Count} params and {tags.Count} tags.");
        }

        var batch = new LogBatchRequest { RunId = id };
        batch.Metrics.AddRange(metrics.Select((m, i) => RunMapping.ToTracking(m.Key, m.Value, m.Timestamp, m.Step, $"metrics[{i}].")));
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (param, i) in parameters.Select((p, i) => (p, i)))
        {
            var key = string.IsNullOrEmpty(param.Key) ? throw MlflowError.Missing($"params[{i}].key") : param.Key;
            var value = param.Value ?? throw MlflowError.Missing($"params[{i}].value");
            if (seen.TryGetValue(key, out var earlier))
            {
                if (earlier != value)
                {
                    throw MlflowError.InvalidParameter($"Duplicate parameter keys have been submitted: param '{key}' is given twice with different values.");
                }

                continue;
            }

            seen[key] = value;
            batch.Params.Add(new Param { Key = key, Value = value });
        }

        // The last value of a tag given twice is the one written, as MLflow does.
        var tagValues = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (tag, i) in tags.Select((t, i) => (t, i)))
        {
            tagValues[TagRules.ClientKey(tag.Key, $"tags[{i}]")] = tag.Value ?? "";
        }

        batch.Tags.AddRange(tagValues.Select(t => new RunTag { Key = t.Key, Value = t.Value }));
        await RequireNameUnchangedAsync(context, batch, cancellationToken);
        return await WriteAsync(context, batch, cancellationToken);
    }

    private static Task<object> LogInputsAsync(LogInputsIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var id = RunApi.RequireRunId(request.RunId);
        var batch = new LogBatchRequest { RunId = id };
        foreach (var (input, i) in (request.Datasets ?? []).Select((d, i) => (d, i)))
        {
            var dataset = input.Dataset ?? throw MlflowError.Missing($"datasets[{i}].dataset");
            batch.Inputs.Add(new ModelOps.Tracking.V1.DatasetInput
            {
                DatasetId = string.IsNullOrEmpty(dataset.Name) ? throw MlflowError.Missing($"datasets[{i}].dataset.name") : dataset.Name,
                Hash = string.IsNullOrEmpty(dataset.Digest) ? throw MlflowError.Missing($"datasets[{i}].dataset.digest") : dataset.Digest,
                SourceUri = dataset.Source ?? "",
                Context = input.Tags?.LastOrDefault(t => t.Key == RunMapping.DatasetContextTag)?.Value ?? "",
            });
        }

        return WriteAsync(context, batch, cancellationToken);
    }

    /// <summary>MLflow renames a run by its mlflow.runName tag; a ModelOps run keeps the name it started with.</summary>
    private static async Task RequireNameUnchangedAsync(HttpContext context, LogBatchRequest batch, CancellationToken cancellationToken)
    {
        if (batch.Tags.FirstOrDefault(t => t.Key == RunMapping.RunNameTag) is not { } tag)
        {
            return;
        }

        var run = await RunApi.GetRunAsync(RunApi.Services(context).Tracking, batch.RunId, cancellationToken);
        if (run.RunName != tag.Value)
        {
            throw MlflowError.InvalidParameter($"Run {run.RunId} is named '{run.RunName}': a ModelOps run's name is set when it starts, and tag {RunMapping.RunNameTag} cannot rename it.");
        }
    }

    private static async Task<object> WriteAsync(HttpContext context, LogBatchRequest batch, CancellationToken cancellationToken)
    {
        // Keyed by what is written, whichever endpoint wrote it: the same write again is written once.
        batch.BatchId = RunMapping.IdempotencyKey("runs/log", batch.RunId, batch);
        await RunApi.Services(context).Tracking.LogBatchAsync(batch, cancellationToken: cancellationToken);
        return Routes.Empty;
    }
}

using System.Globalization;
using Grpc.Core;
using ModelOps.Mlflow.Tracking;
using ModelOps.Mlflow.Wire;
using ModelOps.Registry.V1;
using V1 = ModelOps.Registry.V1;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Registry;

/// <summary>
/// MLflow's model registry endpoints over the ModelOps registry. Reads show only what the registry applied (never a
/// pending transition); stage and alias changes go through <see cref="Transitions"/>.
/// </summary>
public static class RegistryApi
{
    /// <summary>The tag of registered-models/create that sets the risk tier (low, medium, high); high when absent.</summary>
    public const string RiskTierTag = "risk_tier";

    /// <summary>Most registered models a search looks through.</summary>
    public const int MaxModels = 50_000;

    /// <summary>Most versions one model-version search returns: MLflow's bound.</summary>
    public const int MaxVersionResults = 200_000;

    /// <summary>Maps the endpoints under <paramref name="api"/>.</summary>
    public static void Map(IEndpointRouteBuilder api)
    {
        api.Map<RegistryIn>(["POST"], "/registered-models/create", CreateModelAsync);
        api.Map<RegistryIn>(["GET"], "/registered-models/get", GetModelAsync);
        api.Map<RegistryIn>(["GET"], "/registered-models/search", SearchModelsAsync);
        api.Map<RegistryIn>(["POST", "GET"], "/registered-models/get-latest-versions", LatestVersionsAsync);
        api.Map<RegistryIn>(["POST"], "/model-versions/create", CreateVersionAsync);
        api.Map<RegistryIn>(["GET"], "/model-versions/get", GetVersionAsync);
        api.Map<RegistryIn>(["GET"], "/model-versions/search", SearchVersionsAsync);
        api.Map<RegistryIn>(["GET"], "/model-versions/get-download-uri", DownloadUriAsync);
        api.Map<RegistryIn>(["GET"], "/registered-models/alias", GetAliasAsync);
        Transitions.Map(api);
    }

    private static async Task<object> CreateModelAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var name = RequireName(request.Name);
        var create = new CreateRegisteredModelRequest { Name = name, Description = request.Description ?? "", RiskTier = RiskTier.High };
        foreach (var tag in request.Tags ?? [])
        {
            var key = TagRules.ClientKey(tag.Key, "tags");
            create.Tags[key] = tag.Value ?? "";
            if (key == RiskTierTag)
            {
                create.RiskTier = (tag.Value ?? "").ToLowerInvariant() switch
                {
                    "low" => RiskTier.Low,
                    "medium" => RiskTier.Medium,
                    "high" => RiskTier.High,
                    _ => throw MlflowError.InvalidParameter($"Tag '{RiskTierTag}' must be low, medium or high, not '{tag.Value}'."),
                };
            }
        }

        var (registry, mapping) = Services(context);
        try
        {
            var model = await registry.CreateRegisteredModelAsync(create, cancellationToken: cancellationToken);
            return new { registered_model = await mapping.ToMlflowAsync(model, [], cancellationToken) };
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            // Python's register_model and log_model(registered_model_name=) go on to create a version on this code.
            throw new MlflowError("RESOURCE_ALREADY_EXISTS", 400, $"Registered Model (name={name}) already exists.");
        }
    }

    private static async Task<object> GetModelAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, mapping) = Services(context);
        var model = await GetModelAsync(registry, RequireName(request.Name), cancellationToken);
        return new { registered_model = await mapping.ToMlflowAsync(model, await VersionsAsync(registry, model.Name, cancellationToken), cancellationToken) };
    }

    private static async Task<object> SearchModelsAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var maxResults = Paging.MaxResults(request.MaxResults, 100, 1000);
        var clauses = MlflowFilter.Parse(request.Filter);
        foreach (var clause in clauses)
        {
            if (clause.Key is not ({ Entity: "tag" } or { Entity: "attribute", Key: "name" }) || clause.Value is List<string>)
            {
                throw MlflowError.InvalidParameter($"Invalid filter '{request.Filter}': registered models are searched by name and tags.<key>, with =, !=, LIKE and ILIKE.");
            }
        }

        var orders = (request.OrderBy ?? []).Select(MlflowFilter.ParseOrder).ToList();
        if (orders.Any(o => o.Key is not { Entity: "attribute", Key: "name" or "creation_timestamp" or "last_updated_timestamp" or "timestamp" }))
        {
            throw MlflowError.InvalidParameter("Invalid order_by: registered models are ordered by name, creation_timestamp or last_updated_timestamp.");
        }

        var (registry, mapping) = Services(context);
        var models = new List<V1.RegisteredModel>();
        var token = "";
        do
        {
            var page = await registry.ListRegisteredModelsAsync(new ListRegisteredModelsRequest { PageSize = 1000, PageToken = token }, cancellationToken: cancellationToken);
            models.AddRange(page.Models.Where(m => clauses.All(c => c.Matches(c.Key.Entity == "tag" ? m.Tags.GetValueOrDefault(c.Key.Key) : m.Name))));
            token = page.NextPageToken;
        }
        while (token.Length > 0 && models.Count < MaxModels);

        IOrderedEnumerable<V1.RegisteredModel> ordered = models.OrderBy(_ => 0);
        foreach (var (key, descending) in orders.Count > 0 ? orders : [(new FilterKey("attribute", "name"), false)])
        {
            Func<V1.RegisteredModel, object> field = key.Key == "name" ? m => m.Name
                : key.Key == "creation_timestamp" ? m => ExperimentIds.Millis(m.CreatedAt)
                : m => ExperimentIds.Millis(m.UpdatedAt ?? m.CreatedAt);
            ordered = descending ? ordered.ThenByDescending(field, OrderComparer.Instance) : ordered.ThenBy(field, OrderComparer.Instance);
        }

        var (items, next) = Paging.Slice(ordered, request.PageToken, maxResults);
        var shaped = new List<Wire.RegisteredModel>();
        foreach (var model in items)
        {
            shaped.Add(await mapping.ToMlflowAsync(model, await VersionsAsync(registry, model.Name, cancellationToken), cancellationToken));
        }

        return new { registered_models = shaped, next_page_token = next };
    }

    private static async Task<object> LatestVersionsAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, mapping) = Services(context);
        var model = await GetModelAsync(registry, RequireName(request.Name), cancellationToken);
        var stages = (request.Stages ?? []).Count == 0
            ? [Stage.None, Stage.Staging, Stage.Production, Stage.Archived]
            : request.Stages!.Select(RegistryMapping.ParseStage).ToHashSet();
        var latest = (await VersionsAsync(registry, model.Name, cancellationToken))
            .Where(v => stages.Contains(v.Stage))
            .GroupBy(v => v.Stage)
            .Select(g => g.MaxBy(v => v.Version)!)
            .OrderBy(v => v.Version);
        var versions = new List<Wire.ModelVersion>();
        foreach (var version in latest)
        {
            versions.Add(await mapping.ToMlflowAsync(version, cancellationToken));
        }

        return new { model_versions = versions };
    }

    /// <summary>
    /// Registers a version of a FINISHED run's artifact: a file, or an MLflow model directory through its manifest. The
    /// registry re-reads the bytes and pins their hash. A retry within ten minutes returns the same version.
    /// </summary>
    private static async Task<object> CreateVersionAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var name = RequireName(request.Name);
        var (runId, path) = RegistryMapping.ParseSource(request.Source, request.RunId);
        if (!string.IsNullOrEmpty(request.ModelId) && LoggedModels.RunOf(request.ModelId) != runId)
        {
            throw MlflowError.InvalidParameter($"model_id '{request.ModelId}' is not the logged model the source names.");
        }

        var tracking = context.RequestServices.GetRequiredService<TrackingService.TrackingServiceClient>();
        var run = await RunApi.GetRunAsync(tracking, runId, cancellationToken);
        if (run.Status == RunStatus.Running)
        {
            throw MlflowError.InvalidParameter(
                $"Run {run.RunId} is still RUNNING: ModelOps registers versions of ended runs, whose record is sealed. " +
                "End the run first, then register (mlflow.register_model(\"runs:/<run_id>/<path>\", name)).");
        }

        // Paths list in order, so a file at the path itself comes first among those it prefixes.
        var manifest = path.Length == 0 ? ModelManifest.FileName : $"{path}/{ModelManifest.FileName}";
        var first = (await tracking.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId, PathPrefix = path, PageSize = 1 }, cancellationToken: cancellationToken)).Artifacts;
        var pinned = path.Length > 0 && first.Count > 0 && first[0].Path == path ? path
            : (await tracking.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId, PathPrefix = manifest, PageSize = 1 }, cancellationToken: cancellationToken))
                .Artifacts.Any(a => a.Path == manifest) ? manifest
            : throw MlflowError.InvalidParameter(first.Count == 0
                ? $"Run {run.RunId} has no artifact at '{path}'."
                : $"'{path}' of run {run.RunId} is a directory without {ModelManifest.FileName} (written when a run holding an MLflow model ends through this API): register a file, or a directory with an MLmodel file.");

        var (registry, mapping) = Services(context);
        var create = new CreateModelVersionRequest { Model = name, RunId = run.RunId, ArtifactPath = pinned, Description = request.Description ?? "" };
        create.ClientRequestId = RunMapping.IdempotencyKey("model-versions/create", RunMapping.ReplayWindow(context), create);
        var version = await registry.CreateModelVersionAsync(create, cancellationToken: cancellationToken);
        return new { model_version = await mapping.ToMlflowAsync(version, cancellationToken) };
    }

    private static async Task<object> GetVersionAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, mapping) = Services(context);
        var version = await GetVersionAsync(registry, RequireName(request.Name), RegistryMapping.ParseVersion(request.Version), cancellationToken);
        return new { model_version = await mapping.ToMlflowAsync(version, cancellationToken) };
    }

    private static async Task<object> SearchVersionsAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var maxResults = Paging.MaxResults(request.MaxResults, 10_000, MaxVersionResults);
        var clauses = MlflowFilter.Parse(request.Filter);
        if (clauses.Any(c => c.Key is not { Entity: "attribute", Key: "name" or "version_number" or "run_id" or "source_path" }))
        {
            throw MlflowError.InvalidParameter($"Invalid filter '{request.Filter}': model versions are searched by name, version_number, run_id and source_path.");
        }

        var (registry, mapping) = Services(context);
        // One model when the filter names it; otherwise every model's versions.
        var names = clauses.FirstOrDefault(c => c.Key.Key == "name" && c.Comparator == "=" && c.Value is string) is { Value: string only }
            ? [only]
            : await ModelNamesAsync(registry, cancellationToken);
        var found = new List<Wire.ModelVersion>();
        foreach (var name in names)
        {
            List<V1.ModelVersion> versions;
            try
            {
                versions = await VersionsAsync(registry, name, cancellationToken);
            }
            catch (MlflowError e) when (e.Status == 404)
            {
                continue;
            }

            foreach (var version in versions)
            {
                var shaped = await mapping.ToMlflowAsync(version, cancellationToken);
                if (clauses.All(c => c.Matches(c.Key.Key switch
                    {
                        "name" => shaped.Name,
                        "version_number" => (object)version.Version,
                        "run_id" => shaped.RunId,
                        _ => (object)shaped.Source,
                    })))
                {
                    found.Add(shaped);
                }
            }
        }

        var (items, next) = Paging.Slice(found.OrderBy(v => v.Name, StringComparer.Ordinal).ThenByDescending(v => int.Parse(v.Version, CultureInfo.InvariantCulture)), request.PageToken, maxResults);
        return new { model_versions = items, next_page_token = next };
    }

    private static async Task<object> DownloadUriAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (registry, mapping) = Services(context);
        var version = await GetVersionAsync(registry, RequireName(request.Name), RegistryMapping.ParseVersion(request.Version), cancellationToken);
        return new { artifact_uri = await mapping.DownloadUriAsync(version, cancellationToken) };
    }

    private static async Task<object> GetAliasAsync(RegistryIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var alias = string.IsNullOrEmpty(request.Alias) ? throw MlflowError.Missing("alias") : request.Alias;
        var (registry, mapping) = Services(context);
        var model = await GetModelAsync(registry, RequireName(request.Name), cancellationToken);
        var assignment = model.Current.FirstOrDefault(a => a.Target.KindCase == Target.KindOneofCase.Alias && a.Target.Alias == alias && a.Until is null)
                         ?? throw MlflowError.InvalidParameter($"Registered model alias {alias} not found.");
        var version = await GetVersionAsync(registry, model.Name, assignment.Version, cancellationToken);
        return new { model_version = await mapping.ToMlflowAsync(version, cancellationToken) };
    }

    /// <summary>The registered model, or MLflow's 404.</summary>
    public static async Task<V1.RegisteredModel> GetModelAsync(RegistryService.RegistryServiceClient registry, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await registry.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = name }, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw MlflowError.NotFound($"Registered Model with name={name} not found");
        }
    }

    /// <summary>The version, or MLflow's 404.</summary>
    public static async Task<V1.ModelVersion> GetVersionAsync(RegistryService.RegistryServiceClient registry, string name, int version, CancellationToken cancellationToken)
    {
        try
        {
            return await registry.GetModelVersionAsync(new GetModelVersionRequest { Model = name, Version = version }, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw MlflowError.NotFound($"Model Version (name={name}, version={version}) not found");
        }
    }

    /// <summary>Every version of a model, newest first.</summary>
    public static async Task<List<V1.ModelVersion>> VersionsAsync(RegistryService.RegistryServiceClient registry, string name, CancellationToken cancellationToken)
    {
        var versions = new List<V1.ModelVersion>();
        var token = "";
        try
        {
            do
            {
                var page = await registry.ListModelVersionsAsync(new ListModelVersionsRequest { Model = name, PageSize = 1000, PageToken = token }, cancellationToken: cancellationToken);
                versions.AddRange(page.Versions);
                token = page.NextPageToken;
            }
            while (token.Length > 0);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            throw MlflowError.NotFound($"Registered Model with name={name} not found");
        }

        return versions;
    }

    /// <summary><paramref name="name"/>, or 400 when missing.</summary>
    public static string RequireName(string? name) => string.IsNullOrEmpty(name) ? throw MlflowError.Missing("name") : name;

    /// <summary>The registry client and the mapping of the request's scope.</summary>
    public static (RegistryService.RegistryServiceClient Registry, RegistryMapping Mapping) Services(HttpContext context) =>
        (context.RequestServices.GetRequiredService<RegistryService.RegistryServiceClient>(), context.RequestServices.GetRequiredService<RegistryMapping>());

    private static async Task<List<string>> ModelNamesAsync(RegistryService.RegistryServiceClient registry, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        var token = "";
        do
        {
            var page = await registry.ListRegisteredModelsAsync(new ListRegisteredModelsRequest { PageSize = 1000, PageToken = token }, cancellationToken: cancellationToken);
            names.AddRange(page.Models.Select(m => m.Name));
            token = page.NextPageToken;
        }
        while (token.Length > 0 && names.Count < MaxModels);

        return names;
    }
}

using Grpc.Core;
using ModelOps.Datasets;
using ModelOps.Explainability.Agnostic;
using ModelOps.Explainability.Trees;
using ModelOps.Explainability.V1;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Explainability.Domain;

/// <summary>
/// Reads registered model versions: the registry names the run artifact and pins its SHA-256, tracking and the object
/// store give bytes that must hash to tracking's record and to the registry's pin, and only then is the file parsed.
/// Models are kept by content hash (the last <see cref="Cached"/>), so a version is read once while it is used; a model
/// explained with background rows is kept once per background, with its explainer.
/// </summary>
internal sealed class ModelSource(RegistryService.RegistryServiceClient registry, RunArtifacts artifacts)
{
    /// <summary>Largest model artifact read.</summary>
    public const long MaxModelBytes = 512L << 20;

    /// <summary>Largest dataset artifact read (explained rows or background rows).</summary>
    public const long MaxDatasetBytes = 2L << 30;

    /// <summary>How many models (and explainers with a background) are kept.</summary>
    public const int Cached = 4;

    /// <summary>Most models read at once: a model may take 512 MiB, so a burst of first reads is bounded in memory.</summary>
    public const int ConcurrentLoads = 2;

    /// <summary>Longest a model (or an explainer with its background) may take to load.</summary>
    public static readonly TimeSpan LoadTimeout = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _reading = new(ConcurrentLoads, ConcurrentLoads);
    private readonly LinkedList<(string Key, IExplainable Model, IExplainer? Explainer)> _cache = new();
    private readonly Dictionary<string, Task<(IExplainable, IExplainer?)>> _loading = new(StringComparer.Ordinal);

    /// <summary>Checks a model reference as the request's field <paramref name="field"/>.</summary>
    public static void Check(FieldViolations violations, string field, ModelRef? reference)
    {
        if (reference is null)
        {
            violations.Add(field, "is required: the registered model and version");
            return;
        }

        violations.Require(reference.Model.Length is > 0 and <= 200 && TextRules.NameProblem(reference.Model) is null, $"{field}.model",
            "must be 1 to 200 characters without control or format characters");
        violations.Require(reference.Version >= 1, $"{field}.version", "must be a registered version number (≥ 1)");
    }

    /// <summary>
    /// The version's model, with its explainer when the file is enough to explain it; one explained with background
    /// rows needs <c>WithBackgroundAsync</c> before it explains anything.
    /// </summary>
    public async Task<ExplainedModel> LoadAsync(ModelRef reference, CancellationToken cancellationToken)
    {
        ModelVersion version;
        try
        {
            version = await registry.GetModelVersionAsync(new GetModelVersionRequest { Model = reference.Model, Version = reference.Version },
                deadline: DateTime.UtcNow.Add(Deadline), cancellationToken: cancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            throw ServiceErrors.NotFound("model_version", $"{reference.Model}/{reference.Version}",
                $"Version {reference.Version} of model {TextRules.Echo(reference.Model)} is not registered.");
        }

        var (model, explainer) = await CachedAsync(version.ArtifactSha256, token => ReadAsync(version, token), cancellationToken);
        return new ExplainedModel(reference, version.ArtifactSha256, model, explainer, null);
    }

    /// <summary>
    /// The model ready to explain: as it is when its file is enough, otherwise with the rows of
    /// <paramref name="background"/> (the request's field <paramref name="field"/>), which it then requires: an ML.NET
    /// tree ensemble's covers are counted on them, any other model's values average over them.
    /// </summary>
    public async Task<ExplainedModel> WithBackgroundAsync(ExplainedModel model, Dataset? background, string field, CancellationToken cancellationToken)
    {
        if (!model.NeedsBackground)
        {
            return model;
        }

        if (background is null || background.RunId.Length == 0)
        {
            var why = model.Model.TreeCount > 0
                ? $"is an ML.NET model ({model.Model.Format}), which keeps no record of how much data reached each node: name background rows (a dataset artifact with the model's features) in {field}, and its covers are counted on them."
                : $"is an {model.Model.Format} model, explained model-agnostically against background rows: name them (a dataset artifact with the model's features) in {field}.";
            throw ServiceErrors.FailedPrecondition("BACKGROUND_REQUIRED", $"Version {model.Reference.Version} of {TextRules.Echo(model.Reference.Model)} {why}",
                "MODEL_FORMAT", $"{model.Reference.Model}/{model.Reference.Version}");
        }

        return await WithBackgroundAsync(model, background, await ReadDatasetAsync(model.FeatureNames, background, field, cancellationToken), cancellationToken);
    }

    /// <summary>As <see cref="WithBackgroundAsync(ExplainedModel, Dataset?, string, CancellationToken)"/>, with the background's rows read already.</summary>
    public async Task<ExplainedModel> WithBackgroundAsync(ExplainedModel model, Dataset background, (FeatureTable Table, string Sha256) read, CancellationToken cancellationToken)
    {
        if (!model.NeedsBackground)
        {
            return model;
        }

        var (table, sha256) = read;
        try
        {
            var (_, explainer) = await CachedAsync($"{model.Sha256}/{sha256}",
                token => Task.Run(() => (model.Model, (IExplainer?)model.Model.Explainer(table.Values, table.Rows)), token),
                cancellationToken);
            return model with { Background = (background, sha256), Loaded = explainer };
        }
        catch (ModelRunException exception)
        {
            throw Failed(model.Reference, exception);
        }
    }

    /// <summary>FAILED_PRECONDITION (MODEL_FAILED): the model itself failed on the rows it was given.</summary>
    public static ServiceException Failed(ModelRef reference, ModelRunException exception) =>
        ServiceErrors.FailedPrecondition("MODEL_FAILED",
            $"Version {reference.Version} of {TextRules.Echo(reference.Model)} failed on the rows it was given: {TextRules.Clip(exception.Message, 400)}.",
            "MODEL_FORMAT", $"{reference.Model}/{reference.Version}");

    /// <summary>
    /// Reads a dataset artifact (CSV, or Parquet by its extension) into the model's feature order, refusing what the
    /// table refuses as the request's field <paramref name="field"/>.
    /// </summary>
    public async Task<(FeatureTable Table, string Sha256)> ReadDatasetAsync(IReadOnlyList<string> features, Dataset dataset, string field, CancellationToken cancellationToken)
    {
        var parquet = dataset.ArtifactPath.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);
        await using var artifact = await artifacts.ReadAsync(dataset.RunId, dataset.ArtifactPath, $"{field}.artifact_path", MaxDatasetBytes, cancellationToken);
        var table = new FeatureTable(features, dataset.IdColumn.Length > 0 ? dataset.IdColumn : null);
        try
        {
            await TableReader.ReadAsync(artifact.Content, parquet, table, FeatureTable.MaxRows, cancellationToken);
        }
        catch (DatasetException exception)
        {
            throw ServiceErrors.InvalidArgument(exception.Field.StartsWith("dataset", StringComparison.Ordinal) ? field + exception.Field["dataset".Length..] : exception.Field,
                $"{TextRules.Echo(dataset.ArtifactPath)}: {TextRules.Clip(exception.Message, 250)}");
        }

        if (table.Rows == 0)
        {
            throw ServiceErrors.InvalidArgument($"{field}.artifact_path", $"{TextRules.Echo(dataset.ArtifactPath)} has a header but no rows");
        }

        return (table, artifact.Sha256);
    }

    // The cached entry under the key, or the one read. A key is read once however many requests want it at the same
    // time, and reads of different keys do not wait for each other. The read belongs to no single request: it runs to
    // its end (at most LoadTimeout) for whoever still waits, so one caller giving up does not fail the others.
    private async Task<(IExplainable Model, IExplainer? Explainer)> CachedAsync(string key, Func<CancellationToken, Task<(IExplainable, IExplainer?)>> read, CancellationToken cancellationToken)
    {
        Task<(IExplainable, IExplainer?)> loading;
        lock (_cache)
        {
            if (Find(key) is { } known)
            {
                return known;
            }

            if (!_loading.TryGetValue(key, out loading!))
            {
                loading = _loading[key] = LoadAsync(key, read);
            }
        }

        return await loading.WaitAsync(cancellationToken);
    }

    private async Task<(IExplainable, IExplainer?)> LoadAsync(string key, Func<CancellationToken, Task<(IExplainable, IExplainer?)>> read)
    {
        await Task.Yield(); // the caller registers the load before it runs
        try
        {
            using var timeout = new CancellationTokenSource(LoadTimeout);
            await _reading.WaitAsync(timeout.Token);
            (IExplainable Model, IExplainer? Explainer) loaded;
            try
            {
                loaded = await read(timeout.Token);
            }
            finally
            {
                _reading.Release();
            }

            var (model, explainer) = loaded;
            lock (_cache)
            {
                _cache.AddFirst((key, model, explainer));
                while (_cache.Count > Cached)
                {
                    _cache.RemoveLast();
                }
            }

            return (model, explainer);
        }
        finally
        {
            lock (_cache)
            {
                _loading.Remove(key);
            }
        }
    }

    private (IExplainable, IExplainer?)? Find(string key)
    {
        for (var node = _cache.First; node is not null; node = node.Next)
        {
            if (node.Value.Key == key)
            {
                _cache.Remove(node);
                _cache.AddFirst(node);
                return (node.Value.Model, node.Value.Explainer);
            }
        }

        return null;
    }

    private async Task<(IExplainable, IExplainer?)> ReadAsync(ModelVersion version, CancellationToken cancellationToken)
    {
        await using var artifact = await artifacts.ReadAsync(version.RunId, version.ArtifactPath, "model", MaxModelBytes, cancellationToken);
        if (!string.Equals(artifact.Sha256, version.ArtifactSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw ServiceErrors.FailedPrecondition("ARTIFACT_ALTERED",
                $"The artifact of version {version.Version} of {TextRules.Echo(version.Model)} hashes to {artifact.Sha256}, not the {version.ArtifactSha256} the registry pinned.",
                "ARTIFACT_INTEGRITY", version.ArtifactUri);
        }

        var bytes = new byte[artifact.Content.Length];
        await artifact.Content.ReadExactlyAsync(bytes, cancellationToken);
        try
        {
            return await Task.Run(() =>
            {
                var model = ModelFiles.ReadModel(bytes);
                return (model, model.NeedsBackground ? null : model.Explainer());
            }, cancellationToken);
        }
        catch (Exception exception) when (exception is UnsupportedModelException or ModelFormatException)
        {
            throw ServiceErrors.FailedPrecondition("UNSUPPORTED_MODEL",
                $"Version {version.Version} of {TextRules.Echo(version.Model)} ({TextRules.Echo(version.ArtifactPath)}) cannot be explained: {exception.Message}.",
                "MODEL_FORMAT", $"{version.Model}/{version.Version}");
        }
    }
}

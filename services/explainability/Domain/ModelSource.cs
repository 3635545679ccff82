using Grpc.Core;
using ModelOps.Datasets;
using ModelOps.Explainability.Trees;
using ModelOps.Explainability.V1;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Explainability.Domain;

/// <summary>
/// Reads registered model versions: the registry names the run artifact and pins its SHA-256, tracking and the object
/// store give bytes that must hash to tracking's record and to the registry's pin, and only then is the file parsed.
/// Explainers are kept by content hash (the last <see cref="Cached"/>), so a version is read once while it is used.
/// </summary>
internal sealed class ModelSource(RegistryService.RegistryServiceClient registry, RunArtifacts artifacts)
{
    /// <summary>Largest model artifact read.</summary>
    public const long MaxModelBytes = 512L << 20;

    /// <summary>How many explainers are kept.</summary>
    public const int Cached = 4;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly LinkedList<(string Sha256, TreeExplainer Explainer)> _cache = new();
    private readonly SemaphoreSlim _loading = new(1, 1);

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

        lock (_cache)
        {
            if (Find(version.ArtifactSha256) is { } known)
            {
                return new ExplainedModel(reference, version.ArtifactSha256, known);
            }
        }

        // One model is read at a time: a burst of requests for a new version reads it once.
        await _loading.WaitAsync(cancellationToken);
        try
        {
            lock (_cache)
            {
                if (Find(version.ArtifactSha256) is { } known)
                {
                    return new ExplainedModel(reference, version.ArtifactSha256, known);
                }
            }

            var explainer = await ReadAsync(version, cancellationToken);
            lock (_cache)
            {
                _cache.AddFirst((version.ArtifactSha256, explainer));
                while (_cache.Count > Cached)
                {
                    _cache.RemoveLast();
                }
            }

            return new ExplainedModel(reference, version.ArtifactSha256, explainer);
        }
        finally
        {
            _loading.Release();
        }
    }

    private TreeExplainer? Find(string sha256)
    {
        for (var node = _cache.First; node is not null; node = node.Next)
        {
            if (node.Value.Sha256 == sha256)
            {
                _cache.Remove(node);
                _cache.AddFirst(node);
                return node.Value.Explainer;
            }
        }

        return null;
    }

    private async Task<TreeExplainer> ReadAsync(ModelVersion version, CancellationToken cancellationToken)
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
            return await Task.Run(() => new TreeExplainer(ModelFiles.Read(bytes)), cancellationToken);
        }
        catch (Exception exception) when (exception is UnsupportedModelException or ModelFormatException)
        {
            throw ServiceErrors.FailedPrecondition("UNSUPPORTED_MODEL",
                $"Version {version.Version} of {TextRules.Echo(version.Model)} ({TextRules.Echo(version.ArtifactPath)}) cannot be explained: {exception.Message}.",
                "MODEL_FORMAT", $"{version.Model}/{version.Version}");
        }
    }
}

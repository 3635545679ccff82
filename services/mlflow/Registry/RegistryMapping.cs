using System.Collections.Concurrent;
using Grpc.Core;
using ModelOps.Mlflow.Tracking;
using ModelOps.Mlflow.Wire;
using ModelOps.Registry.V1;
using V1 = ModelOps.Registry.V1;
using ModelOps.Tracking.V1;
using ModelVersion = ModelOps.Mlflow.Wire.ModelVersion;
using RegisteredModel = ModelOps.Mlflow.Wire.RegisteredModel;

namespace ModelOps.Mlflow.Registry;

/// <summary>
/// Registered models and versions between the registry's messages and MLflow's JSON. A version's source is the run
/// artifact it pins, as an <c>mlflow-artifacts:/</c> URI; a version pinned to an MLflow model directory's manifest
/// (<see cref="ModelManifest.FileName"/>) shows the directory, which is what MLflow clients download.
/// </summary>
public sealed class RegistryMapping(TrackingService.TrackingServiceClient tracking, RunExperiments runs, ExperimentIds ids)
{
    /// <summary>MLflow's stage names, by the registry's stages.</summary>
    public static string StageName(Stage stage) => stage switch
    {
        Stage.Staging => "Staging",
        Stage.Production => "Production",
        Stage.Archived => "Archived",
        _ => "None",
    };

    /// <summary>The registry's stage for MLflow's name, case-insensitively; 400 otherwise.</summary>
    public static Stage ParseStage(string? name) => name?.ToLowerInvariant() switch
    {
        "none" => Stage.None,
        "staging" => Stage.Staging,
        "production" => Stage.Production,
        "archived" => Stage.Archived,
        null or "" => throw MlflowError.Missing("stage"),
        _ => throw MlflowError.InvalidParameter($"Invalid Model Version stage: {name}. Value must be one of None, Staging, Production, Archived."),
    };

    /// <summary>The version number of MLflow's string; 400 unless a positive integer.</summary>
    public static int ParseVersion(string? version) =>
        string.IsNullOrEmpty(version) ? throw MlflowError.Missing("version")
        : int.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) && number > 0 ? number
        : throw MlflowError.InvalidParameter($"Parameter 'version' must be a positive integer, got '{version}'.");

    /// <summary>A version in MLflow's shape.</summary>
    public async Task<ModelVersion> ToMlflowAsync(V1.ModelVersion version, CancellationToken cancellationToken)
    {
        var created = ExperimentIds.Millis(version.CreatedAt);
        return new ModelVersion(
            version.Model, version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), created, created, version.CreatedBy,
            StageName(version.Stage), version.Description, await SourceAsync(version, cancellationToken), version.RunId, "READY", null, [],
            [.. version.Aliases]);
    }

    /// <summary>A registered model in MLflow's shape, with the latest version of each stage among <paramref name="versions"/>.</summary>
    public async Task<RegisteredModel> ToMlflowAsync(V1.RegisteredModel model, IReadOnlyList<V1.ModelVersion> versions, CancellationToken cancellationToken)
    {
        var latest = new List<ModelVersion>();
        foreach (var version in versions.GroupBy(v => v.Stage).Select(g => g.MaxBy(v => v.Version)!).OrderBy(v => v.Version))
        {
            latest.Add(await ToMlflowAsync(version, cancellationToken));
        }

        return new RegisteredModel(
            model.Name, ExperimentIds.Millis(model.CreatedAt), ExperimentIds.Millis(model.UpdatedAt ?? model.CreatedAt), model.CreatedBy, model.Description,
            latest, [.. model.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new KeyValue(t.Key, t.Value))],
            [.. model.Current.Where(a => a.Target.KindCase == Target.KindOneofCase.Alias && a.Until is null)
                .Select(a => new Alias(a.Target.Alias, a.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)))]);
    }

    /// <summary>Where MLflow clients download the version from: the pinned file, or the model directory its manifest covers.</summary>
    public async Task<string> SourceAsync(V1.ModelVersion version, CancellationToken cancellationToken)
    {
        var experiment = await runs.ExperimentOfAsync(tracking, version.RunId, cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        var path = ModelManifest.DirectoryOf(version.ArtifactPath) ?? version.ArtifactPath;
        // The proxy finds an artifact by its run; a run the caller cannot see still gets a well-formed URI.
        return $"{RunMapping.ArtifactUri(experiment.Length > 0 ? ids.ToMlflow(experiment) : "_", version.RunId)}/{path}";
    }

    /// <summary>
    /// The run and run-relative path a version's source names: <c>mlflow-artifacts:/&lt;experiment&gt;/&lt;run&gt;/artifacts/&lt;path&gt;</c>
    /// (what MLflow 2.x clients send) or <c>runs:/&lt;run&gt;/&lt;path&gt;</c>. MLflow 3's <c>models:/m-…</c> logged models are not served.
    /// </summary>
    public static (string RunId, string Path) ParseSource(string? source, string? runId)
    {
        if (string.IsNullOrEmpty(source))
        {
            throw MlflowError.Missing("source");
        }

        (string Run, string Path)? parsed = null;
        if (source.StartsWith("mlflow-artifacts:", StringComparison.Ordinal))
        {
            var rest = source["mlflow-artifacts:".Length..].TrimStart('/');
            // mlflow-artifacts://host/<path> carries a host before the path.
            if (source.StartsWith("mlflow-artifacts://", StringComparison.Ordinal) && rest.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0)
            {
                rest = rest[(slash + 1)..];
            }

            if (Artifacts.ArtifactPath.TryParse(rest, allowRoot: false) is { } location)
            {
                parsed = (location.RunId, location.Path);
            }
        }
        else if (source.StartsWith("runs:/", StringComparison.Ordinal))
        {
            var rest = source["runs:/".Length..].TrimStart('/');
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && Artifacts.ArtifactPath.TryParse($"0/{rest[..slash]}/artifacts/{rest[(slash + 1)..]}", allowRoot: false) is { } location)
            {
                parsed = (location.RunId, location.Path);
            }
        }

        if (parsed is not { } found)
        {
            throw MlflowError.InvalidParameter(
                $"Unsupported model version source '{source}': expected mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path> or runs:/<run_id>/<path> " +
                "(ModelOps registers versions from tracked runs' artifacts).");
        }

        if (!string.IsNullOrEmpty(runId) && runId != found.Run)
        {
            throw MlflowError.InvalidParameter($"The source names run {found.Run}, but run_id is {runId}.");
        }

        return found;
    }
}

/// <summary>Which experiment each run belongs to (it never changes), remembered.</summary>
public sealed class RunExperiments
{
    private readonly ConcurrentDictionary<string, string> _experiments = new(StringComparer.Ordinal);

    /// <summary>The experiment of <paramref name="runId"/>; empty when the caller cannot see the run.</summary>
    public async Task<string> ExperimentOfAsync(TrackingService.TrackingServiceClient tracking, string runId, CancellationToken cancellationToken)
    {
        if (_experiments.TryGetValue(runId, out var known))
        {
            return known;
        }

        try
        {
            var run = await tracking.GetRunAsync(new GetRunRequest { RunId = runId }, cancellationToken: cancellationToken);
            if (_experiments.Count > 100_000)
            {
                _experiments.Clear();
            }

            return _experiments[runId] = run.ExperimentId;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.PermissionDenied)
        {
            return "";
        }
    }
}

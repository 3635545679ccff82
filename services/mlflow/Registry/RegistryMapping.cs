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
        var run = await runs.OfAsync(tracking, version.RunId, cancellationToken);
        // A logged model's version names it as MLflow 3 does (models:/m-…); its run is the one it was logged from.
        return new ModelVersion(
            version.Model, version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), created, created, version.CreatedBy,
            StageName(version.Stage), version.Description,
            run.LoggedModel ? $"models:/{LoggedModels.IdOf(version.RunId)}" : await DownloadUriAsync(version, cancellationToken),
            run.LoggedModel ? run.SourceRun : version.RunId, "READY", null, [], [.. version.Aliases],
            run.LoggedModel ? LoggedModels.IdOf(version.RunId) : null);
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

    /// <summary>
    /// Where MLflow clients download the version from: the pinned file, or the model directory its manifest covers (a
    /// logged model's whole artifact root).
    /// </summary>
    public async Task<string> DownloadUriAsync(V1.ModelVersion version, CancellationToken cancellationToken)
    {
        var run = await runs.OfAsync(tracking, version.RunId, cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        var path = ModelManifest.DirectoryOf(version.ArtifactPath) ?? version.ArtifactPath;
        // The proxy finds an artifact by its run; a run the caller cannot see still gets a well-formed URI.
        var experiment = run.Experiment.Length > 0 ? ids.ToMlflow(run.Experiment) : "_";
        var root = run.LoggedModel ? LoggedModels.ArtifactUri(experiment, version.RunId) : RunMapping.ArtifactUri(experiment, version.RunId);
        return path.Length == 0 ? root : $"{root}/{path}";
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
        else if (source.StartsWith("models:/", StringComparison.Ordinal) && LoggedModels.RunOf(source["models:/".Length..].Trim('/')) is { } loggedRun)
        {
            // MLflow 3: a logged model, registered whole.
            parsed = (loggedRun, "");
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
                $"Unsupported model version source '{source}': expected mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>, runs:/<run_id>/<path> or models:/<logged model id> " +
                "(ModelOps registers versions from tracked runs' artifacts).");
        }

        if (!string.IsNullOrEmpty(runId) && runId != found.Run && !source.StartsWith("models:/", StringComparison.Ordinal))
        {
            throw MlflowError.InvalidParameter($"The source names run {found.Run}, but run_id is {runId}.");
        }

        return found;
    }
}

/// <summary>What a version's run is: its experiment, whether it backs a logged model, and that model's source run.</summary>
public sealed record RunFacts(string Experiment, bool LoggedModel, string SourceRun);

/// <summary>The facts of each run (they never change), remembered.</summary>
public sealed class RunExperiments
{
    private readonly ConcurrentDictionary<string, RunFacts> _runs = new(StringComparer.Ordinal);

    /// <summary>The facts of <paramref name="runId"/>; an empty experiment when the caller cannot see the run.</summary>
    public async Task<RunFacts> OfAsync(TrackingService.TrackingServiceClient tracking, string runId, CancellationToken cancellationToken)
    {
        if (_runs.TryGetValue(runId, out var known))
        {
            return known;
        }

        try
        {
            var run = await tracking.GetRunAsync(new GetRunRequest { RunId = runId }, cancellationToken: cancellationToken);
            if (_runs.Count > 100_000)
            {
                _runs.Clear();
            }

            return _runs[runId] = new RunFacts(run.ExperimentId, LoggedModels.IsLoggedModel(run), run.Tags.GetValueOrDefault(LoggedModels.SourceRunTag) ?? run.RunId);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.PermissionDenied)
        {
            return new RunFacts("", false, runId);
        }
    }
}

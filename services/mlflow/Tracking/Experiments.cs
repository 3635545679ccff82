using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;
using Experiment = ModelOps.Mlflow.Wire.Experiment;

namespace ModelOps.Mlflow.Tracking;

/// <summary>
/// MLflow's experiment ids over tracking's. MLflow clients that never choose an experiment log to experiment <c>"0"</c>,
/// named "Default"; tracking's ids are positive, so <c>"0"</c> stands for tracking's experiment named "Default",
/// created on first use. Its id is remembered once known (<see cref="DefaultExperiment"/>): a renamed Default
/// experiment stays <c>"0"</c>.
/// </summary>
public sealed class ExperimentIds(TrackingService.TrackingServiceClient tracking, DefaultExperiment state, TimeProvider clock)
{
    /// <summary>MLflow's default experiment id.</summary>
    public const string DefaultId = "0";

    /// <summary>Its name.</summary>
    public const string DefaultName = "Default";

    /// <summary>Tracking's id for MLflow's <paramref name="id"/>; null when it is "0" and no Default experiment exists (and <paramref name="create"/> is false or not allowed).</summary>
    public async Task<string?> ToTrackingAsync(string id, bool create, CancellationToken cancellationToken)
    {
        if (id != DefaultId)
        {
            return id;
        }

        if (await FindDefaultAsync(cancellationToken) is { } found)
        {
            return found;
        }

        if (!create)
        {
            return null;
        }

        try
        {
            var created = await tracking.CreateExperimentAsync(new CreateExperimentRequest { Name = DefaultName }, cancellationToken: cancellationToken);
            return state.Id = created.ExperimentId;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            state.LookAgainAt = default;
            return await FindDefaultAsync(cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.PermissionDenied)
        {
            // A reader cannot create it: for them it does not exist yet.
            return null;
        }
    }

    /// <summary>Tracking's id for MLflow's <paramref name="id"/>, or 404 RESOURCE_DOES_NOT_EXIST.</summary>
    public async Task<string> RequireAsync(string? id, bool create, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(id))
        {
            throw MlflowError.Missing("experiment_id");
        }

        return await ToTrackingAsync(id, create, cancellationToken) ?? throw MlflowError.NotFound($"No Experiment with id={id} exists");
    }

    /// <summary>MLflow's id for tracking's <paramref name="id"/>, once the Default experiment is known (see <see cref="KnowDefaultAsync"/>).</summary>
    public string ToMlflow(string id) => id == state.Id ? DefaultId : id;

    /// <summary>Learns the Default experiment's id, if it exists, before responses name experiments.</summary>
    public Task KnowDefaultAsync(CancellationToken cancellationToken) => FindDefaultAsync(cancellationToken);

    /// <summary>An experiment in MLflow's shape.</summary>
    public Experiment ToMlflow(ModelOps.Tracking.V1.Experiment experiment)
    {
        var id = ToMlflow(experiment.ExperimentId);
        return new Experiment(
            id, experiment.Name, $"mlflow-artifacts:/{id}", Lifecycle(experiment.LifecycleStage),
            Millis(experiment.UpdatedAt ?? experiment.CreatedAt), Millis(experiment.CreatedAt),
            [.. experiment.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new KeyValue(t.Key, t.Value))]);
    }

    /// <summary>MLflow's lifecycle stage name.</summary>
    public static string Lifecycle(LifecycleStage stage) => stage == LifecycleStage.Deleted ? "deleted" : "active";

    /// <summary>Milliseconds since the epoch; 0 for none.</summary>
    public static long Millis(Timestamp? timestamp) => timestamp is null ? 0 : timestamp.ToDateTimeOffset().ToUnixTimeMilliseconds();

    private async Task<string?> FindDefaultAsync(CancellationToken cancellationToken)
    {
        if (state.Id is { } known)
        {
            return known;
        }

        if (clock.GetUtcNow() < state.LookAgainAt)
        {
            return null;
        }

        try
        {
            var found = await tracking.GetExperimentAsync(new GetExperimentRequest { Name = DefaultName }, cancellationToken: cancellationToken);
            return state.Id = found.ExperimentId;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // Asked again after a while, not at every request, until someone creates it.
            state.LookAgainAt = clock.GetUtcNow().AddSeconds(5);
            return null;
        }
    }
}

/// <summary>What the service knows of the Default experiment: its tracking id once found, or when to look again.</summary>
public sealed class DefaultExperiment
{
    /// <summary>Tracking's id of the Default experiment, once known.</summary>
    public string? Id { get; set; }

    /// <summary>Until when a lookup that found nothing stands.</summary>
    public DateTimeOffset LookAgainAt { get; set; }
}

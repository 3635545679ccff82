using Grpc.Core;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.Data;
using ModelOps.Registry.Domain;
using ModelOps.Registry.Gates;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.Tracking.V1;

namespace ModelOps.Registry.Registration;

/// <summary>
/// Registers a model version from a finished tracking run: what tracking says of the run (its record, provenance,
/// metrics, artifacts) is fixed in the version, and the artifact's bytes are hashed again before they are pinned.
/// </summary>
public sealed partial class VersionRegistration(
    RegistryStore store, ArtifactReader artifacts, TrackingService.TrackingServiceClient tracking, ILogger<VersionRegistration> logger)
{
    /// <summary>Registers the version (its owner team or an admin); returns its number.</summary>
    public async Task<int> RegisterAsync(
        string model, string runId, string artifactPath, string description, string clientRequestId, Caller caller, CancellationToken cancellationToken)
    {
        var owner = (await store.GetModelAsync(model, cancellationToken) ?? throw ServiceErrors.NotFound("registered_model", model)).Owner;
        PromotionRules.CheckOwner(caller, owner, model);

        var run = await AskTrackingAsync(() => tracking.GetRunAsync(new GetRunRequest { RunId = runId }, cancellationToken: cancellationToken).ResponseAsync, runId);
        if (run.Status != RunStatus.Finished)
        {
            throw ServiceErrors.FailedPrecondition("RUN_NOT_FINISHED",
                $"Run {runId} is {run.Status.ToString().ToUpperInvariant()}: only a FINISHED run can become a model version.", "RUN_STATE", runId);
        }

        if (run.LifecycleStage == LifecycleStage.Deleted)
        {
            throw ServiceErrors.FailedPrecondition("RUN_DELETED", $"Run {runId} is deleted.", "RUN_STATE", runId);
        }

        var report = await AskTrackingAsync(() => tracking.GetProvenanceAsync(new GetProvenanceRequest { RunId = runId }, cancellationToken: cancellationToken).ResponseAsync, runId);
        var runArtifacts = new List<ArtifactRef>();
        var page = "";
        do
        {
            var listed = await AskTrackingAsync(() => tracking.ListArtifactsAsync(
                new ListArtifactsRequest { RunId = runId, PageSize = Paging.MaxPageSize, PageToken = page }, cancellationToken: cancellationToken).ResponseAsync, runId);
            runArtifacts.AddRange(listed.Artifacts.Select(a => new ArtifactRef(a.Path, a.Sha256, a.Size, a.Uri)));
            page = listed.NextPageToken;
        }
        while (page.Length > 0);

        var artifact = runArtifacts.FirstOrDefault(a => a.Path == artifactPath)
                       ?? throw ServiceErrors.InvalidArgument("artifact_path", $"run {runId} holds no artifact at {TextRules.Echo(artifactPath)}");

        // Pinning means checking: the bytes the store holds now must be the bytes tracking recorded. A read of another
        // length may have met the same content being written again (tracking stores identical files under one key, and
        // some S3 servers rewrite an object in place): read again before calling it altered.
        var (sha256, size) = await artifacts.HashAsync(artifact.Uri, cancellationToken);
        for (var attempt = 1; attempt <= RereadAttempts && size != artifact.Size; attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200 << attempt), cancellationToken);
            (sha256, size) = await artifacts.HashAsync(artifact.Uri, cancellationToken);
        }

        if (sha256 != artifact.Sha256 || size != artifact.Size)
        {
            throw ServiceErrors.FailedPrecondition("ARTIFACT_ALTERED",
                $"The object store's bytes of {TextRules.Echo(artifact.Path)} hash to {sha256} ({size} bytes), not the {artifact.Sha256} ({artifact.Size} bytes) tracking recorded: the version is not registered.",
                "ARTIFACT_INTEGRITY", artifact.Uri);
        }

        var snapshot = new VersionSnapshot(
            model, 0, Guid.Parse(run.RunId).ToString("N"), run.Author, artifact.Path, artifact.Uri, artifact.Sha256, artifact.Size, V1.Stage.None,
            report.Present.ToList(),
            run.LatestMetrics.GroupBy(m => m.Key).ToDictionary(g => g.Key, g => g.Last().Value),
            runArtifacts,
            run.RecordSha256);
        await using var tx = await store.BeginAsync(cancellationToken);
        var (version, created) = await RegistryStore.CreateVersionAsync(tx, snapshot, run.RecordSha256, RegistryStore.ProtoJson.Format(report),
            description, caller.Actor, clientRequestId, cancellationToken);
        if (created)
        {
            tx.Publish(new ModelVersionRegistered
            {
                Actor = caller.Actor,
                Model = model,
                Version = version,
                RunId = snapshot.RunId,
                RunRecordSha256 = run.RecordSha256,
                ArtifactPath = artifact.Path,
                ArtifactSha256 = artifact.Sha256,
                ArtifactUri = artifact.Uri,
            });
            await tx.CommitAsync(cancellationToken);
        }

        return version;
    }

    // Reads of an artifact whose length differs from tracking's record, after the first, before it counts as altered.
    private const int RereadAttempts = 3;

    private async Task<T> AskTrackingAsync<T>(Func<Task<T>> call, string runId)
    {
        try
        {
            return await call();
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            throw ServiceErrors.NotFound("run", runId);
        }
        catch (RpcException exception) when (exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            LogTrackingUnavailable(logger, exception.StatusCode);
            throw ServiceErrors.Unavailable("TRACKING_UNAVAILABLE", $"Tracking could not be asked about run {runId}; nothing was registered. Try again.");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tracking did not answer ({Status})")]
    private static partial void LogTrackingUnavailable(ILogger logger, StatusCode status);
}

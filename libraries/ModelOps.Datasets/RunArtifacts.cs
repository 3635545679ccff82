using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Minio;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.V1;

namespace ModelOps.Datasets;

/// <summary>
/// An artifact of a tracking run whose bytes were read from the object store and hash to what tracking recorded: a
/// local copy, deleted when disposed.
/// </summary>
/// <param name="RunId">The run.</param>
/// <param name="Path">The artifact's path in the run.</param>
/// <param name="Sha256">Its SHA-256 (lowercase hex), tracking's and the bytes'.</param>
/// <param name="Content">The bytes, seekable, at position 0.</param>
public sealed record VerifiedArtifact(string RunId, string Path, string Sha256, Stream Content) : IAsyncDisposable
{
    /// <summary>How reports name where their data came from.</summary>
    public string Source => $"tracking run {RunId}: {Path} (sha256 {Sha256})";

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Content.DisposeAsync();
}

/// <summary>
/// Reads datasets that are artifacts of tracking runs: tracking says where the bytes are and what they hash to, the
/// object store gives them, and they are copied to a temporary file while hashed. Bytes that do not hash to tracking's
/// record are refused (FAILED_PRECONDITION, ARTIFACT_ALTERED) before any parser runs on them, and an artifact larger
/// than the caller's bound is refused before it is read.
/// </summary>
public sealed class RunArtifacts
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // Copies of an artifact whose length differs from tracking's record, after the first, before it counts as altered.
    private const int RereadAttempts = 3;
    private readonly TrackingService.TrackingServiceClient _tracking;
    private readonly IMinioClient _minio;
    private readonly ObjectStoreConnection _store;

    internal RunArtifacts(TrackingService.TrackingServiceClient tracking, IMinioClient minio, ObjectStoreConnection store)
    {
        (_tracking, _minio, _store) = (tracking, minio, store);
    }

    /// <summary>Checks a run id (32 hex digits) as a field of a request.</summary>
    public static void CheckRunId(FieldViolations violations, string field, string runId) =>
        violations.Require(Regex.IsMatch(runId, "^[0-9a-fA-F]{32}$"), field, "must be a tracking run id (32 hex digits)");

    /// <summary>
    /// The artifact <paramref name="path"/> of run <paramref name="runId"/>, verified. Refusals name
    /// <paramref name="pathField"/>: NOT_FOUND for an unknown artifact, INVALID_ARGUMENT for a path tracking refuses or
    /// an artifact over <paramref name="maxBytes"/>, FAILED_PRECONDITION for bytes outside the artifact bucket or altered.
    /// </summary>
    public async Task<VerifiedArtifact> ReadAsync(string runId, string path, string pathField, long maxBytes, CancellationToken cancellationToken)
    {
        Artifact artifact;
        try
        {
            artifact = await _tracking.GetArtifactAsync(new GetArtifactRequest { RunId = runId, Path = path },
                deadline: DateTime.UtcNow.Add(Deadline), cancellationToken: cancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            throw ServiceErrors.NotFound("artifact", $"{runId}/{path}", $"Artifact {TextRules.Echo(path)} of run {runId} was not found.");
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.InvalidArgument)
        {
            // Tracking's rules for a path are stricter than a name's: its refusal is this request's.
            var reason = exception.GetRpcStatus()?.GetDetail<Google.Rpc.BadRequest>()?.FieldViolations.FirstOrDefault()?.Description ?? "is not a valid artifact path";
            throw ServiceErrors.InvalidArgument(pathField, reason);
        }

        if (artifact.Size > maxBytes)
        {
            throw ServiceErrors.InvalidArgument(pathField, $"{TextRules.Echo(path)} is {artifact.Size} bytes: at most {maxBytes} are read");
        }

        var key = _store.KeyOf(artifact.Uri)
                  ?? throw ServiceErrors.FailedPrecondition("NOT_IN_BUCKET", $"{artifact.Uri} is not in the artifact bucket {_store.Bucket}.",
                      "ARTIFACT_LOCATION", artifact.Uri);
        // A copy of another length may have met the same content being written again (tracking stores identical files
        // under one key, and some S3 servers rewrite an object in place): copy again before calling it altered.
        for (var attempt = 0; ; attempt++)
        {
            var file = new FileStream(System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"modelops-artifact-{Guid.NewGuid():N}"), FileMode.CreateNew,
                FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
            try
            {
                var (sha256, size) = await CopyAsync(key, file, maxBytes, cancellationToken);
                if (size != artifact.Size && attempt < RereadAttempts)
                {
                    await file.DisposeAsync();
                    await Task.Delay(TimeSpan.FromMilliseconds(200 << attempt), cancellationToken);
                    continue;
                }

                if (sha256 != artifact.Sha256 || size != artifact.Size)
                {
                    throw ServiceErrors.FailedPrecondition("ARTIFACT_ALTERED",
                        $"The object store's bytes of {TextRules.Echo(artifact.Path)} hash to {(size <= maxBytes ? sha256 : "more bytes than recorded")}, not the {artifact.Sha256} tracking recorded: nothing was stored.",
                        "ARTIFACT_INTEGRITY", artifact.Uri);
                }

                file.Position = 0;
                return new VerifiedArtifact(runId, artifact.Path, sha256, file);
            }
            catch
            {
                await file.DisposeAsync();
                throw;
            }
        }
    }

    // Copies the object into the file while hashing it; stops past maxBytes (the hash can then not match).
    private async Task<(string Sha256, long Size)> CopyAsync(string key, FileStream file, long maxBytes, CancellationToken cancellationToken)
    {
        await using var body = await _minio.OpenReadAsync(_store.Bucket, key, cancellationToken);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        int read;
        long total = 0;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            total += read;
            if (total > maxBytes)
            {
                break;
            }

            hash.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        return (Convert.ToHexStringLower(hash.GetHashAndReset()), total);
    }
}

/// <summary>Registration.</summary>
public static class RunArtifactsExtensions
{
    /// <summary>
    /// Registers <see cref="RunArtifacts"/>: tracking's client (service <c>tracking</c>, with this service's token) and
    /// the object store of <c>ConnectionStrings:artifacts</c>.
    /// </summary>
    public static IHostApplicationBuilder AddRunArtifacts(this IHostApplicationBuilder builder)
    {
        builder.AddObjectStore("artifacts");
        builder.Services.AddServiceGrpcClient<TrackingService.TrackingServiceClient>("tracking");
        builder.Services.AddSingleton(services => new RunArtifacts(
            services.GetRequiredService<TrackingService.TrackingServiceClient>(),
            services.GetRequiredService<IMinioClient>(),
            services.GetRequiredService<ObjectStoreConnection>()));
        return builder;
    }
}

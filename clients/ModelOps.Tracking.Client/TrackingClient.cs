using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Client;

/// <summary>
/// The typed client of the tracking service for .NET pipelines: run scopes with batched metrics, and artifact
/// transfer that streams in chunks and checks hashes on both ends.
/// </summary>
public sealed class TrackingClient
{
    /// <summary>Bytes per upload message (the service accepts up to 4 MiB).</summary>
    public const int ChunkBytes = 1 << 20;

    private readonly Metadata? _headers;

    /// <summary>A client over <paramref name="invoker"/>, sending <paramref name="headers"/> (the bearer token) with every call.</summary>
    public TrackingClient(CallInvoker invoker, Metadata? headers = null)
    {
        Raw = new TrackingService.TrackingServiceClient(invoker);
        _headers = headers;
    }

    /// <summary>A client over <paramref name="channel"/>, sending <paramref name="headers"/> with every call.</summary>
    public TrackingClient(ChannelBase channel, Metadata? headers = null)
        : this(channel.CreateCallInvoker(), headers)
    {
    }

    /// <summary>The generated client, for the calls this class does not wrap.</summary>
    public TrackingService.TrackingServiceClient Raw { get; }

    internal CallOptions Options(CancellationToken cancellationToken) => new(_headers, cancellationToken: cancellationToken);

    /// <summary>
    /// Starts a run in <paramref name="experimentId"/> and returns its scope. Call <see cref="RunScope.Complete"/> when
    /// the work succeeded: disposing a scope that was not completed ends the run FAILED, as a
    /// <c>TransactionScope</c> rolls back — so an exception that escapes the <c>await using</c> block fails the run.
    /// </summary>
    public async Task<RunScope> StartRunAsync(
        string experimentId, string? runName = null, IDictionary<string, string>? tags = null, Provenance? provenance = null,
        RunScopeOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = new StartRunRequest { ExperimentId = experimentId, RunName = runName ?? "", Provenance = provenance };
        if (tags is not null)
        {
            request.Tags.Add(tags);
        }

        var run = await Raw.StartRunAsync(request, Options(cancellationToken));
        return new RunScope(this, run, options ?? new RunScopeOptions());
    }

    /// <summary>
    /// Runs <paramref name="body"/> in a new run: FINISHED when it returns, FAILED (with the exception recorded in the
    /// tag <c>modelops.error</c>) when it throws; the exception is rethrown.
    /// </summary>
    public async Task<Run> RunAsync(
        string experimentId, Func<RunScope, Task> body, string? runName = null, Provenance? provenance = null,
        CancellationToken cancellationToken = default)
    {
        await using var run = await StartRunAsync(experimentId, runName, provenance: provenance, cancellationToken: cancellationToken);
        try
        {
            await body(run);
            run.Complete();
        }
        catch (Exception exception)
        {
            run.Fail(exception);
            throw;
        }

        return run.Run;
    }

    /// <summary>
    /// Uploads <paramref name="content"/> as the artifact <paramref name="path"/> of a run. A seekable stream is hashed
    /// first, so that the service can verify the bytes and skip storing content it already holds; the content then
    /// streams in chunks of <see cref="ChunkBytes"/>.
    /// </summary>
    public async Task<Artifact> UploadArtifactAsync(
        string runId, string path, Stream content, string? contentType = null, CancellationToken cancellationToken = default)
    {
        var header = new ArtifactHeader { RunId = runId, Path = path, ContentType = contentType ?? "" };
        if (content.CanSeek)
        {
            var start = content.Position;
            header.Sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(content, cancellationToken));
            header.Size = content.Position - start;
            content.Position = start;
        }

        using var call = Raw.UploadArtifact(Options(cancellationToken));
        // A refusal (bad path, ended run, size or hash mismatch) ends the call early: stop sending and read why.
        if (await call.TryWriteAsync(new UploadArtifactRequest { Header = header }, cancellationToken))
        {
            var buffer = new byte[ChunkBytes];
            int read;
            var open = true;
            while (open && (read = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken)) > 0)
            {
                open = await call.TryWriteAsync(new UploadArtifactRequest { Chunk = ByteString.CopyFrom(buffer, 0, read) }, cancellationToken);
            }

            if (open)
            {
                await call.TryCompleteAsync();
            }
        }

        return await call.ResponseAsync;
    }

    /// <summary>Uploads the file at <paramref name="file"/> as the artifact <paramref name="path"/> (its file name when null).</summary>
    public async Task<Artifact> UploadFileAsync(
        string runId, string file, string? path = null, string? contentType = null, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return await UploadArtifactAsync(runId, path ?? Path.GetFileName(file), stream, contentType, cancellationToken);
    }

    /// <summary>
    /// Downloads an artifact into <paramref name="destination"/>, hashing it as it arrives: a hash or size that does not
    /// match the artifact's record throws <see cref="InvalidDataException"/> (the service also checks, and ends the
    /// call with DATA_LOSS when its store returns other bytes).
    /// </summary>
    public async Task<Artifact> DownloadArtifactAsync(
        string runId, string path, Stream destination, CancellationToken cancellationToken = default)
    {
        using var call = Raw.DownloadArtifact(new DownloadArtifactRequest { RunId = runId, Path = path }, Options(cancellationToken));
        if (!await call.ResponseStream.MoveNext(cancellationToken) || call.ResponseStream.Current.PartCase != DownloadArtifactResponse.PartOneofCase.Artifact)
        {
            throw new InvalidDataException("The service did not start the download with the artifact's record.");
        }

        var artifact = call.ResponseStream.Current.Artifact;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            var chunk = call.ResponseStream.Current.Chunk.Memory;
            hash.AppendData(chunk.Span);
            size += chunk.Length;
            await destination.WriteAsync(chunk, cancellationToken);
        }

        var sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (size != artifact.Size || sha256 != artifact.Sha256)
        {
            throw new InvalidDataException(
                $"{path}: received {size} bytes hashing to {sha256}; the record says {artifact.Size} bytes, {artifact.Sha256}.");
        }

        return artifact;
    }
}

using System.Globalization;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Minio.Exceptions;
using ModelOps.Contracts.Tracking.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.Tracking.Artifacts;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.V1;
using static ModelOps.Tracking.Grpc.TrackingRequests;

namespace ModelOps.Tracking.Grpc;

/// <summary>The streaming part of the tracking API: high-rate metrics and artifacts.</summary>
public sealed partial class TrackingService
{
    /// <summary>The trailer that tells how many metrics a <c>LogMetrics</c> stream wrote before it failed.</summary>
    public const string AcceptedMetricsTrailer = "accepted-metrics";

    private const int MaxContentTypeLength = 255;

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<LogMetricsResponse> LogMetrics(IAsyncStreamReader<LogMetricsRequest> requestStream, ServerCallContext context)
    {
        var actor = context.GetCaller().Actor;
        var response = new LogMetricsResponse();
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var request = requestStream.Current;
                var field = $"messages[{response.Messages}]";
                response.Messages++;
                var violations = new FieldViolations();
                var runId = RunId(violations, request.RunId, $"{field}.run_id");
                Metrics(violations, $"{field}.metrics", request.Metrics);
                var batchId = RequestId(violations, $"{field}.batch_id", request.BatchId);
                violations.ThrowIfAny($"Message {response.Messages - 1} was not written; the {response.AcceptedMetrics} metrics before it were.");
                if (request.Metrics.Count == 0)
                {
                    continue;
                }

                var batch = new LogBatchRequest { RunId = request.RunId, Metrics = { request.Metrics } };
                if (await store.LogBatchAsync(runId, batch, actor, batchId, context.CancellationToken))
                {
                    response.AcceptedMetrics += request.Metrics.Count;
                }
                else
                {
                    response.Duplicates++;
                }
            }
        }
        catch (Exception)
        {
            // Whatever ended the stream, the client learns how much of it was written.
            context.ResponseTrailers.Add(AcceptedMetricsTrailer, response.AcceptedMetrics.ToString(CultureInfo.InvariantCulture));
            throw;
        }

        return response;
    }

    /// <inheritdoc />
    /// <remarks>
    /// A refused upload reads (and drops) what the client is still sending, for up to <see cref="DrainBytes"/> bytes or
    /// <see cref="DrainTime"/>, before it answers: a call answered while its request body is unread is reset by the
    /// server, and a client still writing may then lose the answer (it sees INTERNAL "STREAM_CLOSED" instead of the
    /// field violations). Beyond those bounds the answer goes out anyway.
    /// </remarks>
    [Authorize(Roles = Writers)]
    public override async Task<Artifact> UploadArtifact(IAsyncStreamReader<UploadArtifactRequest> requestStream, ServerCallContext context)
    {
        try
        {
            return await UploadAsync(requestStream, context);
        }
        catch (ServiceException) when (!context.CancellationToken.IsCancellationRequested)
        {
            await DrainAsync(requestStream, context.CancellationToken);
            throw;
        }
    }

    /// <summary>Most bytes a refused upload reads on before it answers.</summary>
    public const long DrainBytes = 64L << 20;

    /// <summary>Longest a refused upload reads on before it answers.</summary>
    public static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(2);

    private static async Task DrainAsync(IAsyncStreamReader<UploadArtifactRequest> requestStream, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(DrainTime);
        long drained = 0;
        try
        {
            while (drained < DrainBytes && await requestStream.MoveNext(bounded.Token))
            {
                drained += requestStream.Current.CalculateSize();
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or InvalidOperationException or RpcException)
        {
            // The client stopped, or the bounds ran out: answer now.
        }
    }

    private async Task<Artifact> UploadAsync(IAsyncStreamReader<UploadArtifactRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.PartCase != UploadArtifactRequest.PartOneofCase.Header)
        {
            throw ServiceErrors.InvalidArgument("header", "the first message must be the header (run_id, path, ...)");
        }

        var header = requestStream.Current.Header;
        var violations = new FieldViolations();
        var runId = RunId(violations, header.RunId, "header.run_id");
        if (ArtifactPaths.Problem(header.Path) is { } problem)
        {
            violations.Add("header.path", problem);
        }

        var path = ArtifactPaths.Normalise(header.Path);
        TextRules.Name(violations, "header.content_type", header.ContentType, MaxContentTypeLength, required: false);
        var declared = header.Sha256.Length > 0 ? header.Sha256.ToLowerInvariant() : null;
        violations.Require(declared is null || (declared.Length == 64 && declared.All(char.IsAsciiHexDigitLower)),
            "header.sha256", "must be 64 hex digits when given");
        var maxBytes = options.Value.MaxArtifactBytes;
        violations.Require(!header.HasSize || header.Size >= 0, "header.size", "must not be negative");
        violations.Require(!header.HasSize || header.Size <= maxBytes, "header.size", $"exceeds the limit of {maxBytes} bytes (Tracking:MaxArtifactBytes)");
        violations.ThrowIfAny("Nothing was stored.");

        await store.CheckArtifactTargetAsync(runId, path, declared, cancellationToken);
        using var content = new ContentStream(async token =>
        {
            if (!await requestStream.MoveNext(token))
            {
                return null;
            }

            return requestStream.Current.PartCase == UploadArtifactRequest.PartOneofCase.Chunk
                ? requestStream.Current.Chunk.Memory
                : throw new ContentRejectedException("header", "only the first message may be a header");
        }, maxBytes, declared, header.HasSize ? header.Size : null);

        StoredBlob blob;
        try
        {
            blob = await blobs.PutAsync(content, declared, cancellationToken);
        }
        catch (ContentRejectedException exception)
        {
            throw ServiceErrors.InvalidArgument(exception.Field, exception.Message + ". Nothing was recorded.");
        }

        var actor = context.GetCaller().Actor;
        var artifact = new Artifact
        {
            RunId = RunIds.Format(runId),
            Path = path,
            Sha256 = blob.Sha256,
            Size = blob.Size,
            ContentType = header.ContentType.Length > 0 ? header.ContentType : "application/octet-stream",
            CreatedBy = actor,
        };
        var uri = blobs.Uri(blob.Sha256);
        await using var tx = await store.BeginAsync(cancellationToken);
        var (recorded, experimentId, created) = await store.RecordArtifactAsync(tx, artifact, cancellationToken);
        if (created)
        {
            tx.Publish(new ArtifactLogged
            {
                Actor = actor,
                RunId = artifact.RunId,
                ExperimentId = experimentId,
                Path = artifact.Path,
                Sha256 = artifact.Sha256,
                Size = artifact.Size,
                Uri = uri,
            });
            await tx.CommitAsync(cancellationToken);
        }

        recorded.Uri = uri;
        return recorded;
    }

    /// <inheritdoc />
    public override async Task DownloadArtifact(
        DownloadArtifactRequest request, IServerStreamWriter<DownloadArtifactResponse> responseStream, ServerCallContext context)
    {
        var artifact = await FindArtifactAsync(request.RunId, request.Path, context.CancellationToken);
        await responseStream.WriteAsync(new DownloadArtifactResponse { Artifact = artifact }, context.CancellationToken);
        StoredBlob stored;
        try
        {
            stored = await blobs.ReadAsync(artifact.Sha256,
                chunk => responseStream.WriteAsync(new DownloadArtifactResponse { Chunk = ByteString.CopyFrom(chunk.Span) }, context.CancellationToken),
                context.CancellationToken);
        }
        catch (ObjectNotFoundException)
        {
            throw ServiceErrors.DataLoss("CONTENT_MISSING", $"The object store no longer holds the content of {TextRules.Echo(artifact.Path)} ({artifact.Uri}).");
        }

        if (stored.Sha256 != artifact.Sha256 || stored.Size != artifact.Size)
        {
            throw ServiceErrors.DataLoss("CONTENT_ALTERED",
                $"The stored content of {TextRules.Echo(artifact.Path)} ({stored.Size} bytes) hashes to {stored.Sha256}, not to the recorded {artifact.Sha256}: it was altered or damaged. Discard what was received.",
                new Dictionary<string, string> { ["recorded_sha256"] = artifact.Sha256, ["actual_sha256"] = stored.Sha256 });
        }
    }

    /// <inheritdoc />
    public override Task<Artifact> GetArtifact(GetArtifactRequest request, ServerCallContext context) =>
        FindArtifactAsync(request.RunId, request.Path, context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListArtifactsResponse> ListArtifacts(ListArtifactsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(violations, request.RunId);
        if (ArtifactPaths.PrefixProblem(request.PathPrefix) is { } problem)
        {
            violations.Add("path_prefix", problem);
        }

        var prefix = ArtifactPaths.Normalise(request.PathPrefix);

        var pageSize = Paging.PageSize(request.PageSize, violations);
        var after = "";
        if (request.PageToken.Length > 0)
        {
            try
            {
                var token = Encoding.UTF8.GetString(Convert.FromBase64String(request.PageToken)).Split('\u001f', 3);
                after = token.Length == 3 && token[0] == RunIds.Format(runId) && token[1] == prefix ? token[2] : throw new FormatException();
            }
            catch (FormatException)
            {
                violations.Add("page_token", "is not a token this listing returned");
            }
        }

        violations.ThrowIfAny();
        await RequireRunAsync(runId, context.CancellationToken);
        var artifacts = await store.ListArtifactsAsync(runId, prefix, after, pageSize + 1, context.CancellationToken);
        var response = new ListArtifactsResponse();
        foreach (var artifact in artifacts.Take(pageSize))
        {
            artifact.Uri = blobs.Uri(artifact.Sha256);
            response.Artifacts.Add(artifact);
        }

        if (artifacts.Count > pageSize)
        {
            response.NextPageToken = Convert.ToBase64String(Encoding.UTF8.GetBytes(
                $"{RunIds.Format(runId)}\u001f{prefix}\u001f{response.Artifacts[^1].Path}"));
        }

        return response;
    }

    private async Task<Artifact> FindArtifactAsync(string runIdText, string path, CancellationToken cancellationToken)
    {
        var violations = new FieldViolations();
        var runId = RunId(violations, runIdText);
        if (ArtifactPaths.Problem(path) is { } problem)
        {
            violations.Add("path", problem);
        }

        violations.ThrowIfAny();
        path = ArtifactPaths.Normalise(path);
        var artifact = await store.GetArtifactAsync(runId, path, cancellationToken);
        if (artifact is null)
        {
            await RequireRunAsync(runId, cancellationToken);
            throw ServiceErrors.NotFound("artifact", path, $"Artifact {TextRules.Echo(path)} of run {RunIds.Format(runId)} was not found.");
        }

        artifact.Uri = blobs.Uri(artifact.Sha256);
        return artifact;
    }
}

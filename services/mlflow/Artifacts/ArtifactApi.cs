using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;
using ModelOps.Client;
using ModelOps.Mlflow.Tracking;
using ModelOps.Mlflow.Wire;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Artifacts;

/// <summary>
/// MLflow's artifact proxy (<c>/api/2.0/mlflow-artifacts/artifacts/&lt;experiment&gt;/&lt;run&gt;/artifacts/&lt;path&gt;</c>)
/// and the run artifact listing, over tracking's content-addressed artifacts. Every URI handed to clients is
/// <c>mlflow-artifacts:/…</c>, so MLflow clients upload through here (hashed on receipt, write-once) and never to a
/// store of their own.
/// </summary>
public static class ArtifactApi
{
    /// <summary>Bytes per message streamed to tracking (its limit is 4 MiB).</summary>
    public const int ChunkBytes = 1024 * 1024;

    /// <summary>Maps the listing under <paramref name="api"/> (<c>/api/2.0/mlflow</c>) and the proxy under <paramref name="proxy"/> (<c>/api/2.0/mlflow-artifacts</c>).</summary>
    public static void Map(IEndpointRouteBuilder api, IEndpointRouteBuilder proxy)
    {
        api.Map<ListArtifactsIn>(["GET"], "/artifacts/list", ListRunAsync);
        proxy.Map<ListArtifactsIn>(["GET"], "/artifacts", ListProxyAsync);
        proxy.MapPut("/artifacts/{**path}", UploadAsync);
        proxy.MapGet("/artifacts/{**path}", DownloadAsync);
        proxy.MapDelete("/artifacts/{**path}", context => throw new MlflowError("PERMISSION_DENIED", 403,
            $"Artifacts are immutable in ModelOps: {ProxyPath(context.Request.Path)} cannot be deleted."));
        proxy.MapPost("/mpu/{action}/{**path}", _ => throw new MlflowError("NOT_IMPLEMENTED", 501,
            "Multipart upload is not supported for the current artifact repository: upload each file with one PUT."));
    }

    private static async Task<object> ListRunAsync(ListArtifactsIn request, HttpContext context, CancellationToken cancellationToken)
    {
        var (tracking, ids) = RunApi.Services(context);
        var run = await RunApi.GetRunAsync(tracking, string.IsNullOrEmpty(request.RunId) ? request.RunUuid : request.RunId, cancellationToken);
        var directory = DirectoryOf(request.Path);
        var files = await ChildrenAsync(tracking, run.RunId, directory, cancellationToken);
        await ids.KnowDefaultAsync(cancellationToken);
        var (page, next) = Paging.Slice(files, request.PageToken, 1000);
        return new { root_uri = RunMapping.ArtifactUri(ids.ToMlflow(run.ExperimentId), run.RunId), files = page, next_page_token = next };
    }

    /// <summary>The proxy's listing: basenames, and an empty list for a file or a missing directory (the client walks by it).</summary>
    private static async Task<object> ListProxyAsync(ListArtifactsIn request, HttpContext context, CancellationToken cancellationToken)
    {
        if (ArtifactPath.TryParse(request.Path ?? "", allowRoot: true) is not { } location)
        {
            return new { files = Array.Empty<object>() };
        }

        var (tracking, _) = RunApi.Services(context);
        try
        {
            var files = await ChildrenAsync(tracking, location.RunId, location.Path, cancellationToken);
            return new { files = files.Select(f => f with { Path = f.Path[(f.Path.LastIndexOf('/') + 1)..] }).ToList() };
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return new { files = Array.Empty<object>() };
        }
    }

    private static async Task UploadAsync(HttpContext context)
    {
        var location = Required(context);
        // The body is streamed, never buffered; tracking bounds an artifact's size (Tracking:MaxArtifactBytes).
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        var cancellationToken = context.RequestAborted;
        var tracking = RunApi.Services(context).Tracking;
        var header = new ArtifactHeader
        {
            RunId = location.RunId,
            Path = location.Path,
            ContentType = context.Request.ContentType is { Length: > 0 and <= 255 } type ? type : "application/octet-stream",
        };
        if (context.Request.ContentLength is { } length)
        {
            header.Size = length;
        }

        using var call = tracking.UploadArtifact(cancellationToken: cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new UploadArtifactRequest { Header = header }, cancellationToken);
            var buffer = new byte[ChunkBytes];
            int read;
            while ((read = await context.Request.Body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken)) > 0)
            {
                await call.RequestStream.WriteAsync(new UploadArtifactRequest { Chunk = ByteString.CopyFrom(buffer, 0, read) }, cancellationToken);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            // The service ended the call before every byte was sent (a size over its bound, a run that ended): its
            // status, read below, says why.
        }

        try
        {
            await call.ResponseAsync;
        }
        catch (RpcException e) when (e.Reason() == "WRITE_ONCE")
        {
            // The same bytes again are a retry and succeed; other bytes at a recorded path are a conflict.
            throw new MlflowError("RESOURCE_CONFLICT", 409, $"{location.Path} of run {location.RunId} holds other content already: artifacts are write-once.");
        }

        await MlflowJson.WriteAsync(context.Response, Routes.Empty, cancellationToken);
    }

    private static async Task DownloadAsync(HttpContext context)
    {
        var location = Required(context);
        var cancellationToken = context.RequestAborted;
        using var call = RunApi.Services(context).Tracking.DownloadArtifact(new DownloadArtifactRequest { RunId = location.RunId, Path = location.Path }, cancellationToken: cancellationToken);
        if (!await call.ResponseStream.MoveNext(cancellationToken) || call.ResponseStream.Current.Artifact is not { } artifact)
        {
            throw new MlflowError("INTERNAL_ERROR", 500, "The artifact's record did not arrive.");
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = artifact.ContentType.Length > 0 ? artifact.ContentType : "application/octet-stream";
        response.ContentLength = artifact.Size;
        response.Headers.ContentDisposition = new System.Net.Mime.ContentDisposition
        {
            FileName = artifact.Path[(artifact.Path.LastIndexOf('/') + 1)..],
            DispositionType = "attachment",
        }.ToString();
        response.Headers["X-Content-Type-Options"] = "nosniff";
        try
        {
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                var chunk = call.ResponseStream.Current.Chunk;
                await response.Body.WriteAsync(chunk.Memory, cancellationToken);
            }
        }
        catch (RpcException) when (response.HasStarted)
        {
            // Bytes that failed their hash on the way out (DATA_LOSS) or a broken stream: the client must see a failed
            // download, not a short file, so the connection is cut.
            context.Abort();
        }
    }

    private static ArtifactPath Required(HttpContext context)
    {
        var path = ProxyPath(context.Request.Path);
        return ArtifactPath.TryParse(path, allowRoot: false)
               ?? throw MlflowError.InvalidParameter(
                   $"'{path}' is not a run artifact path: expected <experiment_id>/<run_id>/artifacts/<path>, with no '.', '..' or empty segment.");
    }

    private static string ProxyPath(PathString path)
    {
        var text = path.Value ?? "";
        var marker = text.IndexOf("/artifacts/", StringComparison.Ordinal);
        return marker < 0 ? "" : text[(marker + "/artifacts/".Length)..];
    }

    private static string DirectoryOf(string? path) => (path ?? "").Trim('/');

    /// <summary>The files and directories directly under <paramref name="directory"/>, with run-relative paths.</summary>
    private static async Task<List<Wire.ArtifactFile>> ChildrenAsync(
        TrackingService.TrackingServiceClient tracking, string runId, string directory, CancellationToken cancellationToken)
    {
        var prefix = directory.Length == 0 ? "" : directory + "/";
        var files = new List<Wire.ArtifactFile>();
        var directories = new SortedSet<string>(StringComparer.Ordinal);
        var token = "";
        do
        {
            var page = await tracking.ListArtifactsAsync(
                new ListArtifactsRequest { RunId = runId, PathPrefix = prefix, PageSize = ServiceDefaults.Grpc.Paging.MaxPageSize, PageToken = token },
                cancellationToken: cancellationToken);
            foreach (var artifact in page.Artifacts)
            {
                var rest = artifact.Path[prefix.Length..];
                var slash = rest.IndexOf('/', StringComparison.Ordinal);
                if (slash < 0)
                {
                    files.Add(new Wire.ArtifactFile(artifact.Path, false, artifact.Size));
                }
                else
                {
                    directories.Add(prefix + rest[..slash]);
                }
            }

            token = page.NextPageToken;
        }
        while (token.Length > 0);

        return [.. directories.Select(d => new Wire.ArtifactFile(d, true, null)), .. files];
    }
}

/// <summary>
/// A run's artifact as the proxy names it: <c>&lt;experiment&gt;/&lt;run&gt;/artifacts/&lt;path&gt;</c>, or a logged model's,
/// <c>&lt;experiment&gt;/models/m-&lt;run&gt;/artifacts/&lt;path&gt;</c> (a logged model is a run, see <see cref="Tracking.LoggedModels"/>).
/// </summary>
public sealed record ArtifactPath(string ExperimentId, string RunId, string Path)
{
    /// <summary>
    /// The location <paramref name="text"/> names, or null. Refused: '.', '..' and empty segments, backslashes, NUL,
    /// and an encoded slash (<c>%2F</c>, which the server would otherwise not see as a separator).
    /// </summary>
    public static ArtifactPath? TryParse(string text, bool allowRoot)
    {
        if (text.Contains('\\', StringComparison.Ordinal) || text.Contains('\0', StringComparison.Ordinal) ||
            text.Contains("%2f", StringComparison.OrdinalIgnoreCase) || text.Contains("%5c", StringComparison.OrdinalIgnoreCase) ||
            text.StartsWith('/'))
        {
            return null;
        }

        var segments = text.TrimEnd('/').Split('/');
        if (segments.Any(s => s is "" or "." or ".."))
        {
            return null;
        }

        if (segments.Length >= 4 && segments[1] == "models" && segments[3] == "artifacts" && Tracking.LoggedModels.RunOf(segments[2]) is { } run)
        {
            return !allowRoot && segments.Length < 5 ? null : new ArtifactPath(segments[0], run, string.Join('/', segments.Skip(4)));
        }

        if (segments.Length < 3 || segments[2] != "artifacts" || (!allowRoot && segments.Length < 4))
        {
            return null;
        }

        return new ArtifactPath(segments[0], segments[1], string.Join('/', segments.Skip(3)));
    }
}

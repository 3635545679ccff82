using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Registry;

/// <summary>
/// The manifest of an MLflow model directory: every file under a directory holding an <c>MLmodel</c> file, with its
/// SHA-256 and size, written beside it as <see cref="FileName"/> when the run ends through this API. A model version
/// pins one artifact; pinning the manifest pins every file of the model (each one write-once in tracking), which is how a
/// directory-shaped MLflow model becomes a ModelOps version.
/// </summary>
public static class ModelManifest
{
    /// <summary>The manifest's file name.</summary>
    public const string FileName = "modelops-manifest.json";

    /// <summary>The file that marks a directory as an MLflow model.</summary>
    public const string ModelFile = "MLmodel";

    /// <summary>The format tag inside every manifest.</summary>
    public const string Format = "modelops.mlflow-model-manifest/v1";

    /// <summary>The model directory a manifest path covers, or null when <paramref name="path"/> is not a manifest.</summary>
    public static string? DirectoryOf(string path) =>
        path == FileName ? "" : path.EndsWith("/" + FileName, StringComparison.Ordinal) ? path[..^(FileName.Length + 1)] : null;

    /// <summary>The manifest's bytes for the files of one model directory (paths relative to it, in ordinal order).</summary>
    public static byte[] Build(IEnumerable<Artifact> files, string directory)
    {
        var prefix = directory.Length == 0 ? "" : directory + "/";
        var entries = files
            .Where(f => f.Path.StartsWith(prefix, StringComparison.Ordinal) && f.Path != prefix + FileName)
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .Select(f => new { path = f.Path[prefix.Length..], sha256 = f.Sha256, size = f.Size });
        return Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { format = Format, files = entries }));
    }

    /// <summary>Writes the manifest of every MLflow model directory of a running run (again, harmlessly, on a retry).</summary>
    public static async Task WriteAsync(TrackingService.TrackingServiceClient tracking, string runId, CancellationToken cancellationToken)
    {
        var artifacts = new List<Artifact>();
        var token = "";
        do
        {
            var page = await tracking.ListArtifactsAsync(
                new ListArtifactsRequest { RunId = runId, PageSize = ServiceDefaults.Grpc.Paging.MaxPageSize, PageToken = token }, cancellationToken: cancellationToken);
            artifacts.AddRange(page.Artifacts);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        var directories = artifacts
            .Where(a => a.Path == ModelFile || a.Path.EndsWith("/" + ModelFile, StringComparison.Ordinal))
            .Select(a => a.Path.Length == ModelFile.Length ? "" : a.Path[..^(ModelFile.Length + 1)]);
        foreach (var directory in directories)
        {
            var bytes = Build(artifacts, directory);
            using var call = tracking.UploadArtifact(cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new UploadArtifactRequest
            {
                Header = new ArtifactHeader
                {
                    RunId = runId,
                    Path = directory.Length == 0 ? FileName : $"{directory}/{FileName}",
                    ContentType = "application/json",
                    Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                    Size = bytes.Length,
                },
            }, cancellationToken);
            foreach (var chunk in bytes.Chunk(Artifacts.ArtifactApi.ChunkBytes))
            {
                await call.RequestStream.WriteAsync(new UploadArtifactRequest { Chunk = ByteString.CopyFrom(chunk) }, cancellationToken);
            }

            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }
    }
}

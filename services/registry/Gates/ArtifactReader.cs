using System.Buffers;
using System.Security.Cryptography;
using Minio;
using ModelOps.Registry.Domain;
using ModelOps.ServiceDefaults.ObjectStore;

namespace ModelOps.Registry.Gates;

/// <summary>
/// Reads the bytes tracking stored for a run's artifacts, always checking them against their SHA-256. Nothing is cached:
/// what a decision states of the bytes was measured for that decision.
/// </summary>
public sealed class ArtifactReader(IMinioClient minio, ObjectStoreConnection connection)
{
    /// <summary>Hashes the object at <paramref name="uri"/> as it streams: its SHA-256 (hex) and size.</summary>
    public async Task<(string Sha256, long Size)> HashAsync(string uri, CancellationToken cancellationToken)
    {
        await using var body = await minio.OpenReadAsync(connection.Bucket, Key(uri), cancellationToken);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        long size = 0;
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                size += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (Convert.ToHexStringLower(hash.GetHashAndReset()), size);
    }

    /// <summary>The bytes of a small artifact (at most <paramref name="maxBytes"/>), verified against its recorded hash.</summary>
    public async Task<byte[]> ReadSmallAsync(ArtifactRef artifact, int maxBytes, CancellationToken cancellationToken)
    {
        if (artifact.Size > maxBytes)
        {
            throw new InvalidDataException($"{artifact.Path} is {artifact.Size} bytes: more than the {maxBytes} read as evidence");
        }

        await using var body = await minio.OpenReadAsync(connection.Bucket, Key(artifact.Uri), cancellationToken);
        var bytes = new byte[artifact.Size];
        await body.ReadExactlyAsync(bytes, cancellationToken);
        if (await body.ReadAsync(new byte[1], cancellationToken) != 0 || Convert.ToHexStringLower(SHA256.HashData(bytes)) != artifact.Sha256)
        {
            throw new InvalidDataException($"the object store's bytes of {artifact.Path} do not hash to its recorded SHA-256 {artifact.Sha256}");
        }

        return bytes;
    }

    // Tracking's URIs name this deployment's artifact bucket; another bucket is not one the registry may read.
    private string Key(string uri) =>
        connection.KeyOf(uri) ?? throw new InvalidDataException($"{uri} is not in the artifact bucket {connection.Bucket}");
}

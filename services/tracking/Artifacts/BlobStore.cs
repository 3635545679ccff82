using System.Buffers;
using System.Security.Cryptography;
using Minio;
using Minio.DataModel.Args;
using Minio.Exceptions;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.ObjectStore;

namespace ModelOps.Tracking.Artifacts;

/// <summary>What the store holds for some content: its hash and size.</summary>
public sealed record StoredBlob(string Sha256, long Size);

/// <summary>
/// Content-addressed blobs in the object store: the bytes of a file live under their SHA-256, once, however many
/// runs log them.
/// </summary>
public sealed class BlobStore(IMinioClient minio, ObjectStoreConnection connection, ILogger<BlobStore> logger)
{
    // Copies of staged content to its final key before the store counts as failing.
    private const int MoveAttempts = 4;

    /// <summary>Bytes per message when streaming content to a client.</summary>
    public const int ChunkBytes = 1 << 20;

    /// <summary>The object key of the content with this hash.</summary>
    public static string Key(string sha256) => $"blobs/sha256/{sha256[..2]}/{sha256}";

    /// <summary>The URI of the content with this hash.</summary>
    public string Uri(string sha256) => connection.UriOf(Key(sha256));

    /// <summary>
    /// Whether the store holds content with this hash, checked: the stored bytes are read and hashed, so content altered
    /// in the store behind the service's back is never taken for the real thing (and is replaced by an honest upload).
    /// </summary>
    public async Task<bool> HoldsIntactAsync(string sha256, CancellationToken cancellationToken)
    {
        try
        {
            var stored = await ReadAsync(sha256, _ => Task.CompletedTask, cancellationToken);
            if (stored.Sha256 == sha256)
            {
                return true;
            }

            logger.LogWarning("The stored content under {Sha256} hashes to {Actual}: it was altered in the object store and is replaced", sha256, stored.Sha256);
            return false;
        }
        catch (ObjectNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Stores <paramref name="content"/> under its hash. With a declared hash the bytes go straight to their final key
    /// (or, when the store holds intact content of that hash already, are only read and verified); the object is
    /// completed only if the content verifies, since <see cref="ContentStream"/> fails the final read otherwise.
    /// Without one they go to a staging key first and are moved to their final key once their hash is known (a second
    /// pass: clients that can hash first should declare).
    /// </summary>
    public async Task<StoredBlob> PutAsync(ContentStream content, string? declaredSha256, CancellationToken cancellationToken)
    {
        if (declaredSha256 is not null)
        {
            if (await HoldsIntactAsync(declaredSha256, cancellationToken))
            {
                await content.DrainAsync(cancellationToken);
                return new StoredBlob(content.Sha256!, content.Length);
            }

            await UploadAsync(Key(declaredSha256), content, cancellationToken);
            // Read back before the content counts as stored (see the staged path below): the bytes are gone from the
            // request by now, so a short object is the caller's to upload again.
            if (!await HoldsIntactAsync(declaredSha256, cancellationToken))
            {
                throw ServiceErrors.Unavailable("OBJECT_STORE_INCONSISTENT",
                    "The object store did not keep the uploaded content intact; nothing was recorded. Upload it again.");
            }

            return new StoredBlob(content.Sha256!, content.Length);
        }

        var staging = $"staging/{Guid.NewGuid():N}";
        try
        {
            await UploadAsync(staging, content, cancellationToken);
            var sha256 = content.Sha256!;
            // Streamed through the service rather than copied inside the store: S3 servers differ in how they answer a
            // server-side copy (the SDK fails on s3rver's), and a plain GET and PUT work everywhere. The copy is read back
            // before the content counts as stored: a store may answer a GET of an upload it has just completed before it
            // holds all of its bytes (s3rver was seen to), which would leave a short object under the content's hash.
            for (var attempt = 0; !await HoldsIntactAsync(sha256, cancellationToken); attempt++)
            {
                if (attempt == MoveAttempts)
                {
                    throw ServiceErrors.Unavailable("OBJECT_STORE_INCONSISTENT",
                        "The object store did not keep the uploaded content intact; nothing was recorded. Upload it again.");
                }

                if (attempt > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200 << attempt), cancellationToken);
                }

                await using var staged = await OpenAsync(staging, cancellationToken);
                await minio.PutObjectAsync(new PutObjectArgs().WithBucket(connection.Bucket).WithObject(Key(sha256))
                    .WithStreamData(staged).WithObjectSize(content.Length).WithContentType("application/octet-stream"), cancellationToken);
            }

            return new StoredBlob(sha256, content.Length);
        }
        finally
        {
            await ForgetAsync(() => minio.RemoveObjectAsync(new RemoveObjectArgs().WithBucket(connection.Bucket).WithObject(staging)), staging);
        }
    }

    /// <summary>
    /// Writes the content of <paramref name="sha256"/> to <paramref name="write"/> in chunks of at most
    /// <see cref="ChunkBytes"/> as it arrives from the store, hashing it again on the way. Returns the hash of what was
    /// read and its size.
    /// </summary>
    public async Task<StoredBlob> ReadAsync(string sha256, Func<ReadOnlyMemory<byte>, Task> write, CancellationToken cancellationToken)
    {
        await using var body = await OpenAsync(Key(sha256), cancellationToken);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        long size = 0;
        try
        {
            int read;
            while ((read = await body.ReadAtLeastAsync(buffer.AsMemory(0, ChunkBytes), ChunkBytes, throwOnEndOfStream: false, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                size += read;
                await write(buffer.AsMemory(0, read));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return new StoredBlob(Convert.ToHexStringLower(hash.GetHashAndReset()), size);
    }

    private Task<Stream> OpenAsync(string key, CancellationToken cancellationToken) =>
        minio.OpenReadAsync(connection.Bucket, key, cancellationToken);

    private async Task UploadAsync(string key, ContentStream content, CancellationToken cancellationToken)
    {
        try
        {
            // Size -1: the SDK uploads in 5 MiB parts and completes the object only after the stream's clean end.
            await minio.PutObjectAsync(new PutObjectArgs().WithBucket(connection.Bucket).WithObject(key)
                .WithStreamData(content).WithObjectSize(-1).WithContentType("application/octet-stream"), cancellationToken);
        }
        catch (Exception) when (content.Rejection is not null)
        {
            // The multipart upload was never completed; drop its parts rather than wait for the store to expire them.
            await ForgetAsync(() => minio.RemoveIncompleteUploadAsync(
                new RemoveIncompleteUploadArgs().WithBucket(connection.Bucket).WithObject(key), CancellationToken.None), key);
            throw content.Rejection;
        }
    }

    private async Task ForgetAsync(Func<Task> cleanup, string key)
    {
        try
        {
            await cleanup();
        }
        catch (Exception exception)
        {
            // Best effort: what is left is unreferenced and harmless, and the caller's own outcome matters more.
            logger.LogWarning(exception, "Could not clean up {Key} in the object store; it holds no recorded artifact", key);
        }
    }
}

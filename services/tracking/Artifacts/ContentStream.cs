using System.Security.Cryptography;

namespace ModelOps.Tracking.Artifacts;

/// <summary>Content refused while it streamed: too large, or not the size or hash the client declared.</summary>
public sealed class ContentRejectedException(string field, string message) : Exception(message)
{
    /// <summary>The request field at fault.</summary>
    public string Field { get; } = field;
}

/// <summary>
/// A read-only stream over chunks as they arrive (from a gRPC request stream), hashing every byte that passes. It
/// holds one chunk at a time, so memory stays flat whatever the size. It refuses to grow past a limit, and at the
/// end, before it reports end of stream, it checks the declared size and SHA-256: a reader (the object store upload)
/// therefore never sees a clean end of content that does not match, and never completes storing it.
/// </summary>
public sealed class ContentStream : Stream
{
    private readonly Func<CancellationToken, ValueTask<ReadOnlyMemory<byte>?>> _next;
    private readonly long _maxBytes;
    private readonly string? _declaredSha256;
    private readonly long? _declaredSize;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private ReadOnlyMemory<byte> _current;
    private long _length;
    private bool _ended;

    /// <param name="next">The next chunk, or null at the end of the content.</param>
    /// <param name="maxBytes">Most bytes accepted.</param>
    /// <param name="declaredSha256">The SHA-256 (lowercase hex) the client declared, if any.</param>
    /// <param name="declaredSize">The size the client declared, if any.</param>
    public ContentStream(
        Func<CancellationToken, ValueTask<ReadOnlyMemory<byte>?>> next, long maxBytes, string? declaredSha256, long? declaredSize)
    {
        _next = next;
        _maxBytes = maxBytes;
        _declaredSha256 = declaredSha256;
        _declaredSize = declaredSize;
    }

    /// <summary>The SHA-256 (lowercase hex) of the whole content, once it has been read to the end.</summary>
    public string? Sha256 { get; private set; }

    /// <summary>Why the content was refused, if it was (also thrown from the read that found it).</summary>
    public ContentRejectedException? Rejection { get; private set; }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => false;

    /// <summary>Bytes read so far (the whole size once ended).</summary>
    public override long Length => _length;

    /// <inheritdoc />
    public override long Position
    {
        get => _length - _current.Length;
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Rejection is not null)
        {
            throw Rejection;
        }

        while (_current.IsEmpty)
        {
            if (_ended)
            {
                return 0;
            }

            ReadOnlyMemory<byte>? chunk;
            try
            {
                chunk = await _next(cancellationToken);
            }
            catch (ContentRejectedException exception)
            {
                Rejection = exception;
                throw;
            }

            if (chunk is null)
            {
                Finish();
                return 0;
            }

            _length += chunk.Value.Length;
            if (_length > _maxBytes)
            {
                throw Reject("chunk", $"the content exceeds the limit of {_maxBytes} bytes (Tracking:MaxArtifactBytes)");
            }

            if (_declaredSize is { } size && _length > size)
            {
                throw Reject("header.size", $"declared {size} bytes, but more arrived");
            }

            _hash.AppendData(chunk.Value.Span);
            _current = chunk.Value;
        }

        var count = Math.Min(buffer.Length, _current.Length);
        _current[..count].CopyTo(buffer);
        _current = _current[count..];
        return count;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>Reads the content to its end without keeping it (to verify content the store already holds).</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        while (await ReadAsync(buffer, cancellationToken) > 0)
        {
        }
    }

    private void Finish()
    {
        _ended = true;
        Sha256 = Convert.ToHexStringLower(_hash.GetHashAndReset());
        if (_declaredSize is { } size && _length != size)
        {
            throw Reject("header.size", $"declared {size} bytes, but {_length} arrived");
        }

        if (_declaredSha256 is not null && _declaredSha256 != Sha256)
        {
            throw Reject("header.sha256", $"declared {_declaredSha256}, but the bytes that arrived hash to {Sha256}");
        }
    }

    private ContentRejectedException Reject(string field, string message) => Rejection = new ContentRejectedException(field, message);

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}

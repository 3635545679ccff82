using System.Globalization;
using Minio;
using Minio.DataModel.Args;

namespace ModelOps.Hosting.Local;

/// <summary>
/// An S3-compatible object store: MinIO when a <c>minio</c> binary is configured or on PATH, otherwise s3rver
/// (installed by the bootstrap from npm). s3rver accepts only its fixed development credentials and is for
/// development and tests, never production.
/// </summary>
public sealed class LocalObjectStore : LocalResource
{
    private const string S3rverKey = "S3RVER";
    private readonly LocalContext _context;
    private readonly int _preferredPort;
    private readonly string? _minioPath;
    private readonly List<LocalBucket> _buckets = [];
    private LocalProcess? _server;

    /// <summary>A store named <paramref name="name"/> on <paramref name="preferredPort"/> (or a free port).</summary>
    public LocalObjectStore(string name, LocalContext context, int preferredPort = 0, string? minioPath = null)
        : base(name)
    {
        _context = context;
        _preferredPort = preferredPort;
        _minioPath = minioPath;
    }

    /// <summary>Which server runs: <c>minio</c> or <c>s3rver</c>.</summary>
    public string Kind { get; private set; } = "";

    /// <summary>The S3 API port.</summary>
    public int Port { get; private set; }

    /// <summary>The access key.</summary>
    public string AccessKey { get; private set; } = S3rverKey;

    /// <summary>The secret key.</summary>
    public string SecretKey { get; private set; } = S3rverKey;

    /// <inheritdoc />
    public override IReadOnlyList<LocalProcess> Processes => _server is null ? [] : [_server];

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Endpoints => new Dictionary<string, string>
    {
        ["s3"] = $"http://127.0.0.1:{Port} ({Kind})",
    };

    /// <summary>Declares a bucket, created when the store starts.</summary>
    public LocalBucket AddBucket(string name)
    {
        var bucket = new LocalBucket(name, this);
        _buckets.Add(bucket);
        return bucket;
    }

    /// <summary>The connection string of <paramref name="bucket"/> (the form services parse).</summary>
    public string ConnectionStringFor(string bucket) =>
        $"Endpoint=http://127.0.0.1:{Port};AccessKey={AccessKey};SecretKey={SecretKey};Bucket={bucket}";

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        State = LocalState.Starting;
        Port = Port != 0 ? Port : _context.Ports.Take(_preferredPort);
        var data = Path.Combine(_context.DirectoryFor(Name), "data");
        Directory.CreateDirectory(data);
        var port = Port.ToString(CultureInfo.InvariantCulture);

        if (Prerequisites.Minio(_minioPath) is { } minio)
        {
            Kind = "minio";
            AccessKey = "modelops";
            SecretKey = _context.Secret(Name, "secret-key");
            _server = LocalProcess.Start(Name, minio,
                ["server", data, "--address", $"127.0.0.1:{port}", "--console-address", $"127.0.0.1:{_context.Ports.Take()}", "--quiet"],
                new Dictionary<string, string?> { ["MINIO_ROOT_USER"] = AccessKey, ["MINIO_ROOT_PASSWORD"] = SecretKey },
                _context.Log);
        }
        else
        {
            Kind = "s3rver";
            var (node, script) = Prerequisites.S3rver(LocalContext.RepositoryRoot);
            _server = LocalProcess.Start(Name, node, [script, "--directory", data, "--address", "127.0.0.1", "--port", port, "--silent"],
                new Dictionary<string, string?>(), _context.Log);
        }

        using var client = CreateClient();
        await WaitUntilAsync(async ct =>
        {
            await client.ListBucketsAsync(ct);
            return true;
        }, _server, TimeSpan.FromSeconds(30), cancellationToken);

        foreach (var bucket in _buckets)
        {
            await CreateBucketAsync(bucket.BucketName, cancellationToken);
        }
    }

    /// <summary>Creates <paramref name="bucket"/> unless it exists; returns its connection string.</summary>
    public async Task<string> CreateBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        using var client = CreateClient();
        if (!await client.BucketExistsAsync(new BucketExistsArgs().WithBucket(bucket), cancellationToken))
        {
            await client.MakeBucketAsync(new MakeBucketArgs().WithBucket(bucket), cancellationToken);
        }

        return ConnectionStringFor(bucket);
    }

    /// <summary>Whether the store lists its buckets now.</summary>
    public async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var client = CreateClient();
            await client.ListBucketsAsync(cancellationToken);
            return true;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or Minio.Exceptions.MinioException)
        {
            return false;
        }
    }

    /// <summary>A Minio client for this store.</summary>
    public IMinioClient CreateClient() =>
        new MinioClient().WithEndpoint("127.0.0.1", Port).WithCredentials(AccessKey, SecretKey).WithSSL(false).Build();

    /// <inheritdoc />
    public override async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync(TimeSpan.FromSeconds(10));
            _server = null;
        }

        State = LocalState.Stopped;
    }
}

/// <summary>A bucket of an <see cref="LocalObjectStore"/>.</summary>
public sealed class LocalBucket(string name, LocalObjectStore store) : IConnectionSource
{
    /// <summary>The bucket name, also the connection string's name.</summary>
    public string BucketName { get; } = name;

    /// <summary>The store.</summary>
    public LocalObjectStore Store { get; } = store;

    /// <inheritdoc />
    public string ConnectionName => BucketName;

    /// <inheritdoc />
    public string ConnectionString => Store.ConnectionStringFor(BucketName);
}

using System.Data.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Minio;
using Minio.DataModel.Args;

namespace ModelOps.ServiceDefaults.ObjectStore;

/// <summary>Where a service keeps blobs: an S3-compatible endpoint and one bucket.</summary>
/// <param name="Endpoint">The server's base URI (<c>http://127.0.0.1:9000</c>).</param>
/// <param name="AccessKey">Access key id.</param>
/// <param name="SecretKey">Secret key.</param>
/// <param name="Bucket">The bucket this service writes to.</param>
public sealed record ObjectStoreConnection(Uri Endpoint, string AccessKey, string SecretKey, string Bucket)
{
    /// <summary>Parses <c>Endpoint=http://host:port;AccessKey=…;SecretKey=…;Bucket=…</c>.</summary>
    public static ObjectStoreConnection Parse(string connectionString)
    {
        var parts = new DbConnectionStringBuilder { ConnectionString = connectionString };
        string Get(string key) => parts.TryGetValue(key, out var value) && value is string text && text.Length > 0
            ? text
            : throw new FormatException($"The object store connection string has no {key}.");
        return new ObjectStoreConnection(new Uri(Get("Endpoint")), Get("AccessKey"), Get("SecretKey"), Get("Bucket"));
    }

    /// <summary>The <c>s3://bucket/key</c> URI of an object of this bucket, as services record it.</summary>
    public string UriOf(string key) => $"s3://{Bucket}/{key}";

    /// <summary>The key of an object named by <paramref name="uri"/>, or null when the URI names another bucket or store.</summary>
    public string? KeyOf(string uri)
    {
        var prefix = UriOf("");
        return uri.StartsWith(prefix, StringComparison.Ordinal) ? uri[prefix.Length..] : null;
    }

    /// <summary>The connection string form of this connection.</summary>
    public override string ToString() => $"Endpoint={Endpoint};AccessKey={AccessKey};SecretKey={SecretKey};Bucket={Bucket}";

    /// <summary>A Minio client for this endpoint.</summary>
    public IMinioClient CreateClient() =>
        new MinioClient()
            .WithEndpoint(Endpoint.Host, Endpoint.Port)
            .WithCredentials(AccessKey, SecretKey)
            .WithSSL(Endpoint.Scheme == Uri.UriSchemeHttps)
            .Build();
}

/// <summary>The object store of a service.</summary>
public static class ObjectStoreExtensions
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>
    /// Opens an object's body as a stream read as it arrives. The SDK hands an object's body to a callback and treats
    /// ranged (206) answers as errors; a presigned GET streams with one buffer whatever the size, and the SDK still
    /// signs it. A missing object is an <see cref="Minio.Exceptions.ObjectNotFoundException"/>.
    /// </summary>
    public static async Task<Stream> OpenReadAsync(this IMinioClient client, string bucket, string key, CancellationToken cancellationToken)
    {
        var url = await client.PresignedGetObjectAsync(new PresignedGetObjectArgs().WithBucket(bucket).WithObject(key).WithExpiry(3600));
        var response = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            response.Dispose();
            throw new Minio.Exceptions.ObjectNotFoundException(key);
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStreamAsync(cancellationToken);
    }

    /// <summary>
    /// Registers an <see cref="IMinioClient"/> and the <see cref="ObjectStoreConnection"/> from
    /// <c>ConnectionStrings:&lt;connectionName&gt;</c>, a readiness check, and creation of the bucket at start-up.
    /// </summary>
    public static TBuilder AddObjectStore<TBuilder>(this TBuilder builder, string connectionName = "artifacts")
        where TBuilder : IHostApplicationBuilder
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured.");
        }

        var connection = ObjectStoreConnection.Parse(connectionString);
        builder.Services.AddSingleton(connection);
        builder.Services.AddSingleton(_ => connection.CreateClient());
        builder.Services.AddHostedService<BucketInitializer>();
        builder.Services.AddHealthChecks().AddCheck<ObjectStoreHealthCheck>(connectionName, tags: [Extensions.ReadyTag]);
        return builder;
    }

    /// <summary>Creates the bucket when it does not exist yet; safe to call from several replicas.</summary>
    public static async Task EnsureBucketAsync(this IMinioClient client, string bucket, CancellationToken cancellationToken)
    {
        if (await client.BucketExistsAsync(new BucketExistsArgs().WithBucket(bucket), cancellationToken))
        {
            return;
        }

        try
        {
            await client.MakeBucketAsync(new MakeBucketArgs().WithBucket(bucket), cancellationToken);
        }
        catch (Minio.Exceptions.MinioException)
        {
            // Another replica may have created it first; anything else is still an error.
            if (!await client.BucketExistsAsync(new BucketExistsArgs().WithBucket(bucket), cancellationToken))
            {
                throw;
            }
        }
    }
}

internal sealed class BucketInitializer(IMinioClient client, ObjectStoreConnection connection) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => client.EnsureBucketAsync(connection.Bucket, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

// Written here because the S3 health check available (AspNetCore.HealthChecks.Aws.S3) needs the AWS SDK,
// and the Minio SDK has no health check of its own.
internal sealed class ObjectStoreHealthCheck(IMinioClient client, ObjectStoreConnection connection) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            return await client.BucketExistsAsync(new BucketExistsArgs().WithBucket(connection.Bucket), cancellationToken)
                ? HealthCheckResult.Healthy()
                : new HealthCheckResult(context.Registration.FailureStatus, $"Bucket {connection.Bucket} does not exist.");
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The object store is unreachable.", exception);
        }
    }
}

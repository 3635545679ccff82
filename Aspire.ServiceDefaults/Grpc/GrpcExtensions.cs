using Grpc.Core;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.ServiceDefaults.Grpc;

/// <summary>gRPC server defaults and clients of other ModelOps services.</summary>
public static class GrpcExtensions
{
    /// <summary>Largest message a service accepts unless configured otherwise (<c>Grpc:MaxReceiveMessageSize</c>).</summary>
    public const int DefaultMaxReceiveMessageSize = 16 * 1024 * 1024;

    /// <summary>The gRPC server with explicit message limits, the gRPC health service and reflection.</summary>
    public static TBuilder AddServiceGrpc<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var maxReceive = builder.Configuration.GetValue("Grpc:MaxReceiveMessageSize", DefaultMaxReceiveMessageSize);
        builder.Services.AddGrpc(options =>
        {
            options.MaxReceiveMessageSize = maxReceive;
            options.EnableDetailedErrors = builder.Environment.IsDevelopment();
        });
        builder.Services.AddGrpcHealthChecks(options =>
            options.Services.Map("", result => result.Tags.Contains(Extensions.ReadyTag) || result.Tags.Contains(Extensions.LiveTag)));
        builder.Services.AddGrpcReflection();
        return builder;
    }

    /// <summary>
    /// A typed gRPC client of another ModelOps service, found by service discovery
    /// (<c>services__&lt;name&gt;__grpc__0</c>), with standard resilience, presenting this service's own
    /// token (<c>Identity:ServiceToken</c>) when one is configured.
    /// </summary>
    public static IHttpClientBuilder AddServiceGrpcClient<TClient>(this IServiceCollection services, string serviceName)
        where TClient : class
    {
        return services
            .AddGrpcClient<TClient>(options => options.Address = new Uri($"http://_grpc.{serviceName}"))
            .AddCallCredentials((_, metadata, provider) =>
            {
                var token = provider.GetRequiredService<IConfiguration>()[$"{IdentityOptions.Section}:{nameof(IdentityOptions.ServiceToken)}"];
                if (!string.IsNullOrEmpty(token))
                {
                    metadata.Add("Authorization", $"Bearer {token}");
                }

                return Task.CompletedTask;
            })
            // Services talk h2c inside the cluster; TLS is terminated by the mesh or ingress.
            .ConfigureChannel(channel => channel.UnsafeUseInsecureChannelCallCredentials = true);
    }
}

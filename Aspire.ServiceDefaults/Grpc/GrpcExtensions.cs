using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Grpc.Net.ClientFactory;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.ServiceDefaults.Grpc;

/// <summary>gRPC server defaults and clients of other ModelOps services.</summary>
public static class GrpcExtensions
{
    /// <summary>Largest message a service accepts unless configured otherwise (<c>Grpc:MaxReceiveMessageSize</c>).</summary>
    public const int DefaultMaxReceiveMessageSize = 16 * 1024 * 1024;

    /// <summary>
    /// The gRPC server with explicit message limits, the error interceptor (see <see cref="ErrorInterceptor"/>), the gRPC
    /// health service and reflection.
    /// </summary>
    public static TBuilder AddServiceGrpc<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var maxReceive = builder.Configuration.GetValue("Grpc:MaxReceiveMessageSize", DefaultMaxReceiveMessageSize);
        builder.Services.AddGrpc(options =>
        {
            options.MaxReceiveMessageSize = maxReceive;
            // Exception text never reaches a client, in development either: the interceptor answers with a reason
            // code and a correlation id, and the log holds the rest.
            options.EnableDetailedErrors = false;
            options.Interceptors.Add<ErrorInterceptor>();
        });
        builder.Services.AddGrpcHealthChecks(options =>
            options.Services.Map("", result => result.Tags.Contains(Extensions.ReadyTag) || result.Tags.Contains(Extensions.LiveTag)));
        builder.Services.AddGrpcReflection();
        return builder;
    }

    /// <summary>
    /// A typed gRPC client of another ModelOps service, found by service discovery
    /// (<c>services__&lt;name&gt;__grpc__0</c>), with gRPC's own retry of UNAVAILABLE, presenting this service's token for
    /// that service (see <see cref="ServiceTokens"/>) when it has credentials.
    /// </summary>
    public static IHttpClientBuilder AddServiceGrpcClient<TClient>(this IServiceCollection services, string serviceName)
        where TClient : class =>
        services.AddModelOpsGrpcClient<TClient>(serviceName, async (context, provider) =>
            await provider.GetRequiredService<ServiceTokens>().GetAsync(serviceName, context.CancellationToken));

    /// <summary>
    /// A typed gRPC client of another ModelOps service, as <see cref="AddServiceGrpcClient{TClient}"/>, that presents the
    /// bearer token of the HTTP request being served: a gateway acts as its caller, whose roles the callee checks, never
    /// with a privilege of its own. A call made outside a request carries no token (and is refused).
    /// </summary>
    public static IHttpClientBuilder AddCallerGrpcClient<TClient>(this IServiceCollection services, string serviceName)
        where TClient : class
    {
        services.AddHttpContextAccessor();
        return services.AddModelOpsGrpcClient<TClient>(serviceName, (_, provider) =>
        {
            var header = provider.GetRequiredService<IHttpContextAccessor>().HttpContext?.Request.Headers.Authorization.ToString();
            return Task.FromResult(header is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? value["Bearer ".Length..].Trim()
                : null);
        });
    }

    /// <summary>
    /// A typed gRPC client of another ModelOps service that adds no token of its own: each call carries, in its headers,
    /// the token of the person it is made for (a web console signs people in and calls as them, outside any HTTP
    /// request once its pages are interactive).
    /// </summary>
    public static IHttpClientBuilder AddUserGrpcClient<TClient>(this IServiceCollection services, string serviceName)
        where TClient : class =>
        services.AddModelOpsGrpcClient<TClient>(serviceName, (_, _) => Task.FromResult<string?>(null));

    private static IHttpClientBuilder AddModelOpsGrpcClient<TClient>(
        this IServiceCollection services, string serviceName, Func<AuthInterceptorContext, IServiceProvider, Task<string?>> token)
        where TClient : class
    {
        // RemoveAllResilienceHandlers is marked experimental (EXTEXP0001); the package is pinned centrally,
        // so a change to it arrives only with a deliberate upgrade.
#pragma warning disable EXTEXP0001
        return services
            .AddGrpcClient<TClient>(options => options.Address = new Uri($"http://_grpc.{serviceName}"))
            .AddCallCredentials(async (context, metadata, provider) =>
            {
                if (await token(context, provider) is { Length: > 0 } value)
                {
                    metadata.Add("Authorization", $"Bearer {value}");
                }
            })
            // The HTTP resilience handler of ConfigureHttpClientDefaults would time out long streaming calls and retry
            // at the HTTP level; gRPC clients use gRPC's own retry policy instead.
            .RemoveAllResilienceHandlers()
            .ConfigureChannel(channel =>
            {
                // Services talk h2c inside the cluster; TLS is terminated by the mesh or ingress.
                channel.UnsafeUseInsecureChannelCallCredentials = true;
                channel.ServiceConfig = new ServiceConfig
                {
                    MethodConfigs =
                    {
                        new MethodConfig
                        {
                            Names = { MethodName.Default },
                            RetryPolicy = new RetryPolicy
                            {
                                MaxAttempts = 4,
                                InitialBackoff = TimeSpan.FromMilliseconds(200),
                                MaxBackoff = TimeSpan.FromSeconds(5),
                                BackoffMultiplier = 2,
                                RetryableStatusCodes = { StatusCode.Unavailable },
                            },
                        },
                    },
                };
            });
#pragma warning restore EXTEXP0001
    }
}

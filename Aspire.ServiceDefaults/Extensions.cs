using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.ServiceDefaults.Telemetry;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace ModelOps.ServiceDefaults;

/// <summary>
/// The wiring every ModelOps service shares, in the manner of an Aspire ServiceDefaults project.
/// </summary>
public static class Extensions
{
    /// <summary>Health checks tagged with this take part in readiness (<c>/health</c> and gRPC health).</summary>
    public const string ReadyTag = "ready";

    /// <summary>Health checks tagged with this take part in liveness (<c>/alive</c>).</summary>
    public const string LiveTag = "live";

    /// <summary>
    /// Adds telemetry, health checks, service discovery with resilient HTTP and gRPC clients,
    /// JWT bearer authentication with ModelOps roles, and the gRPC server with health and reflection.
    /// Data, event bus and object store are added by <c>AddServiceDatabase</c>, <c>AddEventBus</c>
    /// and <c>AddObjectStore</c>, since not every service needs all of them.
    /// </summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var service = ServiceInfo.From(builder);
        builder.Services.AddSingleton(service);
        builder.Services.AddSingleton(service.ActivitySource);

        builder.ConfigureOpenTelemetry(service);
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        builder.AddDefaultAuthentication(service.Name);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHttpClient(ServiceTokens.HttpClientName);
        builder.Services.AddSingleton<ServiceTokens>();
        builder.AddServiceGrpc();
        return builder;
    }

    /// <summary>Traces, metrics and logs; OTLP export when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; Prometheus scraping.</summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, ServiceInfo service)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(service.Name, serviceNamespace: "modelops"))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(service.ActivitySource.Name, "MassTransit", "Npgsql", "Grpc.AspNetCore.Server", "Grpc.Net.Client")
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                .SetSampler(new ParentBasedSampler(new BackgroundNoiseSampler()))
                .AddSource(service.ActivitySource.Name, "MassTransit")
                .AddAspNetCoreInstrumentation(options => options.Filter = context => !IsInfrastructurePath(context.Request.Path))
                .AddGrpcClientInstrumentation()
                .AddHttpClientInstrumentation()
                .AddNpgsql());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Adds the liveness check and the log of readiness; readiness checks are added by the database, bus and object store.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        // Readiness is logged as it changes (HealthLog), not as a failure line at every probe while the service starts.
        builder.Services.AddSingleton<IHealthCheckPublisher, HealthLog>();
        builder.Services.Configure<HealthCheckPublisherOptions>(options => (options.Delay, options.Period) = (TimeSpan.FromSeconds(1), HealthLog.Period));
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Critical);
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (ready: database, broker, object store), <c>/alive</c> (live), <c>/metrics</c>
    /// (Prometheus), the gRPC health service (anonymous) and gRPC reflection (authenticated).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        Microsoft.IdentityModel.Logging.LogHelper.Logger =
            new IdentityModelLogger(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Microsoft.IdentityModel"));
        app.Use(TagGrpcStatusAsync);
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapHealthChecks("/health", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag) || check.Tags.Contains(LiveTag),
            ResponseWriter = HealthResponseWriter.WriteAsync,
        }).AllowAnonymous();
        app.MapHealthChecks("/alive", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(LiveTag),
        }).AllowAnonymous();
        app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();

        app.MapGrpcHealthChecksService().AllowAnonymous();
        app.MapGrpcReflectionService();
        return app;
    }

    /// <summary>
    /// Adds the call's gRPC status (OpenTelemetry's <c>rpc.grpc.status_code</c>) to ASP.NET Core's
    /// <c>http.server.request.duration</c>, whose HTTP status is 200 whatever a gRPC call answered: error-rate objectives
    /// (deploy/prometheus) count the calls that failed on the server's side by it.
    /// </summary>
    private static async Task TagGrpcStatusAsync(HttpContext context, RequestDelegate next)
    {
        await next(context);
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true &&
            context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMetricsTagsFeature>() is { } metrics)
        {
            // A call that fails before any message answers in its headers ("trailers-only"); others in the trailers.
            var status = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers["grpc-status"].ToString() is { Length: > 0 } trailer
                ? trailer
                : context.Response.Headers["grpc-status"].ToString();
            if (status.Length > 0)
            {
                metrics.Tags.Add(new KeyValuePair<string, object?>("rpc.grpc.status_code", status));
            }
        }
    }

    private static bool IsInfrastructurePath(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/alive") || path.StartsWithSegments("/metrics") ||
        path.StartsWithSegments("/grpc.health.v1.Health");
}

/// <summary>Who this service is: its short name (<c>tracking</c>) and its one <see cref="ActivitySource"/>.</summary>
public sealed class ServiceInfo
{
    private ServiceInfo(string name, ActivitySource source)
    {
        Name = name;
        ActivitySource = source;
    }

    /// <summary>Short lower-case name, as the AppHost and service discovery know it.</summary>
    public string Name { get; }

    /// <summary>The service's activity source, named <c>ModelOps.&lt;Service&gt;</c>; also the name of its meter.</summary>
    public ActivitySource ActivitySource { get; }

    /// <summary>
    /// The name comes from <c>OTEL_SERVICE_NAME</c> when set, else from the application name
    /// (<c>ModelOps.Tracking</c> → <c>tracking</c>).
    /// </summary>
    public static ServiceInfo From(IHostApplicationBuilder builder)
    {
        var applicationName = builder.Environment.ApplicationName;
        var name = builder.Configuration["OTEL_SERVICE_NAME"];
        if (string.IsNullOrWhiteSpace(name))
        {
            var lastDot = applicationName.LastIndexOf('.');
            name = (lastDot >= 0 ? applicationName[(lastDot + 1)..] : applicationName).ToLowerInvariant();
        }

        return new ServiceInfo(name, new ActivitySource(applicationName));
    }
}

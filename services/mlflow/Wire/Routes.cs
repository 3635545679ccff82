using System.Diagnostics;
using Grpc.Core;

namespace ModelOps.Mlflow.Wire;

/// <summary>An endpoint's work: the request message in, the response object out (serialized as a 200).</summary>
public delegate Task<object> Handler<in TIn>(TIn request, HttpContext context, CancellationToken cancellationToken);

/// <summary>Mapping MLflow endpoints, and answering every failure under them as MLflow's error envelope.</summary>
public static partial class Routes
{
    /// <summary>An empty response, <c>{}</c>.</summary>
    public static readonly object Empty = new { };

    /// <summary>Maps <paramref name="handler"/> at <paramref name="pattern"/> for <paramref name="methods"/>.</summary>
    public static void Map<TIn>(this IEndpointRouteBuilder routes, string[] methods, string pattern, Handler<TIn> handler) where TIn : new() =>
        routes.MapMethods(pattern, methods, async context =>
        {
            var cancellationToken = context.RequestAborted;
            var request = await MlflowJson.ReadAsync<TIn>(context.Request, cancellationToken);
            var response = await handler(request, context, cancellationToken);
            await MlflowJson.WriteAsync(context.Response, response, cancellationToken);
        });

    /// <summary>
    /// Answers a failure under <c>/api/2.0</c> in MLflow's terms: our refusals as they are, a service's gRPC status by
    /// <see cref="MlflowError.FromRpc"/>, a route that does not exist (or not for this method) as JSON
    /// ENDPOINT_NOT_FOUND, and a defect as INTERNAL_ERROR with a correlation id (its text stays in the log).
    /// </summary>
    public static async Task ErrorsAsync(HttpContext context, RequestDelegate next)
    {
        if (!IsApi(context.Request.Path))
        {
            await next(context);
            return;
        }

        MlflowError? error;
        try
        {
            await next(context);
            error = context.Response.HasStarted ? null : context.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound when context.GetEndpoint() is null => MlflowError.NoEndpoint(context.Request.Method, context.Request.Path),
                StatusCodes.Status405MethodNotAllowed => MlflowError.NoEndpoint(context.Request.Method, context.Request.Path),
                _ => null,
            };
        }
        catch (MlflowError refusal)
        {
            error = refusal;
        }
        catch (RpcException exception) when (exception.StatusCode != StatusCode.Cancelled || !context.RequestAborted.IsCancellationRequested)
        {
            error = MlflowError.FromRpc(exception);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (BadHttpRequestException exception)
        {
            // Malformed framing (a broken chunked body, a body over the server's limit): the client's fault.
            error = MlflowError.InvalidParameter($"The HTTP request is malformed (HTTP {exception.StatusCode}).");
        }
#pragma warning disable CA1031 // The boundary of the API: every defect becomes an INTERNAL_ERROR, logged.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            var correlation = Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier;
            LogDefect(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("ModelOps.Mlflow"), exception,
                context.Request.Method, context.Request.Path, correlation);
            error = new MlflowError("INTERNAL_ERROR", 500, $"Internal error; correlation id {correlation} (quote it when reporting the problem).");
        }

        if (error is not null && !context.Response.HasStarted)
        {
            context.Response.Clear();
            await MlflowJson.WriteErrorAsync(context.Response, error, context.RequestAborted);
        }
    }

    /// <summary>Whether <paramref name="path"/> is under MLflow's API prefixes.</summary>
    public static bool IsApi(PathString path) => path.StartsWithSegments("/api/2.0") || path.StartsWithSegments("/ajax-api/2.0");

    [LoggerMessage(Level = LogLevel.Error, Message = "MLflow API {Method} {Path} failed (correlation id {CorrelationId})")]
    private static partial void LogDefect(ILogger logger, Exception exception, string method, string path, string correlationId);
}

using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>
/// The one place where what a handler throws becomes what a client sees. A <see cref="ServiceException"/> becomes its
/// status with <c>google.rpc</c> details: <c>ErrorInfo</c> (reason, domain, metadata) always, and <c>BadRequest</c>,
/// <c>PreconditionFailure</c>, <c>ResourceInfo</c> or <c>RetryInfo</c> where they apply. A transient fault of the
/// database, the object store or another service becomes <c>UNAVAILABLE</c>, so clients retry. Anything else is a
/// defect: <c>INTERNAL</c> with a correlation id that is also in the log and the trace; no exception text, type or
/// SQLSTATE ever reaches a client.
/// </summary>
public sealed partial class ErrorInterceptor(ServiceInfo service, ILogger<ErrorInterceptor> logger) : Interceptor
{
    /// <summary>Longest status message sent.</summary>
    public const int MaxMessageLength = 1000;

    private string Domain => $"{service.Name}.modelops";

    /// <inheritdoc />
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception exception)
        {
            throw Translate(exception, context);
        }
    }

    /// <inheritdoc />
    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception exception)
        {
            throw Translate(exception, context);
        }
    }

    /// <inheritdoc />
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception exception)
        {
            throw Translate(exception, context);
        }
    }

    /// <inheritdoc />
    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception exception)
        {
            throw Translate(exception, context);
        }
    }

    /// <summary>The status a client sees for <paramref name="exception"/>.</summary>
    public RpcException Translate(Exception exception, ServerCallContext context)
    {
        var method = context.Method;
        switch (exception)
        {
            case ServiceException refusal:
                return ToRpcException(refusal);
            case Google.Protobuf.InvalidProtocolBufferException or { InnerException: Google.Protobuf.InvalidProtocolBufferException }:
                // A streamed message that does not parse (nested past protobuf's recursion limit, truncated).
                return ToRpcException(ServiceErrors.InvalidArgument("message",
                    "is not a valid protobuf message of this RPC (malformed, or nested deeper than 100 levels)"));
            case OperationCanceledException or IOException when context.CancellationToken.IsCancellationRequested:
                // The client went away or its deadline passed: nobody reads this answer, but say what happened.
                return ToRpcException(context.Deadline <= DateTime.UtcNow
                    ? new ServiceException(ErrorKind.Unavailable, "DEADLINE_EXCEEDED", "The call's deadline passed.")
                    : new ServiceException(ErrorKind.Unavailable, "CANCELLED", "The call was cancelled."),
                    context.Deadline <= DateTime.UtcNow ? StatusCode.DeadlineExceeded : StatusCode.Cancelled);
        }

        if (TransientFaults.IsTransient(exception, out var source) ||
            exception is RpcException { StatusCode: StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted })
        {
            var (reason, what) = source switch
            {
                FaultSource.Database => ("DATABASE_UNAVAILABLE", "its database"),
                FaultSource.ObjectStore => ("OBJECT_STORE_UNAVAILABLE", "the object store"),
                _ => ("DEPENDENCY_UNAVAILABLE", "a service it depends on"),
            };
            LogTransient(logger, method, reason, exception.GetType().Name, exception.Message);
            return ToRpcException(ServiceErrors.Unavailable(reason,
                $"The {service.Name} service could not reach {what}; nothing was changed unless the call is repeated. Try again."));
        }

        var correlation = Activity.Current?.TraceId.ToHexString() ?? Guid.NewGuid().ToString("N");
        LogDefect(logger, exception, method, correlation);
        return ToRpcException(new ServiceException(ErrorKind.Unavailable, "INTERNAL",
            $"The {service.Name} service failed unexpectedly; quote correlation id {correlation} when reporting it.")
        {
            Metadata = new Dictionary<string, string> { ["correlation_id"] = correlation },
        }, StatusCode.Internal);
    }

    private RpcException ToRpcException(ServiceException refusal, StatusCode? code = null)
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)(code ?? Code(refusal.Kind)),
            Message = TextRules.Clip(refusal.Message, MaxMessageLength),
        };
        var info = new ErrorInfo { Reason = refusal.Reason, Domain = Domain };
        foreach (var (key, value) in refusal.Metadata.Take(20))
        {
            info.Metadata[TextRules.Clip(key, 64)] = TextRules.Clip(value, 200);
        }

        status.Details.Add(Any.Pack(info));
        if (refusal.FieldViolations.Count > 0)
        {
            status.Details.Add(Any.Pack(new BadRequest { FieldViolations = { refusal.FieldViolations } }));
        }

        if (refusal.PreconditionViolations.Count > 0)
        {
            status.Details.Add(Any.Pack(new PreconditionFailure { Violations = { refusal.PreconditionViolations } }));
        }

        if (refusal.Resource is { } resource)
        {
            status.Details.Add(Any.Pack(resource));
        }

        if (refusal.RetryAfter is { } retry)
        {
            status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retry) }));
        }

        return status.ToRpcException();
    }

    /// <summary>The gRPC status of a kind of refusal.</summary>
    public static StatusCode Code(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        ErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        ErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        ErrorKind.Unauthenticated => StatusCode.Unauthenticated,
        ErrorKind.Aborted => StatusCode.Aborted,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        ErrorKind.DataLoss => StatusCode.DataLoss,
        _ => StatusCode.Internal,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} failed on a transient fault ({Reason}): {Type}: {Detail}")]
    private static partial void LogTransient(ILogger logger, string method, string reason, string type, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} failed unexpectedly; correlation id {CorrelationId}")]
    private static partial void LogDefect(ILogger logger, Exception exception, string method, string correlationId);
}

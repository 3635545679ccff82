using Google.Rpc;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>
/// The kinds of refusal a ModelOps service gives. Each maps to one gRPC status (in <see cref="ErrorInterceptor"/>) and
/// one HTTP status, so that domain and data code decide what went wrong without knowing the transport.
/// </summary>
public enum ErrorKind
{
    /// <summary>The request itself is wrong: <c>INVALID_ARGUMENT</c> with field violations.</summary>
    InvalidArgument,

    /// <summary>What the request names does not exist: <c>NOT_FOUND</c>.</summary>
    NotFound,

    /// <summary>What the request would create exists already: <c>ALREADY_EXISTS</c>.</summary>
    AlreadyExists,

    /// <summary>The state of the system does not allow it now: <c>FAILED_PRECONDITION</c>; do not retry as is.</summary>
    FailedPrecondition,

    /// <summary>The caller may not do this: <c>PERMISSION_DENIED</c>.</summary>
    PermissionDenied,

    /// <summary>The call carries no valid identity: <c>UNAUTHENTICATED</c>.</summary>
    Unauthenticated,

    /// <summary>A concurrent change got in the way: <c>ABORTED</c>; retry the whole operation.</summary>
    Aborted,

    /// <summary>A limit of the service (not of the request's shape) was reached: <c>RESOURCE_EXHAUSTED</c>.</summary>
    ResourceExhausted,

    /// <summary>A transient fault of the infrastructure: <c>UNAVAILABLE</c>; retry with backoff.</summary>
    Unavailable,

    /// <summary>Stored data was found damaged or missing: <c>DATA_LOSS</c>.</summary>
    DataLoss,
}

/// <summary>
/// A refusal with a stable reason code (<c>RUN_NOT_FOUND</c>, <c>RUN_ENDED</c>, ...) that clients can act on without
/// parsing messages. Handlers, domain and data code throw it (usually through <see cref="ServiceErrors"/>); one server
/// interceptor turns it into a gRPC status with <c>google.rpc</c> details. Its message reaches the client, so it must
/// be written for the client and echo at most a short prefix of what it refuses (<see cref="TextRules.Echo"/>).
/// </summary>
public sealed class ServiceException : Exception
{
    /// <summary>A refusal of <paramref name="kind"/> with <paramref name="reason"/> (UPPER_SNAKE_CASE) and a message for the client.</summary>
    public ServiceException(ErrorKind kind, string reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Reason = reason;
    }

    /// <summary>What kind of refusal this is.</summary>
    public ErrorKind Kind { get; }

    /// <summary>The stable reason code, as <c>google.rpc.ErrorInfo.reason</c>.</summary>
    public string Reason { get; }

    /// <summary>Facts about the refusal that a client may act on (<c>ErrorInfo.metadata</c>): ids, limits.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>For <see cref="ErrorKind.InvalidArgument"/>: every field at fault.</summary>
    public IReadOnlyList<BadRequest.Types.FieldViolation> FieldViolations { get; init; } = [];

    /// <summary>For <see cref="ErrorKind.FailedPrecondition"/>: what does not hold (<c>google.rpc.PreconditionFailure</c>).</summary>
    public IReadOnlyList<PreconditionFailure.Types.Violation> PreconditionViolations { get; init; } = [];

    /// <summary>The resource the refusal is about (<c>google.rpc.ResourceInfo</c>), when there is one.</summary>
    public ResourceInfo? Resource { get; init; }

    /// <summary>For <see cref="ErrorKind.Unavailable"/>: how long to wait before retrying (<c>google.rpc.RetryInfo</c>).</summary>
    public TimeSpan? RetryAfter { get; init; }
}

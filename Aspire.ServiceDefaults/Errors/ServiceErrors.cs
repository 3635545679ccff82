using System.Globalization;
using Google.Rpc;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>
/// Builds the refusals services throw (<c>throw ServiceErrors.NotFound("run", id)</c>), each with its reason code and the
/// <c>google.rpc</c> details a client reads instead of the message. Reason codes are UPPER_SNAKE_CASE and stable; each
/// service documents its own in its proto.
/// </summary>
public static class ServiceErrors
{
    /// <summary>
    /// <c>NOT_FOUND</c> with reason <c>&lt;TYPE&gt;_NOT_FOUND</c> (<c>RUN_NOT_FOUND</c>) and <c>ResourceInfo</c>.
    /// <paramref name="resourceType"/> is lower snake case (<c>run</c>, <c>registered_model</c>).
    /// </summary>
    public static ServiceException NotFound(string resourceType, string name, string? message = null) =>
        new(ErrorKind.NotFound, $"{resourceType.ToUpperInvariant()}_NOT_FOUND",
            message ?? $"{Describe(resourceType)} {TextRules.Echo(name)} was not found.")
        {
            Resource = new ResourceInfo { ResourceType = resourceType, ResourceName = TextRules.Clip(name) },
            Metadata = new Dictionary<string, string> { [resourceType] = TextRules.Clip(name) },
        };

    /// <summary><c>ALREADY_EXISTS</c> with reason <c>&lt;TYPE&gt;_ALREADY_EXISTS</c> and <c>ResourceInfo</c>.</summary>
    public static ServiceException AlreadyExists(string resourceType, string name, string? message = null) =>
        new(ErrorKind.AlreadyExists, $"{resourceType.ToUpperInvariant()}_ALREADY_EXISTS",
            message ?? $"{Describe(resourceType)} {TextRules.Echo(name)} exists already.")
        {
            Resource = new ResourceInfo { ResourceType = resourceType, ResourceName = TextRules.Clip(name) },
            Metadata = new Dictionary<string, string> { [resourceType] = TextRules.Clip(name) },
        };

    /// <summary>
    /// <c>FAILED_PRECONDITION</c> with <paramref name="reason"/> and one <c>PreconditionFailure</c> violation: of
    /// <paramref name="type"/> (a reason-like category such as <c>RUN_STATE</c>) about <paramref name="subject"/>.
    /// </summary>
    public static ServiceException FailedPrecondition(string reason, string message, string type, string subject,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        new(ErrorKind.FailedPrecondition, reason, message)
        {
            PreconditionViolations = [new PreconditionFailure.Types.Violation { Type = type, Subject = TextRules.Clip(subject), Description = message }],
            Metadata = metadata ?? new Dictionary<string, string>(),
        };

    /// <summary><c>PERMISSION_DENIED</c> with <paramref name="reason"/>.</summary>
    public static ServiceException PermissionDenied(string reason, string message, IReadOnlyDictionary<string, string>? metadata = null) =>
        new(ErrorKind.PermissionDenied, reason, message) { Metadata = metadata ?? new Dictionary<string, string>() };

    /// <summary><c>UNAUTHENTICATED</c> with <paramref name="reason"/>.</summary>
    public static ServiceException Unauthenticated(string reason, string message) => new(ErrorKind.Unauthenticated, reason, message);

    /// <summary><c>ABORTED</c>: a concurrent change got in the way; the client retries the operation.</summary>
    public static ServiceException Aborted(string reason, string message) => new(ErrorKind.Aborted, reason, message);

    /// <summary><c>RESOURCE_EXHAUSTED</c> with <paramref name="reason"/>.</summary>
    public static ServiceException ResourceExhausted(string reason, string message, IReadOnlyDictionary<string, string>? metadata = null) =>
        new(ErrorKind.ResourceExhausted, reason, message) { Metadata = metadata ?? new Dictionary<string, string>() };

    /// <summary><c>UNAVAILABLE</c>: retry after <paramref name="retryAfter"/> (one second when not given).</summary>
    public static ServiceException Unavailable(string reason, string message, TimeSpan? retryAfter = null, Exception? innerException = null) =>
        new(ErrorKind.Unavailable, reason, message, innerException) { RetryAfter = retryAfter ?? TimeSpan.FromSeconds(1) };

    /// <summary><c>DATA_LOSS</c>: what was stored is damaged or gone.</summary>
    public static ServiceException DataLoss(string reason, string message, IReadOnlyDictionary<string, string>? metadata = null) =>
        new(ErrorKind.DataLoss, reason, message) { Metadata = metadata ?? new Dictionary<string, string>() };

    /// <summary><c>INVALID_ARGUMENT</c> for one field.</summary>
    public static ServiceException InvalidArgument(string field, string description) =>
        new FieldViolations().Add(field, description).ToException();

    /// <summary>The metadata of a limit: its name and value, for <c>ErrorInfo.metadata</c>.</summary>
    public static IReadOnlyDictionary<string, string> Limit(string name, long value) =>
        new Dictionary<string, string> { ["limit"] = name, ["limit_value"] = value.ToString(CultureInfo.InvariantCulture) };

    private static string Describe(string resourceType)
    {
        var words = resourceType.Replace('_', ' ');
        return char.ToUpperInvariant(words[0]) + words[1..];
    }
}

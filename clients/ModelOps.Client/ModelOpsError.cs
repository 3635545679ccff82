using Google.Rpc;
using Grpc.Core;

namespace ModelOps.Client;

/// <summary>
/// A refusal by a ModelOps service, read from the <c>google.rpc</c> details of its status: the stable reason code a
/// program acts on (<c>RUN_NOT_FOUND</c>, <c>RUN_ENDED</c>, <c>FOUR_EYES</c>), the fields at fault, what does not hold,
/// and facts such as a correlation id. Messages are for people and may change; reasons do not.
/// </summary>
/// <param name="Code">The gRPC status code.</param>
/// <param name="Reason">The reason code (<c>ErrorInfo.reason</c>); empty when the status carried none (a refused token).</param>
/// <param name="Domain">Which service gave it (<c>tracking.modelops</c>).</param>
/// <param name="Message">The message, for a person.</param>
/// <param name="Metadata">Facts about the refusal (ids, limits, <c>correlation_id</c> of a defect).</param>
/// <param name="FieldViolations">The fields at fault, for INVALID_ARGUMENT.</param>
/// <param name="Preconditions">What does not hold, for FAILED_PRECONDITION.</param>
/// <param name="RetryAfter">How long to wait before retrying, for UNAVAILABLE.</param>
public sealed record ModelOpsError(
    StatusCode Code, string Reason, string Domain, string Message, IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<BadRequest.Types.FieldViolation> FieldViolations, IReadOnlyList<PreconditionFailure.Types.Violation> Preconditions,
    TimeSpan? RetryAfter)
{
    /// <summary>Whether repeating the call may succeed: a transient fault of the service's infrastructure.</summary>
    public bool Retryable => Code is StatusCode.Unavailable or StatusCode.Aborted;

    /// <summary>The refusal <paramref name="exception"/> carries.</summary>
    public static ModelOpsError From(RpcException exception)
    {
        var status = exception.GetRpcStatus();
        var info = status?.GetDetail<ErrorInfo>();
        return new ModelOpsError(
            exception.StatusCode,
            info?.Reason ?? "",
            info?.Domain ?? "",
            exception.Status.Detail,
            info?.Metadata.ToDictionary() ?? [],
            status?.GetDetail<BadRequest>()?.FieldViolations.ToList() ?? [],
            status?.GetDetail<PreconditionFailure>()?.Violations.ToList() ?? [],
            status?.GetDetail<RetryInfo>()?.RetryDelay?.ToTimeSpan());
    }

    /// <summary>One line per fact: the status and reason, then each field at fault and each unmet precondition.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"{Code}{(Reason.Length > 0 ? $" ({Reason})" : "")}: {Message}";
        foreach (var violation in FieldViolations)
        {
            yield return $"  {violation.Field}: {violation.Description}";
        }

        foreach (var precondition in Preconditions)
        {
            yield return $"  {precondition.Type} {precondition.Subject}: {precondition.Description}";
        }

        if (Metadata.TryGetValue("correlation_id", out var correlation))
        {
            yield return $"  correlation id: {correlation} (quote it when reporting the problem)";
        }
    }
}

/// <summary>Reading refusals from the exceptions gRPC throws.</summary>
public static class RpcExceptionExtensions
{
    /// <summary>The refusal <paramref name="exception"/> carries, with its reason code.</summary>
    public static ModelOpsError ToModelOpsError(this RpcException exception) => ModelOpsError.From(exception);

    /// <summary>The reason code of the refusal (<c>RUN_NOT_FOUND</c>), or empty.</summary>
    public static string Reason(this RpcException exception) => exception.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason ?? "";
}

using System.Text.Json.Nodes;
using Grpc.Core;
using ModelOps.Client;

namespace ModelOps.Mlflow.Wire;

/// <summary>
/// A refusal in MLflow's terms: <c>{"error_code": …, "message": …}</c> and the HTTP status MLflow's clients expect for
/// that code (MLflow's <c>exceptions.py</c> table). Every failure that will not change on retry is a 4xx: the Python
/// client retries 408, 429 and 5xx for about four minutes, so a refusal answered as 5xx would be sent seven more times.
/// </summary>
public sealed class MlflowError(string code, int status, string message, JsonObject? extra = null) : Exception(message)
{
    /// <summary>MLflow's <c>ErrorCode</c> name.</summary>
    public string Code { get; } = code;

    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>Keys added beside <c>error_code</c> and <c>message</c> (a pending transition's request id).</summary>
    public JsonObject? Extra { get; } = extra;

    /// <summary>400 INVALID_PARAMETER_VALUE: the request is wrong and will stay wrong.</summary>
    public static MlflowError InvalidParameter(string message) => new("INVALID_PARAMETER_VALUE", 400, message);

    /// <summary>400 INVALID_PARAMETER_VALUE for a required field the request lacks, in MLflow's words.</summary>
    public static MlflowError Missing(string field) => InvalidParameter($"Missing value for required parameter '{field}'.");

    /// <summary>404 RESOURCE_DOES_NOT_EXIST.</summary>
    public static MlflowError NotFound(string message) => new("RESOURCE_DOES_NOT_EXIST", 404, message);

    /// <summary>404 ENDPOINT_NOT_FOUND (JSON, so that the Python client's POST→GET fallback sees it).</summary>
    public static MlflowError NoEndpoint(string method, string path) =>
        new("ENDPOINT_NOT_FOUND", 404, $"No endpoint {method} {path} in this MLflow-compatible API (see the README's \"Coming from MLflow\").");

    /// <summary>401 UNAUTHENTICATED.</summary>
    public static MlflowError Unauthenticated(string message) => new("UNAUTHENTICATED", 401, message);

    /// <summary>
    /// The MLflow refusal for a ModelOps service's gRPC status. The message keeps the service's words, its reason code
    /// and the fields at fault; an internal fault shows only its correlation id, never exception text.
    /// </summary>
    public static MlflowError FromRpc(RpcException exception)
    {
        var error = exception.ToModelOpsError();
        var reason = error.Reason.Length > 0 ? $" [{error.Reason}]" : "";
        var details = string.Concat(error.FieldViolations.Select(v => $" {v.Field}: {v.Description}."));
        var message = $"{error.Message}{details}{reason}";
        return error.Code switch
        {
            StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange =>
                new("INVALID_PARAMETER_VALUE", 400, message),
            // A message over the service's size limit: the same request will be refused again.
            StatusCode.ResourceExhausted => new("INVALID_PARAMETER_VALUE", 400, message),
            StatusCode.NotFound => new("RESOURCE_DOES_NOT_EXIST", 404, message),
            StatusCode.AlreadyExists => new("RESOURCE_ALREADY_EXISTS", 400, message),
            StatusCode.PermissionDenied => new("PERMISSION_DENIED", 403, message),
            StatusCode.Unauthenticated => new("UNAUTHENTICATED", 401, message),
            StatusCode.Aborted => new("ABORTED", 409, message),
            StatusCode.Cancelled => new("CANCELLED", 499, message),
            StatusCode.DeadlineExceeded => new("DEADLINE_EXCEEDED", 504, message),
            StatusCode.Unavailable => new("TEMPORARILY_UNAVAILABLE", 503, $"A ModelOps service is unavailable; retry. {message}"),
            _ => new("INTERNAL_ERROR", 500, error.Metadata.TryGetValue("correlation_id", out var id)
                ? $"Internal error; correlation id {id} (quote it when reporting the problem)."
                : "Internal error."),
        };
    }

    /// <summary>The JSON body.</summary>
    public JsonObject ToJson()
    {
        var body = new JsonObject { ["error_code"] = Code, ["message"] = Message };
        foreach (var (key, value) in Extra ?? [])
        {
            body[key] = value?.DeepClone();
        }

        return body;
    }
}

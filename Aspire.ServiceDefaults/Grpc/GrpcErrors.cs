using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Rpc;
using Grpc.Core;

namespace ModelOps.ServiceDefaults.Grpc;

/// <summary>The page size of every listing RPC: the same bounds and default across services.</summary>
public static class Paging
{
    /// <summary>Most results one page returns.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>Results per page when the request asks for 0.</summary>
    public const int DefaultPageSize = 100;

    /// <summary>The page size to use for <paramref name="requested"/>; out of [0, <see cref="MaxPageSize"/>] adds a violation of <c>page_size</c>.</summary>
    public static int PageSize(int requested, FieldViolations violations)
    {
        violations.Require(requested is >= 0 and <= MaxPageSize, "page_size", $"must lie in [0, {MaxPageSize}] (0 means {DefaultPageSize})");
        return requested == 0 ? DefaultPageSize : Math.Clamp(requested, 1, MaxPageSize);
    }

    /// <summary>
    /// A fingerprint of the query a page token belongs to (its filter, order, scope), so that a token cannot be replayed
    /// on another query.
    /// </summary>
    public static string Fingerprint(params string[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\u001f", parts))))[..16];

    /// <summary>The token of the page that starts at <paramref name="offset"/>.</summary>
    public static string Token(long offset, string fingerprint) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{offset.ToString(CultureInfo.InvariantCulture)}:{fingerprint}"));

    /// <summary>
    /// The token of the next page when the query, asked for <paramref name="pageSize"/> + 1 rows, returned
    /// <paramref name="fetched"/> of them; empty when this page is the last.
    /// </summary>
    public static string NextToken(int fetched, int pageSize, long offset, string fingerprint) =>
        fetched > pageSize ? Token(offset + pageSize, fingerprint) : "";

    /// <summary>The offset a page token stands for (0 for none); a token of another query adds a violation of <c>page_token</c>.</summary>
    public static long Offset(string token, string fingerprint, FieldViolations violations)
    {
        if (token.Length == 0)
        {
            return 0;
        }

        try
        {
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(token)).Split(':');
            if (parts.Length == 2 && parts[1] == fingerprint &&
                long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                return offset;
            }
        }
        catch (FormatException)
        {
        }

        violations.Add("page_token", "is not a token this query returned");
        return 0;
    }
}

/// <summary>
/// Collects the field violations of one request and throws them together as
/// <c>INVALID_ARGUMENT</c> with <c>google.rpc.BadRequest</c> details, so a client sees every problem at once.
/// </summary>
public sealed class FieldViolations
{
    private readonly BadRequest _badRequest = new();

    /// <summary>Whether any violation was recorded.</summary>
    public bool Any => _badRequest.FieldViolations.Count > 0;

    /// <summary>The violations recorded so far.</summary>
    public IReadOnlyList<BadRequest.Types.FieldViolation> Items => _badRequest.FieldViolations;

    /// <summary>Records that <paramref name="field"/> (a path such as <c>metrics[3].key</c>) is wrong and why.</summary>
    public FieldViolations Add(string field, string description)
    {
        _badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = description });
        return this;
    }

    /// <summary>Records a violation when <paramref name="condition"/> is false.</summary>
    public FieldViolations Require(bool condition, string field, string description) =>
        condition ? this : Add(field, description);

    /// <summary>Throws <c>INVALID_ARGUMENT</c> carrying every violation, if there is any.</summary>
    public void ThrowIfAny(string message = "The request is invalid.")
    {
        if (Any)
        {
            throw ToException(message);
        }
    }

    /// <summary>The <c>INVALID_ARGUMENT</c> exception carrying these violations.</summary>
    public RpcException ToException(string message) =>
        new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = $"{message} {string.Join("; ", Items.Select(v => $"{v.Field}: {v.Description}"))}",
            Details = { Google.Protobuf.WellKnownTypes.Any.Pack(_badRequest) },
        }.ToRpcException();
}

/// <summary>Helpers that throw the gRPC status a handler means.</summary>
public static class GrpcErrors
{
    /// <summary>Throws <c>INVALID_ARGUMENT</c> for one field.</summary>
    [DoesNotReturn]
    public static void InvalidArgument(string field, string description) =>
        throw new FieldViolations().Add(field, description).ToException("The request is invalid.");

    /// <summary>Throws <c>NOT_FOUND</c> naming what is missing.</summary>
    [DoesNotReturn]
    public static void NotFound(string what) =>
        throw new RpcException(new global::Grpc.Core.Status(StatusCode.NotFound, $"{what} was not found."));

    /// <summary>Throws <c>ALREADY_EXISTS</c> with the reason.</summary>
    [DoesNotReturn]
    public static void AlreadyExists(string reason) =>
        throw new RpcException(new global::Grpc.Core.Status(StatusCode.AlreadyExists, reason));

    /// <summary>Throws <c>FAILED_PRECONDITION</c> with the reason.</summary>
    [DoesNotReturn]
    public static void FailedPrecondition(string reason) =>
        throw new RpcException(new global::Grpc.Core.Status(StatusCode.FailedPrecondition, reason));

    /// <summary>Throws <c>PERMISSION_DENIED</c> with the reason.</summary>
    [DoesNotReturn]
    public static void PermissionDenied(string reason) =>
        throw new RpcException(new global::Grpc.Core.Status(StatusCode.PermissionDenied, reason));
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ModelOps.ServiceDefaults.Errors;

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

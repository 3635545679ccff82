using System.Globalization;
using System.Text;
using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Wire;

/// <summary>MLflow's paging parameters: max_results bounds, view types, and offset tokens for what the façade pages itself.</summary>
public static class Paging
{
    private const string OffsetPrefix = "offset:";
    private const string StepPrefix = "step:";

    /// <summary><paramref name="requested"/> or <paramref name="fallback"/>; 400 outside [1, <paramref name="max"/>].</summary>
    public static int MaxResults(long? requested, int fallback, int max)
    {
        var value = requested ?? fallback;
        return value is >= 1 && value <= max
            ? (int)value
            : throw MlflowError.InvalidParameter($"Invalid value {value} for parameter 'max_results' supplied. It must be at most {max} and positive.");
    }

    /// <summary>ACTIVE_ONLY (the default), DELETED_ONLY or ALL.</summary>
    public static RunViewType ViewType(string? value, string field) => value?.ToUpperInvariant() switch
    {
        null or "" or "ACTIVE_ONLY" or "1" => RunViewType.ActiveOnly,
        "DELETED_ONLY" or "2" => RunViewType.DeletedOnly,
        "ALL" or "3" => RunViewType.All,
        _ => throw MlflowError.InvalidParameter($"Invalid value '{value}' for parameter '{field}': one of ACTIVE_ONLY, DELETED_ONLY, ALL."),
    };

    /// <summary>One page of <paramref name="items"/> from the offset in <paramref name="token"/>, and the next page's token (null on the last page).</summary>
    public static (List<T> Items, string? Next) Slice<T>(IEnumerable<T> items, string? token, int size)
    {
        var offset = Offset(token);
        var page = items.Skip(offset).Take(size + 1).ToList();
        if (page.Count <= size)
        {
            return (page, null);
        }

        page.RemoveAt(size);
        return (page, Token(offset + size));
    }

    /// <summary>The offset a token of <see cref="Slice{T}"/> holds; 0 for none (an empty token is the first page, as MLflow reads it).</summary>
    public static int Offset(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            if (text.StartsWith(OffsetPrefix, StringComparison.Ordinal) &&
                int.TryParse(text.AsSpan(OffsetPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                return offset;
            }
        }
        catch (FormatException)
        {
        }

        throw MlflowError.InvalidParameter("Invalid page token.");
    }

    /// <summary>A metric-history token: the page starts at <paramref name="step"/>, past <paramref name="skip"/> of its points.</summary>
    public static string StepToken(long step, int skip) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{StepPrefix}{step}:{skip}")));

    /// <summary>The step and skip of a <see cref="StepToken"/>; (0, 0) for none.</summary>
    public static (long Step, int Skip) ParseStepToken(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return (0, 0);
        }

        try
        {
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(token)).Split(':');
            if (parts.Length == 3 && parts[0] + ":" == StepPrefix &&
                long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var step) &&
                int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var skip))
            {
                return (step, skip);
            }
        }
        catch (FormatException)
        {
        }

        throw MlflowError.InvalidParameter("Invalid page token.");
    }

    /// <summary>The token of the page at <paramref name="offset"/>.</summary>
    public static string Token(int offset) => Convert.ToBase64String(Encoding.UTF8.GetBytes(OffsetPrefix + offset.ToString(CultureInfo.InvariantCulture)));
}

/// <summary>Orders values of mixed kinds: missing last, then numbers, then text by ordinal.</summary>
public sealed class OrderComparer : IComparer<object?>
{
    /// <summary>The one instance.</summary>
    public static readonly OrderComparer Instance = new();

    /// <inheritdoc />
    public int Compare(object? x, object? y) => (x, y) switch
    {
        (null, null) => 0,
        (null, _) => 1,
        (_, null) => -1,
        (IConvertible a, IConvertible b) when a is not string && b is not string =>
            a.ToDouble(CultureInfo.InvariantCulture).CompareTo(b.ToDouble(CultureInfo.InvariantCulture)),
        _ => string.CompareOrdinal(Convert.ToString(x, CultureInfo.InvariantCulture), Convert.ToString(y, CultureInfo.InvariantCulture)),
    };
}

/// <summary>Rules for keys clients write.</summary>
public static class TagRules
{
    /// <summary>The prefix of tags only ModelOps writes.</summary>
    public const string ReservedPrefix = "modelops.";

    /// <summary><paramref name="key"/>, refused when missing or in ModelOps' reserved namespace.</summary>
    public static string ClientKey(string? key, string field)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw MlflowError.Missing(field == "key" ? "key" : $"{field}.key");
        }

        return key.StartsWith(ReservedPrefix, StringComparison.OrdinalIgnoreCase)
            ? throw MlflowError.InvalidParameter($"Tag key '{key}' is in the '{ReservedPrefix}' namespace, which only ModelOps writes.")
            : key;
    }
}

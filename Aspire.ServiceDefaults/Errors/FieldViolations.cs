using Google.Rpc;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>
/// Collects the field violations of one request and throws them together as <c>INVALID_ARGUMENT</c> with
/// <c>google.rpc.BadRequest</c> details, so a client sees every problem at once. Field paths and descriptions are
/// clipped (a field path may hold a key the client chose), and at most <see cref="MaxViolations"/> are kept, so an
/// error stays small whatever the request held.
/// </summary>
public sealed class FieldViolations
{
    /// <summary>Most violations one error carries; the rest are counted in a last one.</summary>
    public const int MaxViolations = 50;

    /// <summary>Longest field path kept.</summary>
    public const int MaxFieldLength = 120;

    /// <summary>Longest description kept.</summary>
    public const int MaxDescriptionLength = 300;

    private readonly List<BadRequest.Types.FieldViolation> _items = [];
    private int _dropped;

    /// <summary>Whether any violation was recorded.</summary>
    public bool Any => _items.Count > 0;

    /// <summary>The violations recorded so far (at most <see cref="MaxViolations"/>).</summary>
    public IReadOnlyList<BadRequest.Types.FieldViolation> Items => _items;

    /// <summary>Records that <paramref name="field"/> (a path such as <c>metrics[3].key</c>) is wrong and why.</summary>
    public FieldViolations Add(string field, string description)
    {
        if (_items.Count >= MaxViolations)
        {
            _dropped++;
            return this;
        }

        _items.Add(new BadRequest.Types.FieldViolation
        {
            Field = TextRules.Clip(field, MaxFieldLength),
            Description = TextRules.Clip(description, MaxDescriptionLength),
        });
        return this;
    }

    /// <summary>Records a violation when <paramref name="condition"/> is false.</summary>
    public FieldViolations Require(bool condition, string field, string description) =>
        condition ? this : Add(field, description);

    /// <summary>Throws <c>INVALID_ARGUMENT</c> carrying every violation, if there is any.</summary>
    public void ThrowIfAny(string message = "The request is invalid.", string reason = "INVALID_REQUEST")
    {
        if (Any)
        {
            throw ToException(message, reason);
        }
    }

    /// <summary>The <c>INVALID_ARGUMENT</c> exception carrying these violations.</summary>
    public ServiceException ToException(string message = "The request is invalid.", string reason = "INVALID_REQUEST")
    {
        var items = _items.ToList();
        if (_dropped > 0)
        {
            items.Add(new BadRequest.Types.FieldViolation { Field = "", Description = $"and {_dropped} more violations" });
        }

        // The message names the first few fields; the details carry them all.
        var summary = string.Join("; ", items.Take(3).Select(v => v.Field.Length > 0 ? $"{v.Field}: {v.Description}" : v.Description));
        var more = items.Count > 3 ? $" (and {items.Count - 3} more)" : "";
        return new ServiceException(ErrorKind.InvalidArgument, reason, TextRules.Clip($"{message} {summary}{more}", 1000))
        {
            FieldViolations = items,
        };
    }
}

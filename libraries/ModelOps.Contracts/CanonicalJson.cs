using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ModelOps.Contracts;

/// <summary>
/// RFC 8785 JSON Canonicalization Scheme: the one byte sequence every conforming implementation produces for a JSON
/// value — members sorted by UTF-16 code units, no whitespace, minimal string escapes, numbers as ECMAScript prints
/// them. Ledger entries and run records are hashed in this form, so an auditor's own implementation agrees with ours.
/// Written here because System.Text.Json has no canonical writer and no maintained .NET JCS package is available.
/// </summary>
public static class CanonicalJson
{
    /// <summary>Deepest nesting of arrays and objects accepted.</summary>
    public const int MaxDepth = 64;

    /// <summary>The canonical UTF-8 form of the JSON text <paramref name="utf8Json"/>.</summary>
    /// <exception cref="JsonException">
    /// The text is not I-JSON: malformed, nested deeper than <see cref="MaxDepth"/>, an object repeats a member name, a
    /// string holds a lone surrogate, or a number is beyond an IEEE double.
    /// </exception>
    public static byte[] Canonicalize(ReadOnlySpan<byte> utf8Json)
    {
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions
        {
            AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = MaxDepth,
        });
        using var document = JsonDocument.ParseValue(ref reader);
        return Serialize(document.RootElement);
    }

    /// <summary>The canonical UTF-8 form of <paramref name="element"/>.</summary>
    /// <exception cref="JsonException">The value is not I-JSON (see <see cref="Canonicalize"/>).</exception>
    public static byte[] Serialize(JsonElement element)
    {
        var builder = new StringBuilder();
        try
        {
            Write(builder, element);
        }
        catch (InvalidOperationException exception)
        {
            // System.Text.Json refuses to decode a string whose \uD800-\uDFFF escape has no partner.
            throw new JsonException("A string holds a lone surrogate (an unpaired \\uD800 to \\uDFFF escape), which has no UTF-8 form.", exception);
        }
        catch (Exception exception) when (exception is FormatException or ArgumentOutOfRangeException)
        {
            throw new JsonException("A number lies beyond the range of an IEEE double.", exception);
        }

        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>The ECMAScript Number::toString form of a finite double (RFC 8785 §3.2.2.3).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite, which JSON cannot hold.</exception>
    public static string FormatNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), "NaN and infinities have no JSON form.");
        }

        if (value == 0)
        {
            return "0"; // also -0
        }

        // .NET prints the shortest digit string that round-trips, which is what ECMAScript asks for;
        // only the layout (where the point and exponent go) differs, and is redone here.
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = text[0] == '-';
        if (negative)
        {
            text = text[1..];
        }

        var exponent = 0;
        var e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }

        var point = text.IndexOf('.');
        var integral = point < 0 ? text : text[..point];
        var digits = integral + (point < 0 ? "" : text[(point + 1)..]);
        var n = integral.Length + exponent; // value = 0.digits × 10^n
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits[leadingZeros..].TrimEnd('0');
        n -= leadingZeros;
        var k = digits.Length;

        string result;
        if (k <= n && n <= 21)
        {
            result = digits + new string('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            result = $"{digits[..n]}.{digits[n..]}";
        }
        else if (-6 < n && n <= 0)
        {
            result = $"0.{new string('0', -n)}{digits}";
        }
        else
        {
            var shown = n - 1;
            var mantissa = k == 1 ? digits : $"{digits[0]}.{digits[1..]}";
            result = $"{mantissa}e{(shown < 0 ? "-" : "+")}{Math.Abs(shown).ToString(CultureInfo.InvariantCulture)}";
        }

        return negative ? "-" + result : result;
    }

    private static void Write(StringBuilder output, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var members = element.EnumerateObject().ToList();
                members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                for (var i = 1; i < members.Count; i++)
                {
                    if (members[i].Name == members[i - 1].Name)
                    {
                        throw new JsonException($"The member name \"{members[i].Name}\" occurs twice; I-JSON forbids that.");
                    }
                }

                output.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0)
                    {
                        output.Append(',');
                    }

                    WriteString(output, members[i].Name);
                    output.Append(':');
                    Write(output, members[i].Value);
                }

                output.Append('}');
                break;
            case JsonValueKind.Array:
                output.Append('[');
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        output.Append(',');
                    }

                    first = false;
                    Write(output, item);
                }

                output.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(output, element.GetString()!);
                break;
            case JsonValueKind.Number:
                output.Append(FormatNumber(element.GetDouble()));
                break;
            case JsonValueKind.True:
                output.Append("true");
                break;
            case JsonValueKind.False:
                output.Append("false");
                break;
            case JsonValueKind.Null:
                output.Append("null");
                break;
            default:
                throw new JsonException($"Unexpected JSON value kind {element.ValueKind}.");
        }
    }

    private static void WriteString(StringBuilder output, string value)
    {
        output.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"':
                    output.Append("\\\"");
                    break;
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\b':
                    output.Append("\\b");
                    break;
                case '\f':
                    output.Append("\\f");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '\r':
                    output.Append("\\r");
                    break;
                case '\t':
                    output.Append("\\t");
                    break;
                default:
                    if (c < 0x20)
                    {
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])))
                    {
                        throw new JsonException("A string holds a lone surrogate, which has no UTF-8 form.");
                    }
                    else
                    {
                        output.Append(c);
                        if (char.IsHighSurrogate(c))
                        {
                            output.Append(value[++i]);
                        }
                    }

                    break;
            }
        }

        output.Append('"');
    }
}

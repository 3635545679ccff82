using System.Globalization;
using System.Text;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>
/// The rules every service applies to text it is given, so that one name has one spelling everywhere and nothing a
/// client sends can hide itself, reorder what a person reads, or break storage.
/// <list type="bullet">
/// <item><b>Names</b> (ids, keys, paths, labels, column names): no control or format character (NUL, ESC, the
/// bidirectional overrides and isolates, zero-width characters, the BOM), no line or paragraph separator, no U+FFFD (the
/// mark of bytes that were not UTF-8); normalised to NFC before they are compared or stored.</item>
/// <item><b>Free text</b> (descriptions, comments, reasons, values): tab, line feed and carriage return allowed; no other
/// C0 or C1 control character (NUL, ESC) and no bidirectional override or isolate.</item>
/// </list>
/// Lengths count UTF-16 code units, as the protos document them. Lone surrogates cannot arrive in a protobuf string (its
/// UTF-8 cannot encode them); inside JSON text they are refused where JSON is parsed.
/// </summary>
public static class TextRules
{
    /// <summary>How much of a refused value an error message shows.</summary>
    public const int EchoLength = 40;

    /// <summary>
    /// Checks a name: required unless <paramref name="required"/> is false, at most <paramref name="maxLength"/> code
    /// units, no control, format or separator character. Returns its NFC form (what to compare and store).
    /// </summary>
    public static string Name(FieldViolations violations, string field, string value, int maxLength, bool required = true)
    {
        if (value.Length == 0)
        {
            violations.Require(!required, field, "is required");
            return value;
        }

        if (value.Length > maxLength)
        {
            violations.Add(field, $"is {value.Length} characters long: at most {maxLength}");
            return value;
        }

        if (NameProblem(value) is { } problem)
        {
            violations.Add(field, problem);
            return value;
        }

        var normalised = Nfc(value);
        violations.Require(normalised.Length <= maxLength, field, $"is {normalised.Length} characters long in NFC: at most {maxLength}");
        return normalised;
    }

    /// <summary>Checks free text: at most <paramref name="maxLength"/> code units, no control character but tab and line breaks.</summary>
    public static void FreeText(FieldViolations violations, string field, string value, int maxLength, bool required = false)
    {
        if (value.Length == 0)
        {
            violations.Require(!required, field, "is required");
        }
        else if (value.Length > maxLength)
        {
            violations.Add(field, $"is {value.Length} characters long: at most {maxLength}");
        }
        else if (FreeTextProblem(value) is { } problem)
        {
            violations.Add(field, problem);
        }
        else
        {
            violations.Require(!required || value.AsSpan().Trim().Length > 0, field, "is required: it holds only blanks");
        }
    }

    /// <summary>Why <paramref name="value"/> is not acceptable as a name, or null.</summary>
    public static string? NameProblem(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(value, i);
                if (category is UnicodeCategory.Format)
                {
                    return $"contains the format character {CodePoint(value, i)} at {i}";
                }

                i++;
                continue;
            }

            switch (CharUnicodeInfo.GetUnicodeCategory(c))
            {
                case UnicodeCategory.Control:
                    return $"contains the control character {CodePoint(value, i)} at {i}";
                case UnicodeCategory.Format:
                    return $"contains the invisible format character {CodePoint(value, i)} at {i} (a bidirectional override, zero-width character or BOM)";
                case UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator:
                    return $"contains the separator {CodePoint(value, i)} at {i}";
                case UnicodeCategory.Surrogate:
                    return $"contains a lone surrogate at {i}";
            }

            if (c == '\uFFFD')
            {
                return $"contains U+FFFD at {i}: the text was not valid UTF-8";
            }
        }

        return null;
    }

    /// <summary>Why <paramref name="value"/> is not acceptable as free text, or null.</summary>
    public static string? FreeTextProblem(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '\t' or '\n' or '\r')
            {
                continue;
            }

            if (char.IsControl(c))
            {
                return $"contains the control character {CodePoint(value, i)} at {i}";
            }

            if (IsBidiControl(c))
            {
                return $"contains the bidirectional control {CodePoint(value, i)} at {i}";
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return $"contains a lone surrogate at {i}";
            }
        }

        return null;
    }

    /// <summary>Longest text read as a UUID; longer text is refused before it is parsed.</summary>
    public const int MaxUuidLength = 64;

    /// <summary>The UUID <paramref name="value"/> holds, else INVALID_ARGUMENT naming <paramref name="field"/>: "must be a UUID".</summary>
    public static Guid Uuid(string field, string value) =>
        value.Length <= MaxUuidLength && Guid.TryParse(value, out var id) ? id : throw ServiceErrors.InvalidArgument(field, "must be a UUID");

    /// <summary>The NFC form of <paramref name="value"/>: one spelling of one name (é as one code point, not e + ◌́).</summary>
    public static string Nfc(string value) => value.IsNormalized(NormalizationForm.FormC) ? value : value.Normalize(NormalizationForm.FormC);

    /// <summary>
    /// A short, quoted, printable prefix of what a client sent, for error messages: at most <paramref name="max"/>
    /// characters, control and format characters shown as <c>\uXXXX</c>.
    /// </summary>
    public static string Echo(string value, int max = EchoLength) => $"'{Clip(value, max)}'";

    /// <summary>
    /// <paramref name="value"/> cut to at most <paramref name="max"/> characters, an ellipsis marking a cut, with
    /// control and format characters shown as <c>\uXXXX</c>, for messages, metadata and logs.
    /// </summary>
    public static string Clip(string value, int max = 200)
    {
        var builder = new StringBuilder(Math.Min(value.Length, max) + 8);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            var pair = char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]);
            string piece;
            if (pair)
            {
                piece = value.Substring(i, 2);
            }
            else if (char.IsControl(c) || char.IsSurrogate(c) || IsInvisible(c))
            {
                piece = string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else
            {
                piece = c.ToString();
            }

            // Room for the piece, and for the ellipsis that marks a cut if more follows: never more than max shown.
            var last = i + (pair ? 2 : 1) >= value.Length;
            if (builder.Length + piece.Length > (last ? max : max - 1))
            {
                builder.Append('…');
                break;
            }

            builder.Append(piece);
            i += pair ? 1 : 0;
        }

        return builder.ToString();
    }

    private static bool IsInvisible(char c) =>
        CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    // LRE, RLE, PDF, LRO, RLO and the isolates LRI, RLI, FSI, PDI: they reorder what a reader sees (CVE-2021-42574).
    private static bool IsBidiControl(char c) => c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';

    private static string CodePoint(string value, int index) =>
        char.IsHighSurrogate(value[index]) && index + 1 < value.Length && char.IsLowSurrogate(value[index + 1])
            ? string.Create(CultureInfo.InvariantCulture, $"U+{char.ConvertToUtf32(value[index], value[index + 1]):X4}")
            : string.Create(CultureInfo.InvariantCulture, $"U+{(int)value[index]:X4}");
}

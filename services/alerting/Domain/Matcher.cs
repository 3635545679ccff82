using System.Text;
using System.Text.RegularExpressions;

namespace ModelOps.Alerting.Domain;

/// <summary>How a matcher compares a label's value, in Alertmanager's order (which sorts matchers).</summary>
public enum MatcherType
{
    /// <summary><c>=</c></summary>
    Equal,

    /// <summary><c>!=</c></summary>
    NotEqual,

    /// <summary><c>=~</c>: the whole value matches the expression.</summary>
    Regexp,

    /// <summary><c>!~</c></summary>
    NotRegexp,
}

/// <summary>
/// A label matcher with Alertmanager's syntax and meaning: <c>name="value"</c>, <c>name!=value</c>,
/// <c>name=~"re"</c>, <c>name!~"re"</c>. A regular expression must match the whole value; an absent label has the
/// value "". Expressions run on .NET's non-backtracking engine, which, like Go's RE2, has no backreferences or
/// look-arounds and runs in time linear in the value.
/// </summary>
public sealed partial class Matcher : IComparable<Matcher>
{
    private readonly Regex? _regex;

    private Matcher(MatcherType type, string name, string value, Regex? regex)
    {
        Type = type;
        Name = name;
        Value = value;
        _regex = regex;
    }

    /// <summary>The longest matcher value accepted, in characters.</summary>
    public const int MaxValueLength = 1024;

    /// <summary>How the value is compared.</summary>
    public MatcherType Type { get; }

    /// <summary>The label name.</summary>
    public string Name { get; }

    /// <summary>The value or expression.</summary>
    public string Value { get; }

    /// <summary>A matcher, or <see cref="FormatException"/> naming what is wrong.</summary>
    public static Matcher Create(MatcherType type, string name, string value)
    {
        if (!MatcherName().IsMatch(name))
        {
            throw new FormatException($"invalid label name \"{name}\"");
        }

        if (value.Length > MaxValueLength)
        {
            throw new FormatException($"the value of matcher {name} is longer than {MaxValueLength} characters");
        }

        Regex? regex = null;
        if (type is MatcherType.Regexp or MatcherType.NotRegexp)
        {
            try
            {
                regex = new Regex($"\\A(?:{value})\\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw new FormatException($"invalid regular expression \"{value}\" in matcher {name}: {e.Message}");
            }
        }

        return new Matcher(type, name, value, regex);
    }

    /// <summary>Whether <paramref name="labels"/> satisfy this matcher.</summary>
    public bool Matches(LabelSet labels)
    {
        var value = labels[Name];
        return Type switch
        {
            MatcherType.Equal => value == Value,
            MatcherType.NotEqual => value != Value,
            MatcherType.Regexp => _regex!.IsMatch(value),
            _ => !_regex!.IsMatch(value),
        };
    }

    /// <summary>The operator's text.</summary>
    public string Operator => Type switch
    {
        MatcherType.Equal => "=",
        MatcherType.NotEqual => "!=",
        MatcherType.Regexp => "=~",
        _ => "!~",
    };

    /// <summary>Alertmanager's form: <c>name="value"</c> with OpenMetrics escaping of the value.</summary>
    public override string ToString() =>
        $"{Name}{Operator}\"{Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"";

    /// <summary>Alertmanager's order: by name, then value, then type.</summary>
    public int CompareTo(Matcher? other)
    {
        if (other is null)
        {
            return 1;
        }

        var byName = string.CompareOrdinal(Name, other.Name);
        if (byName != 0)
        {
            return byName;
        }

        var byValue = string.CompareOrdinal(Value, other.Value);
        return byValue != 0 ? byValue : Type.CompareTo(other.Type);
    }

    /// <summary>
    /// One matcher in Alertmanager's syntax (<c>pkg/labels.ParseMatcher</c>): a label name, an operator and a value
    /// that may be double-quoted, with <c>\"</c>, <c>\n</c> and <c>\\</c> escapes; whitespace around tokens is ignored.
    /// </summary>
    public static Matcher Parse(string text)
    {
        var match = MatcherSyntax().Match(text);
        if (!match.Success)
        {
            throw new FormatException($"bad matcher format: {text}");
        }

        var raw = match.Groups[3].Value;
        if (raw.Length == 0)
        {
            throw new FormatException($"matcher value is not present: {text}");
        }

        var quoted = raw.StartsWith('"');
        if (quoted)
        {
            raw = raw[1..];
        }

        var value = new StringBuilder(raw.Length);
        var escaped = false;
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (escaped)
            {
                escaped = false;
                _ = c switch
                {
                    'n' => value.Append('\n'),
                    '"' or '\\' => value.Append(c),
                    _ => value.Append('\\').Append(c),
                };
                continue;
            }

            switch (c)
            {
                case '\\' when i < raw.Length - 1:
                    escaped = true;
                    break;
                case '"':
                    if (!quoted || i < raw.Length - 1)
                    {
                        throw new FormatException($"matcher value contains unescaped double quote: {match.Groups[3].Value}");
                    }

                    quoted = false;
                    break;
                default:
                    value.Append(c);
                    break;
            }
        }

        if (quoted)
        {
            throw new FormatException($"matcher value contains unescaped double quote: {match.Groups[3].Value}");
        }

        var type = match.Groups[2].Value switch
        {
            "=" => MatcherType.Equal,
            "!=" => MatcherType.NotEqual,
            "=~" => MatcherType.Regexp,
            _ => MatcherType.NotRegexp,
        };
        return Create(type, match.Groups[1].Value, value.ToString());
    }

    /// <summary>
    /// A comma-separated list of matchers (<c>pkg/labels.ParseMatchers</c>): optional braces around it, commas inside
    /// double quotes kept, a trailing comma allowed.
    /// </summary>
    public static IReadOnlyList<Matcher> ParseList(string text)
    {
        if (text.StartsWith('{'))
        {
            text = text[1..];
        }

        if (text.EndsWith('}'))
        {
            text = text[..^1];
        }

        List<string> tokens = [];
        var token = new StringBuilder();
        bool insideQuotes = false, escaped = false;
        foreach (var c in text)
        {
            switch (c)
            {
                case ',' when !insideQuotes:
                    tokens.Add(token.ToString());
                    token.Clear();
                    continue;
                case '"':
                    if (!escaped)
                    {
                        insideQuotes = !insideQuotes;
                    }
                    else
                    {
                        escaped = false;
                    }

                    break;
                case '\\':
                    escaped = !escaped;
                    break;
                default:
                    escaped = false;
                    break;
            }

            token.Append(c);
        }

        var last = token.ToString().Trim();
        if (last.Length > 0)
        {
            tokens.Add(last);
        }

        return [.. tokens.Select(Parse)];
    }

    /// <summary>Prometheus's label names.</summary>
    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    public static partial Regex LabelName();

    // Matchers accept the colons of recording-rule names, as Alertmanager's do.
    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MatcherName();

    // '=~' before '=', so that the '~' is not taken as the start of the value.
    [GeneratedRegex(@"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$")]
    private static partial Regex MatcherSyntax();
}

/// <summary>A conjunction of matchers, kept in Alertmanager's order.</summary>
public sealed class Matchers
{
    /// <summary>No matcher: matches everything.</summary>
    public static Matchers None { get; } = new([]);

    /// <summary>The matchers, sorted.</summary>
    public IReadOnlyList<Matcher> Items { get; }

    /// <summary>Sorts <paramref name="items"/>.</summary>
    public Matchers(IEnumerable<Matcher> items)
    {
        var sorted = items.ToList();
        sorted.Sort();
        Items = sorted;
    }

    /// <summary>Whether every matcher holds.</summary>
    public bool Matches(LabelSet labels) => Items.All(m => m.Matches(labels));

    /// <summary><c>{a="1",b=~"2"}</c>, as Alertmanager prints a route's matchers in its keys.</summary>
    public override string ToString() => "{" + string.Join(',', Items) + "}";
}

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ModelOps.Mlflow.Wire;

/// <summary>What a filter clause names: <c>metrics.loss</c> is (metric, loss); a bare <c>status</c> is an attribute.</summary>
public sealed record FilterKey(string Entity, string Key)
{
    /// <summary>The entity words MLflow accepts, by the entity they name.</summary>
    public static string Normalise(string prefix) => prefix.ToLowerInvariant() switch
    {
        "metric" or "metrics" => "metric",
        "param" or "params" or "parameter" or "parameters" => "param",
        "tag" or "tags" => "tag",
        "attribute" or "attributes" or "attr" or "run" => "attribute",
        "dataset" or "datasets" => "dataset",
        _ => throw MlflowError.InvalidParameter(
            $"Invalid entity type '{prefix}'. Valid values are metrics, params, tags, attributes and datasets."),
    };
}

/// <summary>
/// One clause of an MLflow filter: <c>key comparator value</c>, or <c>key [NOT] IN ('a', 'b')</c>. The value is a
/// <see cref="double"/>, a <see cref="string"/>, or a list of strings for IN.
/// </summary>
public sealed record FilterClause(FilterKey Key, string Comparator, object Value)
{
    /// <summary>Whether <paramref name="actual"/> satisfies the clause (a missing value satisfies only <c>!=</c>, as MLflow's prompt filter needs).</summary>
    public bool Matches(object? actual)
    {
        if (actual is null)
        {
            return Comparator is "!=" or "NOT IN";
        }

        if (Value is List<string> list)
        {
            var text = Convert.ToString(actual, CultureInfo.InvariantCulture);
            return list.Contains(text!) == (Comparator == "IN");
        }

        if (Value is double number)
        {
            var value = Convert.ToDouble(actual, CultureInfo.InvariantCulture);
            return Comparator switch
            {
                "=" => value == number,
                "!=" => value != number,
                "<" => value < number,
                "<=" => value <= number,
                ">" => value > number,
                ">=" => value >= number,
                _ => throw MlflowError.InvalidParameter($"Invalid comparator '{Comparator}' for a number."),
            };
        }

        var left = Convert.ToString(actual, CultureInfo.InvariantCulture)!;
        var right = (string)Value;
        return Comparator switch
        {
            "=" => left == right,
            "!=" => left != right,
            "LIKE" => Like(right, RegexOptions.None).IsMatch(left),
            "ILIKE" => Like(right, RegexOptions.IgnoreCase).IsMatch(left),
            _ => throw MlflowError.InvalidParameter($"Invalid comparator '{Comparator}' for a string."),
        };
    }

    private static Regex Like(string pattern, RegexOptions options)
    {
        var regex = new StringBuilder("^");
        foreach (var c in pattern)
        {
            regex.Append(c switch { '%' => ".*", '_' => ".", _ => Regex.Escape(c.ToString()) });
        }

        return new Regex(regex.Append('$').ToString(), options | RegexOptions.Singleline | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
    }
}

/// <summary>
/// MLflow's search filter language, as its server accepts it: clauses joined by AND (OR, NOT and parentheses around
/// clauses are refused, as MLflow refuses them); keys with special characters quoted with backticks or double quotes;
/// strings in single or double quotes. Parsed by hand because it is small and its errors must be MLflow's 400s, not a
/// library's exceptions; bounded before parsing.
/// </summary>
public static class MlflowFilter
{
    /// <summary>Longest filter parsed; a longer one is refused unread.</summary>
    public const int MaxLength = 4000;

    /// <summary>Most clauses in one filter.</summary>
    public const int MaxClauses = 100;

    private static readonly string[] Comparators = ["<=", ">=", "!=", "<>", "=", "<", ">"];

    /// <summary>The clauses of <paramref name="filter"/>; none when it is empty.</summary>
    public static List<FilterClause> Parse(string? filter)
    {
        if (string.IsNullOrWhiteSpace(filter))
        {
            return [];
        }

        if (filter.Length > MaxLength)
        {
            throw MlflowError.InvalidParameter($"The filter is {filter.Length} characters long; at most {MaxLength} are accepted.");
        }

        var tokens = Tokenize(filter);
        var clauses = new List<FilterClause>();
        var i = 0;
        while (true)
        {
            var key = ReadKey(tokens, ref i, filter);
            clauses.Add(ReadComparison(key, tokens, ref i, filter));
            if (clauses.Count > MaxClauses)
            {
                throw MlflowError.InvalidParameter($"The filter has more than {MaxClauses} clauses.");
            }

            if (i == tokens.Count)
            {
                return clauses;
            }

            if (!tokens[i].IsWord("AND"))
            {
                throw Invalid(filter, $"expected AND at position {tokens[i].Position}");
            }

            i++;
        }
    }

    /// <summary>An order_by entry: <c>metrics.loss DESC</c>, <c>name</c>; ascending unless DESC.</summary>
    public static (FilterKey Key, bool Descending) ParseOrder(string entry)
    {
        if (entry.Length > 500)
        {
            throw MlflowError.InvalidParameter($"An order_by entry is {entry.Length} characters long; at most 500 are accepted.");
        }

        var tokens = Tokenize(entry);
        var i = 0;
        var key = ReadKey(tokens, ref i, entry);
        var descending = false;
        if (i < tokens.Count && (tokens[i].IsWord("ASC") || tokens[i].IsWord("DESC")))
        {
            descending = tokens[i++].IsWord("DESC");
        }

        return i == tokens.Count ? (key, descending) : throw MlflowError.InvalidParameter($"Invalid order_by clause '{entry}'.");
    }

    private static FilterKey ReadKey(List<Token> tokens, ref int i, string text)
    {
        if (i >= tokens.Count || tokens[i].Kind is not (TokenKind.Word or TokenKind.Quoted or TokenKind.Backquoted))
        {
            throw Invalid(text, "expected an identifier such as metrics.loss or tags.`mlflow.user`");
        }

        var token = tokens[i++];
        if (token.Kind != TokenKind.Word)
        {
            return new FilterKey("attribute", token.Text);
        }

        var dot = token.Text.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            return new FilterKey("attribute", token.Text);
        }

        var entity = FilterKey.Normalise(token.Text[..dot]);
        var key = token.Text[(dot + 1)..];
        if (key.Length == 0)
        {
            // metrics."f1-score" or tags.`mlflow.user`: the key is the quoted token that follows.
            if (i >= tokens.Count || tokens[i].Kind is not (TokenKind.Quoted or TokenKind.Backquoted or TokenKind.String))
            {
                throw Invalid(text, $"expected a key after '{token.Text}'");
            }

            key = tokens[i++].Text;
        }

        return new FilterKey(entity, key);
    }

    private static FilterClause ReadComparison(FilterKey key, List<Token> tokens, ref int i, string text)
    {
        if (i >= tokens.Count)
        {
            throw Invalid(text, "expected a comparator");
        }

        var op = tokens[i++];
        string comparator;
        if (op.Kind == TokenKind.Operator)
        {
            comparator = op.Text == "<>" ? "!=" : op.Text;
        }
        else if (op.IsWord("LIKE") || op.IsWord("ILIKE") || op.IsWord("IN"))
        {
            comparator = op.Text.ToUpperInvariant();
        }
        else if (op.IsWord("NOT") && i < tokens.Count && tokens[i].IsWord("IN"))
        {
            i++;
            comparator = "NOT IN";
        }
        else
        {
            throw Invalid(text, $"invalid comparator '{op.Text}'");
        }

        if (comparator is "IN" or "NOT IN")
        {
            if (i >= tokens.Count || tokens[i].Kind != TokenKind.Open)
            {
                throw Invalid(text, "expected '(' after IN");
            }

            i++;
            var values = new List<string>();
            while (true)
            {
                if (i >= tokens.Count || tokens[i].Kind is not (TokenKind.String or TokenKind.Quoted))
                {
                    throw Invalid(text, "expected a quoted string in the IN list");
                }

                values.Add(tokens[i++].Text);
                if (i < tokens.Count && tokens[i].Kind == TokenKind.Comma)
                {
                    i++;
                    continue;
                }

                if (i < tokens.Count && tokens[i].Kind == TokenKind.Close)
                {
                    i++;
                    return new FilterClause(key, comparator, values);
                }

                throw Invalid(text, "expected ',' or ')' in the IN list");
            }
        }

        if (i >= tokens.Count)
        {
            throw Invalid(text, "expected a value");
        }

        var value = tokens[i++];
        return value.Kind switch
        {
            TokenKind.String or TokenKind.Quoted => new FilterClause(key, comparator, value.Text),
            TokenKind.Word when double.TryParse(value.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) =>
                new FilterClause(key, comparator, number),
            _ => throw Invalid(text, $"expected a number or a quoted string, not '{value.Text}'"),
        };
    }

    private static MlflowError Invalid(string text, string why) =>
        MlflowError.InvalidParameter($"Invalid clause(s) in filter string: '{(text.Length > 200 ? text[..200] + "…" : text)}': {why}.");

    private enum TokenKind
    {
        Word,
        String,
        Quoted,
        Backquoted,
        Operator,
        Open,
        Close,
        Comma,
    }

    private sealed record Token(TokenKind Kind, string Text, int Position)
    {
        public bool IsWord(string word) => Kind == TokenKind.Word && string.Equals(Text, word, StringComparison.OrdinalIgnoreCase);
    }

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (c is '\'' or '"' or '`')
            {
                var start = i++;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw Invalid(text, $"the quote {c} at position {start} is never closed");
                    }

                    if (text[i] == c)
                    {
                        if (i + 1 < text.Length && text[i + 1] == c)
                        {
                            value.Append(c);
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    // MLflow's strings also take a backslash before their quote.
                    if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] == c)
                    {
                        value.Append(c);
                        i += 2;
                        continue;
                    }

                    value.Append(text[i++]);
                }

                tokens.Add(new Token(c switch { '\'' => TokenKind.String, '"' => TokenKind.Quoted, _ => TokenKind.Backquoted }, value.ToString(), start));
            }
            else if (c is '(' or ')' or ',')
            {
                tokens.Add(new Token(c switch { '(' => TokenKind.Open, ')' => TokenKind.Close, _ => TokenKind.Comma }, c.ToString(), i++));
            }
            else if (Comparators.FirstOrDefault(o => string.CompareOrdinal(text, i, o, 0, o.Length) == 0) is { } op)
            {
                tokens.Add(new Token(TokenKind.Operator, op, i));
                i += op.Length;
            }
            else if (char.IsLetterOrDigit(c) || c is '_' or '-' or '+' or '.' or '/' or ':')
            {
                var start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '-' or '+' or '.' or '/' or ':'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Word, text[start..i], start));
            }
            else if (c == ';')
            {
                throw Invalid(text, "a filter is one statement");
            }
            else
            {
                throw Invalid(text, $"unexpected character '{c}' at position {i}");
            }
        }

        return tokens;
    }
}

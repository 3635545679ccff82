using System.Globalization;
using System.Text;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Tracking.Search;

/// <summary>What a filter field names: a metric, a param, a tag or an attribute of the run.</summary>
public enum FieldKind
{
    /// <summary><c>metrics.&lt;key&gt;</c>: the run's latest value of that metric.</summary>
    Metric,

    /// <summary><c>params.&lt;key&gt;</c>.</summary>
    Param,

    /// <summary><c>tags.&lt;key&gt;</c>.</summary>
    Tag,

    /// <summary><c>attributes.&lt;name&gt;</c>: run_id, run_name, status, author, start_time, end_time.</summary>
    Attribute,
}

/// <summary>A field of a filter or an ordering.</summary>
public sealed record FilterField(FieldKind Kind, string Key, int Position);

/// <summary>A parsed filter.</summary>
public abstract record FilterNode;

/// <summary><c>field op value</c>; the value is a <see cref="double"/> or a <see cref="string"/>.</summary>
public sealed record Comparison(FilterField Field, string Operator, object Value, int ValuePosition) : FilterNode;

/// <summary>Both sides hold.</summary>
public sealed record AndNode(FilterNode Left, FilterNode Right) : FilterNode;

/// <summary>Either side holds.</summary>
public sealed record OrNode(FilterNode Left, FilterNode Right) : FilterNode;

/// <summary>One key of an ordering.</summary>
public sealed record OrderKey(FilterField Field, bool Descending);

/// <summary>A filter or an ordering that does not parse: where (0-based character position) and what was expected.</summary>
public sealed class FilterSyntaxException(int position, string message) : Exception(message)
{
    /// <summary>The 0-based character position of the problem.</summary>
    public int Position { get; } = position;
}

/// <summary>
/// The run search language: <c>metrics.auc &gt;= 0.75 AND (params.model = 'gbm' OR tags.team ILIKE 'risk%')</c>.
/// MLflow's language, plus OR and parentheses. A recursive-descent parser by hand: the grammar is ten lines, and
/// errors must name the position and what was expected, which a generated parser would not phrase for our users.
/// <code>
/// filter     := or EOF
/// or         := and ("OR" and)*
/// and        := primary ("AND" primary)*
/// primary    := "(" or ")" | comparison
/// comparison := field operator value
/// field      := prefix "." (name | `quoted` | "quoted")
/// operator   := "=" | "!=" | "&lt;" | "&lt;=" | "&gt;" | "&gt;=" | "LIKE" | "ILIKE"
/// value      := number | 'string' | "string"
/// </code>
/// </summary>
public static class RunFilter
{
    /// <summary>The attributes a filter or an ordering may name, and whether each is numeric.</summary>
    public static readonly IReadOnlyDictionary<string, bool> Attributes = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["run_id"] = false,
        ["run_name"] = false,
        ["status"] = false,
        ["author"] = false,
        ["start_time"] = true,
        ["end_time"] = true,
    };

    private static readonly string[] NumericOperators = ["=", "!=", "<", "<=", ">", ">="];
    private static readonly string[] TextOperators = ["=", "!=", "LIKE", "ILIKE"];

    /// <summary>
    /// Parses <paramref name="filter"/>; null when it is empty or blank. The caller refuses a filter longer than
    /// <see cref="Domain.Limits.MaxFilterLength"/> before calling; the parser itself refuses nesting deeper than
    /// <see cref="Domain.Limits.MaxFilterDepth"/> and more than <see cref="Domain.Limits.MaxFilterComparisons"/>
    /// comparisons, so its recursion and the query it leads to stay bounded whatever it is given.
    /// </summary>
    /// <exception cref="FilterSyntaxException">It does not parse, or compares a field in a way its type does not allow.</exception>
    public static FilterNode? Parse(string filter)
    {
        if (filter.Length > Domain.Limits.MaxFilterLength)
        {
            throw new FilterSyntaxException(Domain.Limits.MaxFilterLength, $"is {filter.Length} characters long: at most {Domain.Limits.MaxFilterLength}");
        }

        var parser = new Parser(Tokenize(filter));
        if (parser.Peek.Kind == TokenKind.End)
        {
            return null;
        }

        var node = parser.ParseOr();
        parser.Expect(TokenKind.End, "AND, OR or the end of the filter");
        return node;
    }

    /// <summary>Parses one ordering key such as <c>metrics.auc DESC</c>.</summary>
    public static OrderKey ParseOrderKey(string orderBy)
    {
        var parser = new Parser(Tokenize(orderBy));
        var field = parser.ParseField();
        var descending = false;
        if (parser.Peek.Kind == TokenKind.Word && parser.Peek.Text.ToUpperInvariant() is "ASC" or "DESC")
        {
            descending = parser.Next().Text.Equals("DESC", StringComparison.OrdinalIgnoreCase);
        }

        parser.Expect(TokenKind.End, "ASC, DESC or the end of the ordering");
        return new OrderKey(field, descending);
    }

    private enum TokenKind
    {
        Word,
        Quoted,
        Backquoted,
        String,
        Number,
        Operator,
        Dot,
        Open,
        Close,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Position, char Quote = '\0')
    {
        public string Describe() => Kind switch
        {
            TokenKind.End => "the end of the filter",
            TokenKind.String or TokenKind.Quoted => $"the string {Quote}{TextRules.Clip(Text, TextRules.EchoLength)}{Quote}",
            TokenKind.Backquoted => $"`{TextRules.Clip(Text, TextRules.EchoLength)}`",
            _ => TextRules.Echo(Text),
        };
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
            else if (c is '(' or ')')
            {
                tokens.Add(new Token(c == '(' ? TokenKind.Open : TokenKind.Close, c.ToString(), i++));
            }
            else if (c == '.' && !(i + 1 < text.Length && char.IsAsciiDigit(text[i + 1]) && LastIsValueStart(tokens)))
            {
                tokens.Add(new Token(TokenKind.Dot, ".", i++));
            }
            else if (c is '=' or '!' or '<' or '>')
            {
                var start = i++;
                if (i < text.Length && text[i] == '=' || c == '<' && i < text.Length && text[i] == '>')
                {
                    i++;
                }

                var op = text[start..i] switch { "<>" => "!=", "==" => "=", var other => other };
                if (op == "!")
                {
                    throw new FilterSyntaxException(start, $"at position {start}: expected '!=' after '!'");
                }

                tokens.Add(new Token(TokenKind.Operator, op, start));
            }
            else if (c is '\'' or '"' or '`')
            {
                var start = i++;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new FilterSyntaxException(start, $"at position {start}: the quote {c} is never closed");
                    }

                    if (text[i] == c)
                    {
                        // A doubled quote stands for itself.
                        if (i + 1 < text.Length && text[i + 1] == c)
                        {
                            value.Append(c);
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    value.Append(text[i++]);
                }

                var kind = c switch { '\'' => TokenKind.String, '"' => TokenKind.Quoted, _ => TokenKind.Backquoted };
                tokens.Add(new Token(kind, value.ToString(), start, c));
            }
            else if (char.IsAsciiDigit(c) || (c is '-' or '+' or '.') && LastIsValueStart(tokens))
            {
                var start = i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '.' ||
                                           text[i] is '-' or '+' && text[i - 1] is 'e' or 'E'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Number, text[start..i], start));
            }
            else if (IsNameChar(c))
            {
                var start = i;
                while (i < text.Length && IsNameChar(text[i]))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Word, text[start..i], start));
            }
            else
            {
                throw new FilterSyntaxException(i, $"at position {i}: unexpected character {TextRules.Echo(c.ToString())}");
            }
        }

        tokens.Add(new Token(TokenKind.End, "", text.Length));
        return tokens;
    }

    // A sign or a leading dot begins a number only where a value is expected: after an operator.
    private static bool LastIsValueStart(List<Token> tokens) => tokens.Count > 0 && tokens[^1].Kind == TokenKind.Operator;

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '/' or ':';

    private sealed class Parser(List<Token> tokens)
    {
        private int _next;
        private int _depth;
        private int _comparisons;

        public Token Peek => tokens[_next];

        public Token Next() => tokens[_next++];

        public void Expect(TokenKind kind, string what)
        {
            if (Peek.Kind != kind)
            {
                throw Unexpected(what);
            }

            _next++;
        }

        public FilterSyntaxException Unexpected(string expected) =>
            new(Peek.Position, $"at position {Peek.Position}: expected {expected}, found {Peek.Describe()}");

        public FilterNode ParseOr()
        {
            var left = ParseAnd();
            while (IsKeyword("OR"))
            {
                _next++;
                left = new OrNode(left, ParseAnd());
            }

            return left;
        }

        private FilterNode ParseAnd()
        {
            var left = ParsePrimary();
            while (IsKeyword("AND"))
            {
                _next++;
                left = new AndNode(left, ParsePrimary());
            }

            return left;
        }

        private bool IsKeyword(string keyword) => Peek.Kind == TokenKind.Word && Peek.Text.Equals(keyword, StringComparison.OrdinalIgnoreCase);

        private FilterNode ParsePrimary()
        {
            if (Peek.Kind == TokenKind.Open)
            {
                if (++_depth > Domain.Limits.MaxFilterDepth)
                {
                    throw new FilterSyntaxException(Peek.Position,
                        $"at position {Peek.Position}: parentheses nest deeper than {Domain.Limits.MaxFilterDepth} levels");
                }

                _next++;
                var inner = ParseOr();
                Expect(TokenKind.Close, "')' or AND/OR");
                _depth--;
                return inner;
            }

            if (++_comparisons > Domain.Limits.MaxFilterComparisons)
            {
                throw new FilterSyntaxException(Peek.Position,
                    $"at position {Peek.Position}: a filter makes at most {Domain.Limits.MaxFilterComparisons} comparisons");
            }

            return ParseComparison();
        }

        private Comparison ParseComparison()
        {
            var field = ParseField();
            var operatorToken = Peek;
            string op;
            if (operatorToken.Kind == TokenKind.Operator)
            {
                op = Next().Text;
            }
            else if (IsKeyword("LIKE") || IsKeyword("ILIKE"))
            {
                op = Next().Text.ToUpperInvariant();
            }
            else
            {
                throw Unexpected("an operator (=, !=, <, <=, >, >=, LIKE, ILIKE)");
            }

            var numeric = field.Kind == FieldKind.Metric || field.Kind == FieldKind.Attribute && Attributes[field.Key];
            var allowed = numeric ? NumericOperators : TextOperators;
            if (!allowed.Contains(op))
            {
                throw new FilterSyntaxException(operatorToken.Position,
                    $"at position {operatorToken.Position}: {Describe(field)} takes {string.Join(", ", allowed)}, not {op}");
            }

            var valueToken = Peek;
            object value;
            if (numeric)
            {
                if (valueToken.Kind != TokenKind.Number ||
                    !double.TryParse(valueToken.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ||
                    !double.IsFinite(number))
                {
                    throw Unexpected($"a number to compare {Describe(field)} with");
                }

                value = number;
            }
            else
            {
                if (valueToken.Kind is not (TokenKind.String or TokenKind.Quoted))
                {
                    throw Unexpected($"a quoted string to compare {Describe(field)} with");
                }

                value = valueToken.Text;
            }

            _next++;
            return new Comparison(field, op, value, valueToken.Position);
        }

        public FilterField ParseField()
        {
            var prefix = Peek;
            if (prefix.Kind != TokenKind.Word)
            {
                throw Unexpected("a field: metrics.<key>, params.<key>, tags.<key> or attributes.<name>");
            }

            var kind = prefix.Text.ToLowerInvariant() switch
            {
                "metrics" or "metric" => FieldKind.Metric,
                "params" or "param" or "parameters" => FieldKind.Param,
                "tags" or "tag" => FieldKind.Tag,
                "attributes" or "attribute" or "attr" or "run" => FieldKind.Attribute,
                _ => throw Unexpected("a field: metrics.<key>, params.<key>, tags.<key> or attributes.<name>"),
            };
            _next++;
            Expect(TokenKind.Dot, $"'.' after {prefix.Text}");
            var key = Peek;
            if (key.Kind is not (TokenKind.Word or TokenKind.Number or TokenKind.Backquoted or TokenKind.Quoted) || key.Text.Length == 0)
            {
                throw Unexpected($"the name after {prefix.Text}. (quote it with backticks if it has spaces or dots)");
            }

            _next++;
            if (kind == FieldKind.Attribute && !Attributes.ContainsKey(key.Text))
            {
                throw new FilterSyntaxException(key.Position,
                    $"at position {key.Position}: unknown attribute {TextRules.Echo(key.Text)}; expected one of {string.Join(", ", Attributes.Keys)}");
            }

            return new FilterField(kind, key.Text, prefix.Position);
        }

        private static string Describe(FilterField field) => field.Kind switch
        {
            FieldKind.Metric => $"metrics.{field.Key}",
            FieldKind.Param => $"params.{field.Key}",
            FieldKind.Tag => $"tags.{field.Key}",
            _ => $"attributes.{field.Key}",
        };
    }
}

using System.Text;
using ModelOps.Tracking.Search;
using Npgsql;

namespace ModelOps.Tracking.Data;

/// <summary>Translates a parsed filter and ordering into PostgreSQL over the tracking tables; every value is a parameter.</summary>
internal sealed class RunQuery
{
    private readonly List<NpgsqlParameter> _parameters = [];
    private readonly HashSet<Comparison> _inJoin = new(ReferenceEqualityComparer.Instance);

    /// <summary>The parameters, in order ($1, $2, ...).</summary>
    public IReadOnlyList<NpgsqlParameter> Parameters => _parameters;

    /// <summary>Adds a parameter; returns its placeholder.</summary>
    public string Parameter(object value)
    {
        _parameters.Add(new NpgsqlParameter { Value = value });
        return "$" + _parameters.Count;
    }

    /// <summary>The condition of <paramref name="node"/> over runs aliased <c>r</c>.</summary>
    public string Condition(FilterNode node) => node switch
    {
        AndNode and => $"({Condition(and.Left)} AND {Condition(and.Right)})",
        OrNode or => $"({Condition(or.Left)} OR {Condition(or.Right)})",
        Comparison comparison when _inJoin.Contains(comparison) => "TRUE",
        Comparison comparison => Compare(comparison),
        _ => throw new ArgumentOutOfRangeException(nameof(node)),
    };

    /// <summary>
    /// Joins and ORDER BY terms for <paramref name="keys"/>, then the tie-breaker run_id; call it before
    /// <see cref="Condition"/>. When <paramref name="filter"/> requires the first ordering metric (comparisons on it
    /// AND-ed at the top), those comparisons move from the WHERE clause into that metric's join, which becomes an
    /// inner join: one index scan then both finds the candidate runs and gives the values they sort by, where an
    /// EXISTS plus a LEFT JOIN read the metric twice.
    /// </summary>
    public (string Joins, string OrderBy) Ordering(IReadOnlyList<OrderKey> keys, FilterNode? filter = null)
    {
        var joins = new StringBuilder();
        var terms = new List<string>();
        for (var i = 0; i < keys.Count; i++)
        {
            var (field, descending) = keys[i];
            var direction = descending ? "DESC" : "ASC";
            var alias = $"o{i}";
            switch (field.Kind)
            {
                case FieldKind.Metric:
                    var required = i == 0 ? Conjuncts(filter).Where(c => c.Field.Kind == FieldKind.Metric && c.Field.Key == field.Key).ToList() : [];
                    joins.Append($" {(required.Count > 0 ? "JOIN" : "LEFT JOIN")} latest_metrics {alias} ON {alias}.run_id = r.run_id AND {alias}.key = {Parameter(field.Key)}");
                    foreach (var comparison in required)
                    {
                        // As in Compare: a NaN satisfies no comparison.
                        joins.Append($" AND {alias}.value <> 'NaN' AND {alias}.value {comparison.Operator} {Parameter((double)comparison.Value)}");
                        _inJoin.Add(comparison);
                    }


                    // NaN sorts like a missing value: last.
                    terms.Add($"NULLIF({alias}.value, 'NaN') {direction} NULLS LAST");
                    break;
                case FieldKind.Param or FieldKind.Tag:
                    var table = field.Kind == FieldKind.Param ? "params" : "run_tags";
                    joins.Append($" LEFT JOIN {table} {alias} ON {alias}.run_id = r.run_id AND {alias}.key = {Parameter(field.Key)}");
                    terms.Add($"{alias}.value {direction} NULLS LAST");
                    break;
                case FieldKind.Attribute when field.Key == "end_time":
                    terms.Add($"{AttributeColumn(field.Key)} {direction} NULLS LAST");
                    break;
                default:
                    // The other attributes are never null: without NULLS LAST the order matches the index on
                    // (experiment_id, start_time DESC, run_id), so a newest-first page reads only its rows.
                    terms.Add($"{AttributeColumn(field.Key)} {direction}");
                    break;
            }
        }

        terms.Add("r.run_id");
        return (joins.ToString(), string.Join(", ", terms));
    }

    // The comparisons every matching run satisfies: those AND-ed at the top of the filter.
    private static IEnumerable<Comparison> Conjuncts(FilterNode? node) => node switch
    {
        AndNode and => Conjuncts(and.Left).Concat(Conjuncts(and.Right)),
        Comparison comparison => [comparison],
        _ => [],
    };

    private string Compare(Comparison comparison)
    {
        var (field, op, value, _) = comparison;
        switch (field.Kind)
        {
            case FieldKind.Metric:
                // PostgreSQL orders NaN above every number; a NaN must satisfy no comparison.
                return $"EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_id = r.run_id AND m.key = {Parameter(field.Key)} " +
                       $"AND m.value <> 'NaN' AND m.value {op} {Parameter((double)value)})";
            case FieldKind.Param or FieldKind.Tag:
                var table = field.Kind == FieldKind.Param ? "params" : "run_tags";
                // As in MLflow, a run without the key matches no comparison, != included. Values are indexed by their MD5
                // (a whole value may be too long for a b-tree entry): equality names it so the index is used.
                var text = Parameter((string)value);
                var hashed = op == "=" ? $"AND md5(t.value) = md5({text}) " : "";
                return $"EXISTS (SELECT 1 FROM {table} t WHERE t.run_id = r.run_id AND t.key = {Parameter(field.Key)} " +
                       $"{hashed}AND t.value {op} {text})";
            default:
                var column = AttributeColumn(field.Key);
                return $"{column} {op} {Parameter(value)}";
        }
    }

    private static string AttributeColumn(string attribute) => attribute switch
    {
        "run_id" => "replace(r.run_id::text, '-', '')",
        "run_name" => "r.run_name",
        "status" => "r.status",
        "author" => "r.author",
        "start_time" => "r.start_time",
        "end_time" => "r.end_time",
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "not a run attribute"),
    };
}

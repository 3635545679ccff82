using System.Globalization;
using ModelOps.Mlflow.Wire;

namespace ModelOps.Mlflow.Tracking;

/// <summary>
/// MLflow's run filters and orderings in tracking's search language, which is MLflow's plus OR: entity synonyms and
/// bare attribute names are spelled out, <c>user_id</c> is tracking's <c>author</c>, <c>created</c> is
/// <c>start_time</c>, and an IN list becomes ORed equalities.
/// </summary>
public static class RunSearch
{
    /// <summary>Tracking's filter for an MLflow run filter; empty for none.</summary>
    public static string Filter(string? filter) => Render(MlflowFilter.Parse(filter));

    /// <summary>Tracking's filter for <paramref name="clauses"/>, ANDed.</summary>
    public static string Render(IEnumerable<FilterClause> clauses) => string.Join(" AND ", clauses.Select(Clause));

    /// <summary>Tracking's ordering for an MLflow order_by entry.</summary>
    public static string Order(string entry)
    {
        var (key, descending) = MlflowFilter.ParseOrder(entry);
        return Order(key, descending);
    }

    /// <summary>Tracking's ordering by <paramref name="key"/>.</summary>
    public static string Order(FilterKey key, bool descending) => $"{Field(key)}{(descending ? " DESC" : "")}";

    private static string Clause(FilterClause clause)
    {
        var field = Field(clause.Key);
        return clause.Value switch
        {
            List<string> values when clause.Key is { Entity: "attribute" } && field == "attributes.run_id" =>
                clause.Comparator == "IN"
                    ? $"({string.Join(" OR ", values.Select(v => $"{field} = {Quote(v)}"))})"
                    : $"({string.Join(" AND ", values.Select(v => $"{field} != {Quote(v)}"))})",
            List<string> => throw MlflowError.InvalidParameter($"IN lists are supported for attributes.run_id only, not {Describe(clause.Key)}."),
            double number => $"{field} {clause.Comparator} {number.ToString("R", CultureInfo.InvariantCulture)}",
            string text => $"{field} {clause.Comparator} {Quote(text)}",
            _ => throw MlflowError.InvalidParameter($"Invalid value for {Describe(clause.Key)}."),
        };
    }

    private static string Field(FilterKey key) => key.Entity switch
    {
        "metric" => $"metrics.{Backquote(key.Key)}",
        "param" => $"params.{Backquote(key.Key)}",
        "tag" => $"tags.{Backquote(key.Key)}",
        "attribute" => "attributes." + (key.Key.ToLowerInvariant() switch
        {
            "run_id" or "run_uuid" => "run_id",
            "run_name" or "run name" => "run_name",
            "status" => "status",
            "user_id" => "author",
            "start_time" or "created" => "start_time",
            "end_time" => "end_time",
            _ => throw MlflowError.InvalidParameter(
                $"Invalid attribute key '{key.Key}' specified. Valid keys are run_id, run_name, status, user_id, start_time, created and end_time."),
        }),
        _ => throw MlflowError.InvalidParameter($"Searching runs by {key.Entity}s is not supported; search by metrics, params, tags and attributes."),
    };

    private static string Describe(FilterKey key) => $"{key.Entity}s.{key.Key}";

    private static string Quote(string value) => $"'{value.Replace("'", "''", StringComparison.Ordinal)}'";

    private static string Backquote(string key) => $"`{key.Replace("`", "``", StringComparison.Ordinal)}`";
}

using System.Text.RegularExpressions;
using Google.Protobuf.Collections;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Registry.Grpc;

/// <summary>Checks of what clients send to the registry, each adding its violations to the request's list.</summary>
internal static partial class RegistryRequests
{
    /// <summary>Longest description, justification, comment or reason.</summary>
    public const int MaxTextLength = 5000;

    /// <summary>Longest owner (a team's or a person's name).</summary>
    public const int MaxOwnerLength = 200;

    /// <summary>Most tags of a model.</summary>
    public const int MaxTags = 100;

    /// <summary>A model name: 1 to 128 letters, digits, '.', '_' or '-'.</summary>
    public static string ModelName(FieldViolations violations, string field, string name)
    {
        violations.Require(ModelNamePattern().IsMatch(name), field, "must be 1 to 128 letters, digits, '.', '_' or '-'");
        return name;
    }

    /// <summary>A model name, or INVALID_ARGUMENT naming <c>model</c>.</summary>
    public static string ModelName(string name)
    {
        var violations = new FieldViolations();
        ModelName(violations, "model", name);
        violations.ThrowIfAny();
        return name;
    }

    /// <summary>A tracking run id: 32 hex digits.</summary>
    public static void RunId(FieldViolations violations, string runId) =>
        violations.Require(RunIdPattern().IsMatch(runId), "run_id", "must be a tracking run id (32 hex digits)");

    /// <summary>A request id (a UUID), or a violation.</summary>
    public static Guid RequestId(FieldViolations violations, string text)
    {
        violations.Require(Guid.TryParse(text, out var id), "request_id", "must be a request id (a UUID)");
        return id;
    }

    /// <summary>A request id, or INVALID_ARGUMENT.</summary>
    public static Guid RequestId(string text)
    {
        var violations = new FieldViolations();
        var id = RequestId(violations, text);
        violations.ThrowIfAny();
        return id;
    }

    /// <summary>Free text (a description, justification, comment or reason) of at most 5000 characters.</summary>
    public static void Text(FieldViolations violations, string field, string text, bool required = false) =>
        TextRules.FreeText(violations, field, text, MaxTextLength, required);

    /// <summary>A model's tags: at most 100, keys as names of 1 to 250 characters, values free text.</summary>
    public static void Tags(FieldViolations violations, MapField<string, string> tags)
    {
        violations.Require(tags.Count <= MaxTags, "tags", $"at most {MaxTags} tags");
        foreach (var (key, value) in tags.Take(MaxTags))
        {
            var field = $"tags[{TextRules.Clip(key, 40)}]";
            TextRules.Name(violations, field, key, 250);
            TextRules.FreeText(violations, field, value, MaxTextLength);
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex ModelNamePattern();

    [GeneratedRegex("^[0-9a-fA-F]{32}$")]
    private static partial Regex RunIdPattern();
}

using System.Text.RegularExpressions;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Registry.Domain;

/// <summary>Stages and aliases as the registry stores them: <c>stage:PRODUCTION</c>, <c>alias:champion</c>.</summary>
public static partial class Targets
{
    private const string StagePrefix = "stage:";
    private const string AliasPrefix = "alias:";

    /// <summary>The stored form of a stage.</summary>
    public static string Of(Stage stage) => StagePrefix + StageName(stage);

    /// <summary>The stored form of a target.</summary>
    public static string Format(Target target) => target.KindCase == Target.KindOneofCase.Stage ? Of(target.Stage) : AliasPrefix + target.Alias;

    /// <summary>The target of a stored form.</summary>
    public static Target Parse(string text) => text.StartsWith(StagePrefix, StringComparison.Ordinal)
        ? new Target { Stage = ParseStage(text[StagePrefix.Length..]) }
        : new Target { Alias = text[AliasPrefix.Length..] };

    /// <summary>NONE, STAGING, PRODUCTION, ARCHIVED.</summary>
    public static string StageName(Stage stage) => stage switch
    {
        Stage.None => "NONE",
        Stage.Staging => "STAGING",
        Stage.Production => "PRODUCTION",
        Stage.Archived => "ARCHIVED",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "not a stage"),
    };

    /// <summary>The stage of a stored name.</summary>
    public static Stage ParseStage(string name) => name switch
    {
        "NONE" => Stage.None,
        "STAGING" => Stage.Staging,
        "PRODUCTION" => Stage.Production,
        "ARCHIVED" => Stage.Archived,
        _ => throw new FormatException($"'{name}' is not a stage"),
    };

    /// <summary>The stage as events carry it.</summary>
    public static ModelStage ToContract(Stage stage) => stage switch
    {
        Stage.None => ModelStage.None,
        Stage.Staging => ModelStage.Staging,
        Stage.Production => ModelStage.Production,
        Stage.Archived => ModelStage.Archived,
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "not a stage"),
    };

    /// <summary>Whether an alias name is acceptable: lower-case letters, digits, '_' and '-', 1 to 64, starting with a letter.</summary>
    public static bool IsAliasName(string alias) => AliasPattern().IsMatch(alias) &&
                                                    !Enum.GetValues<Stage>().Skip(1).Any(s => string.Equals(StageName(s), alias, StringComparison.OrdinalIgnoreCase));

    /// <summary>Checks a target given in a request.</summary>
    public static void Check(FieldViolations violations, string field, Target? target)
    {
        switch (target?.KindCase)
        {
            case Target.KindOneofCase.Stage:
                violations.Require(target.Stage is Stage.Staging or Stage.Production or Stage.Archived or Stage.None,
                    $"{field}.stage", "must be NONE, STAGING, PRODUCTION or ARCHIVED");
                break;
            case Target.KindOneofCase.Alias:
                violations.Require(IsAliasName(target.Alias), $"{field}.alias",
                    "must be 1 to 64 lower-case letters, digits, '_' or '-', starting with a letter, and not a stage's name");
                break;
            default:
                violations.Add(field, "give a stage or an alias");
                break;
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9_-]{0,63}$")]
    private static partial Regex AliasPattern();
}

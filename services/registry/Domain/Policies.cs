using System.Text.RegularExpressions;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Registry.Domain;

/// <summary>Checking a policy, the default policy, and which gates apply to a target.</summary>
public static partial class Policies
{
    /// <summary>Most rules in a policy.</summary>
    public const int MaxRules = 32;

    /// <summary>Most gates in a rule.</summary>
    public const int MaxGates = 64;

    /// <summary>Most approvals a gate may ask for.</summary>
    public const int MaxApprovals = 10;

    /// <summary>Longest timeout of a remote gate.</summary>
    public const int MaxRemoteTimeoutMs = 60_000;

    /// <summary>The policy in effect while an admin has set none: evidence of origin and integrity, and review.</summary>
    public static Policy Default(string model, RiskTier tier)
    {
        Gate[] Gates(int approvals) =>
        [
            new() { Name = "provenance", Provenance = new ProvenanceGate() },
            new() { Name = "artifact-integrity", ArtifactIntegrity = new ArtifactIntegrityGate() },
            new() { Name = "approvals", Approval = new ApprovalGate { Required = approvals } },
        ];
        return new Policy
        {
            Model = model,
            Version = 0,
            MaxProductionVersions = 1,
            Reason = "default policy",
            Rules =
            {
                new PromotionRule { Stages = { Stage.Staging }, Gates = { Gates(1) } },
                new PromotionRule { Stages = { Stage.Production }, Aliases = { "champion" }, Gates = { Gates(tier == RiskTier.High ? 2 : 1) } },
            },
        };
    }

    /// <summary>
    /// The gates a move to <paramref name="target"/> must pass: those of every rule naming it, in order. A target no rule
    /// names gets every gate of every rule (the strictest set the policy holds), and at least one reviewer's approval:
    /// an alias of one's own is never a way around the gates, and nothing changes stage without a person deciding.
    /// </summary>
    public static IReadOnlyList<Gate> GatesFor(Policy policy, Target target)
    {
        var named = policy.Rules
            .Where(rule => target.KindCase == Target.KindOneofCase.Stage ? rule.Stages.Contains(target.Stage) : rule.Aliases.Contains(target.Alias))
            .SelectMany(rule => rule.Gates)
            .ToList();
        if (named.Count > 0)
        {
            return named;
        }

        // The union of every rule's gates: gates of one name keep the strictest (approvals: the most asked for).
        var strictest = new List<Gate>();
        foreach (var gate in policy.Rules.SelectMany(rule => rule.Gates))
        {
            var same = strictest.FindIndex(g => g.Name == gate.Name);
            if (same < 0)
            {
                strictest.Add(gate);
            }
            else if (gate.KindCase == Gate.KindOneofCase.Approval && strictest[same].KindCase == Gate.KindOneofCase.Approval &&
                     gate.Approval.Required > strictest[same].Approval.Required)
            {
                strictest[same] = gate;
            }
            else if (!strictest[same].Equals(gate))
            {
                // Two rules use one name for different gates: keep both, under names that say where they came from.
                strictest.Add(new Gate(gate) { Name = $"{gate.Name}#{strictest.Count(g => g.Name.StartsWith(gate.Name, StringComparison.Ordinal))}" });
            }
        }

        if (!strictest.Any(g => g.KindCase == Gate.KindOneofCase.Approval))
        {
            strictest.Add(new Gate { Name = "approvals", Approval = new ApprovalGate { Required = 1 } });
        }

        return strictest;
    }

    /// <summary>Most Production versions at once.</summary>
    public static int MaxProduction(Policy policy) => policy.MaxProductionVersions > 0 ? policy.MaxProductionVersions : 1;

    /// <summary>
    /// Checks a policy, naming each fault by its place in the request (<c>policy.rules[1].gates[0].metric_threshold.metric</c>).
    /// A remote gate may name only a service of <paramref name="remoteServices"/>.
    /// </summary>
    public static void Validate(FieldViolations violations, Policy? policy, IReadOnlyCollection<string> remoteServices)
    {
        if (policy is null)
        {
            violations.Add("policy", "is required");
            return;
        }

        violations.Require(policy.Rules.Count is > 0 and <= MaxRules, "policy.rules", $"give 1 to {MaxRules} rules");
        violations.Require(policy.MaxProductionVersions is >= 0 and <= 100, "policy.max_production_versions", "must be 0 (meaning 1) to 100");
        violations.Require(policy.TrustedSigningKeys.Count <= 20, "policy.trusted_signing_keys", "at most 20 keys");
        for (var k = 0; k < policy.TrustedSigningKeys.Count && k < 20; k++)
        {
            violations.Require(IsEd25519PublicKey(policy.TrustedSigningKeys[k]), $"policy.trusted_signing_keys[{k}]",
                "must be an Ed25519 public key: 32 bytes, base64");
        }

        var targets = new HashSet<string>(StringComparer.Ordinal);
        for (var r = 0; r < policy.Rules.Count && r < MaxRules; r++)
        {
            var rule = policy.Rules[r];
            var at = $"policy.rules[{r}]";
            violations.Require(rule.Stages.Count + rule.Aliases.Count > 0, at, "names no stage and no alias");
            for (var s = 0; s < rule.Stages.Count; s++)
            {
                var stage = rule.Stages[s];
                if (stage is not (Stage.None or Stage.Staging or Stage.Production or Stage.Archived))
                {
                    violations.Add($"{at}.stages[{s}]", "must be NONE, STAGING, PRODUCTION or ARCHIVED");
                }
                else if (!targets.Add(Targets.Of(stage)))
                {
                    violations.Add($"{at}.stages[{s}]", $"{Targets.StageName(stage)} is named by an earlier rule");
                }
            }

            for (var a = 0; a < rule.Aliases.Count; a++)
            {
                if (!Targets.IsAliasName(rule.Aliases[a]))
                {
                    violations.Add($"{at}.aliases[{a}]", "must be 1 to 64 lower-case letters, digits, '_' or '-', starting with a letter");
                }
                else if (!targets.Add("alias:" + rule.Aliases[a]))
                {
                    violations.Add($"{at}.aliases[{a}]", $"'{rule.Aliases[a]}' is named by an earlier rule");
                }
            }

            violations.Require(rule.Gates.Count is > 0 and <= MaxGates, $"{at}.gates", $"give 1 to {MaxGates} gates");
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (var g = 0; g < rule.Gates.Count && g < MaxGates; g++)
            {
                var gate = rule.Gates[g];
                var place = $"{at}.gates[{g}]";
                if (!GateName().IsMatch(gate.Name))
                {
                    violations.Add($"{place}.name", "must be 1 to 64 letters, digits, '.', '_' or '-'");
                }
                else if (!names.Add(gate.Name))
                {
                    violations.Add($"{place}.name", $"'{gate.Name}' names an earlier gate of this rule");
                }

                ValidateGate(violations, place, gate, remoteServices);
            }
        }
    }

    private static void ValidateGate(FieldViolations violations, string place, Gate gate, IReadOnlyCollection<string> remoteServices)
    {
        switch (gate.KindCase)
        {
            case Gate.KindOneofCase.Provenance:
                for (var i = 0; i < gate.Provenance.RequiredFields.Count; i++)
                {
                    var field = gate.Provenance.RequiredFields[i];
                    violations.Require(ProvenanceRequirements.All.Contains(field, StringComparer.Ordinal), $"{place}.provenance.required_fields[{i}]",
                        $"'{field}' is not a provenance field (one of: {string.Join(", ", ProvenanceRequirements.All)})");
                }

                break;
            case Gate.KindOneofCase.ArtifactIntegrity:
                break;
            case Gate.KindOneofCase.MetricThreshold:
                var metric = gate.MetricThreshold;
                violations.Require(MetricPattern().IsMatch(metric.Metric), $"{place}.metric_threshold.metric",
                    "must be a metric key of 1 to 250 characters, or a family ending in '*' (auc_group__*)");
                violations.Require(metric.Comparison != Comparison.Unspecified && Enum.IsDefined(metric.Comparison),
                    $"{place}.metric_threshold.comparison", "is required: GREATER_OR_EQUAL, GREATER, LESS_OR_EQUAL or LESS");
                violations.Require(double.IsFinite(metric.Threshold), $"{place}.metric_threshold.threshold", "must be a finite number");
                break;
            case Gate.KindOneofCase.Evidence:
                gate.Evidence.ArtifactPath = TextRules.Name(violations, $"{place}.evidence.artifact_path", gate.Evidence.ArtifactPath, 1024);
                violations.Require(!gate.Evidence.ArtifactPath.StartsWith('/'), $"{place}.evidence.artifact_path",
                    "must be an artifact path within the run (relative)");
                TextRules.Name(violations, $"{place}.evidence.json_field", gate.Evidence.JsonField, 200, required: false);
                TextRules.FreeText(violations, $"{place}.evidence.expected", gate.Evidence.Expected, 1000);
                violations.Require(gate.Evidence.JsonField.Length > 0 || gate.Evidence.Expected.Length == 0,
                    $"{place}.evidence.expected", "needs json_field: the field whose value must equal it");
                violations.Require(gate.Evidence.JsonField.Length == 0 || gate.Evidence.JsonField.Split('.').All(p => p.Length > 0),
                    $"{place}.evidence.json_field", "must be a dotted path of non-empty names");
                break;
            case Gate.KindOneofCase.Approval:
                violations.Require(gate.Approval.Required is >= 1 and <= MaxApprovals, $"{place}.approval.required", $"must be 1 to {MaxApprovals}");
                break;
            case Gate.KindOneofCase.Remote:
                var remote = gate.Remote;
                violations.Require(remoteServices.Contains(remote.Service, StringComparer.Ordinal), $"{place}.remote.service",
                    $"must name a service the registry asks for gates: one of {string.Join(", ", remoteServices)} (Registry:RemoteGates)");
                TextRules.Name(violations, $"{place}.remote.gate", remote.Gate, 200);
                violations.Require(remote.Parameters.Count <= 20, $"{place}.remote.parameters", "at most 20 parameters");
                foreach (var (key, value) in remote.Parameters.Take(20))
                {
                    TextRules.Name(violations, $"{place}.remote.parameters[{TextRules.Clip(key, 40)}]", key, 100);
                    TextRules.FreeText(violations, $"{place}.remote.parameters[{TextRules.Clip(key, 40)}]", value, 1000);
                }

                violations.Require(remote.TimeoutMs is >= 0 and <= MaxRemoteTimeoutMs, $"{place}.remote.timeout_ms", $"must be 0 (5 s) to {MaxRemoteTimeoutMs}");
                break;
            default:
                violations.Add(place, "has no kind: give provenance, artifact_integrity, metric_threshold, evidence, approval or remote");
                break;
        }
    }

    private static bool IsEd25519PublicKey(string text)
    {
        Span<byte> bytes = stackalloc byte[48];
        return Convert.TryFromBase64String(text, bytes, out var length) && length == 32;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex GateName();

    [GeneratedRegex(@"^[^\s*]{1,250}\*?$|^\*$")]
    private static partial Regex MetricPattern();

}

using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Registry.Domain;

/// <summary>
/// The registry's rules, as pure functions over what was read under the model's lock: who may review, who may write to
/// a model, when a request is superseded, what an evaluation concluded, which versions the Production cap retires.
/// </summary>
public static class PromotionRules
{
    /// <summary>
    /// Four eyes: the requester of a promotion and the author of the version's run may not approve it. Throws
    /// <c>FOUR_EYES</c> when <paramref name="reviewer"/> is either.
    /// </summary>
    public static void CheckReviewer(string reviewer, string requester, ModelVersion version)
    {
        if (reviewer == requester)
        {
            throw ServiceErrors.PermissionDenied("FOUR_EYES", $"{TextRules.Echo(reviewer)} asked for this promotion and cannot approve it: four eyes.");
        }

        if (reviewer == version.RunAuthor)
        {
            throw ServiceErrors.PermissionDenied("FOUR_EYES",
                $"{TextRules.Echo(reviewer)} trained version {version.Version} (run {version.RunId}) and cannot approve its promotion: four eyes.");
        }
    }

    /// <summary>
    /// Whether <paramref name="caller"/> may write to a model owned by <paramref name="owner"/>: an admin, a member of the
    /// owner team, or the owner when a person owns it. Throws <c>NOT_OWNER_TEAM</c> otherwise.
    /// </summary>
    public static void CheckOwner(Caller caller, string owner, string model)
    {
        if (caller.IsInRole(Roles.Admin) || caller.Actor == owner || caller.Teams.Contains(owner))
        {
            return;
        }

        throw ServiceErrors.PermissionDenied("NOT_OWNER_TEAM",
            $"'{model}' belongs to {TextRules.Echo(owner)}: only its members and admins change it.",
            new Dictionary<string, string> { ["owner"] = owner });
    }

    /// <summary>
    /// The owner team of a model <paramref name="caller"/> creates: <paramref name="requested"/> when it is one of the
    /// caller's teams (any team for an admin), else the caller's first team, else the caller. Throws
    /// <c>NOT_OWNER_TEAM</c> when the caller names a team it is not in.
    /// </summary>
    public static string OwnerOnCreate(Caller caller, string requested)
    {
        if (requested.Length == 0)
        {
            return caller.Teams.Order(StringComparer.Ordinal).FirstOrDefault() ?? caller.Actor;
        }

        return caller.IsInRole(Roles.Admin) || requested == caller.Actor || caller.Teams.Contains(requested)
            ? requested
            : throw ServiceErrors.PermissionDenied("NOT_OWNER_TEAM",
                $"{TextRules.Echo(requested)} is not one of the caller's teams: a model is owned by a team its creator is in.");
    }

    /// <summary>
    /// A move that cannot be asked for: the version is in the stage already, or is archived and cannot take an alias.
    /// Throws <c>ALREADY_THERE</c> or <c>VERSION_ARCHIVED</c>.
    /// </summary>
    public static void CheckMove(string model, int version, Stage stage, Target target, int? aliasHolder)
    {
        var subject = $"{model}/{version}";
        if (target.KindCase == Target.KindOneofCase.Stage && stage == target.Stage)
        {
            throw ServiceErrors.FailedPrecondition("ALREADY_THERE", $"Version {version} of '{model}' is {Targets.StageName(stage)} already.",
                "VERSION_STAGE", subject);
        }

        if (target.KindCase == Target.KindOneofCase.Alias && stage == Stage.Archived)
        {
            throw ServiceErrors.FailedPrecondition("VERSION_ARCHIVED", $"Version {version} of '{model}' is archived: an alias cannot point at it.",
                "VERSION_STAGE", subject);
        }

        if (target.KindCase == Target.KindOneofCase.Alias && aliasHolder == version)
        {
            throw ServiceErrors.FailedPrecondition("ALREADY_THERE", $"'{target.Alias}' points at version {version} already.", "ALIAS", subject);
        }
    }

    /// <summary>
    /// Whether a request was overtaken: for a stage, the version left the stage the request was made from; for an alias,
    /// the version was archived.
    /// </summary>
    public static bool Superseded(Target target, Stage fromStage, Stage stage) =>
        target.KindCase == Target.KindOneofCase.Stage ? stage != fromStage : stage == Stage.Archived;

    /// <summary>
    /// The final results of an evaluation: the approval gates judged from the approvals committed by now (read under the
    /// lock), the others as evaluated.
    /// </summary>
    public static List<GateResult> Final(
        IReadOnlyList<Gate> gates, IReadOnlyList<GateResult> evaluated, EvaluationContext context, IReadOnlyList<Approval> approvals)
    {
        var final = gates.Select((gate, i) => gate.KindCase == Gate.KindOneofCase.Approval
            ? Gates.GateEvaluator.Approvals(gate, context with { Approvals = approvals })
            : evaluated[i]).ToList();
        final.AddRange(evaluated.Skip(gates.Count));
        return final;
    }

    /// <summary>What an evaluation concluded, without its evidence's incidental detail (when a hash was measured).</summary>
    public static string Outcome(IEnumerable<GateResult> results) =>
        string.Join("\n", results.Select(r => $"{r.Name}\t{r.Status}\t{r.Reason}"));

    /// <summary>
    /// The versions a move into Production pushes out: with <paramref name="serving"/> in Production now (longest-serving
    /// first) and a cap of <paramref name="maxProduction"/>, the oldest beyond the cap.
    /// </summary>
    public static IReadOnlyList<VersionSnapshot> Retired(IReadOnlyList<VersionSnapshot> serving, int maxProduction) =>
        serving.Take(Math.Max(0, serving.Count - (maxProduction - 1))).ToList();
}

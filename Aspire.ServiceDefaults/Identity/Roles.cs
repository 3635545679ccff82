namespace ModelOps.ServiceDefaults.Identity;

/// <summary>The roles a ModelOps token may carry (in the claim named by <c>Identity:RoleClaim</c>, default <c>roles</c>).</summary>
public static class Roles
{
    /// <summary>ML pipelines: log runs, register versions, request promotions.</summary>
    public const string Pipeline = "pipeline";

    /// <summary>People who approve or reject promotions.</summary>
    public const string Reviewer = "reviewer";

    /// <summary>Administrators: policies, overrides, direct ledger appends.</summary>
    public const string Admin = "admin";

    /// <summary>Auditors: read everything, change nothing.</summary>
    public const string Auditor = "auditor";

    /// <summary>ModelOps services calling one another.</summary>
    public const string Service = "service";

    /// <summary>Every role, in a stable order.</summary>
    public static readonly IReadOnlyList<string> All = [Pipeline, Reviewer, Admin, Auditor, Service];
}

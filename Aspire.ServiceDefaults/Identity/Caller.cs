using System.Security.Claims;
using Grpc.Core;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.ServiceDefaults.Identity;

/// <summary>The authenticated caller of an RPC: who they are, which roles they hold, and which teams they belong to.</summary>
/// <param name="Subject">The token's <c>sub</c>: the stable id recorded as the actor of every change.</param>
/// <param name="Name">A display name, when the token carries one.</param>
/// <param name="Roles">The ModelOps roles the token grants.</param>
/// <param name="Teams">The teams the token names (claim <c>teams</c>): what owns a model.</param>
public sealed record Caller(string Subject, string? Name, IReadOnlySet<string> Roles, IReadOnlySet<string> Teams)
{
    /// <summary>The claim naming the caller's teams (one claim per team, or one space-separated claim).</summary>
    public const string TeamsClaim = "teams";

    /// <summary>The actor recorded on changes and events.</summary>
    public string Actor => Subject;

    /// <summary>Whether the caller holds <paramref name="role"/>.</summary>
    public bool IsInRole(string role) => Roles.Contains(role);

    /// <summary>Reads the caller from an authenticated principal.</summary>
    public static Caller FromPrincipal(ClaimsPrincipal principal)
    {
        var identity = principal.Identity as ClaimsIdentity;
        var subject = principal.FindFirst("sub")?.Value;
        if (identity is not { IsAuthenticated: true } || string.IsNullOrEmpty(subject))
        {
            throw ServiceErrors.Unauthenticated("NO_SUBJECT", "The call carries no authenticated subject.");
        }

        var roles = principal.FindAll(identity.RoleClaimType).Select(claim => claim.Value).ToHashSet(StringComparer.Ordinal);
        var teams = principal.FindAll(TeamsClaim)
            .SelectMany(claim => claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToHashSet(StringComparer.Ordinal);
        return new Caller(subject, principal.FindFirst(identity.NameClaimType)?.Value, roles, teams);
    }
}

/// <summary>Access to the caller from a gRPC handler.</summary>
public static class CallerExtensions
{
    /// <summary>The authenticated caller of this call.</summary>
    public static Caller GetCaller(this ServerCallContext context) => Caller.FromPrincipal(context.GetHttpContext().User);
}

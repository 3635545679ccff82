using System.Security.Claims;
using Grpc.Core;
using Microsoft.AspNetCore.Components.Authorization;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Console.Identity;

/// <summary>
/// The signed-in person, for the length of a page or an interactive session: who they are, their roles, and the headers
/// that make a gRPC call theirs. Read from the session (the circuit's authentication state), never from an ambient
/// request, since an interactive page outlives the request that opened it.
/// </summary>
public sealed class Person(AuthenticationStateProvider authentication)
{
    private ClaimsPrincipal? _principal;

    /// <summary>The person's claims.</summary>
    public async Task<ClaimsPrincipal> PrincipalAsync() =>
        _principal ??= (await authentication.GetAuthenticationStateAsync()).User;

    /// <summary>The headers of a call made as the person.</summary>
    public async Task<Metadata> HeadersAsync()
    {
        var token = (await PrincipalAsync()).FindFirst(ConsoleSignIn.TokenClaim)?.Value;
        var headers = new Metadata();
        if (!string.IsNullOrEmpty(token))
        {
            headers.Add("Authorization", $"Bearer {token}");
        }

        return headers;
    }

    /// <summary>Whether the person holds <paramref name="role"/>.</summary>
    public async Task<bool> IsAsync(string role) => (await PrincipalAsync()).IsInRole(role);

    /// <summary>The person's subject (what the services record as actor).</summary>
    public async Task<string> SubjectAsync() => (await PrincipalAsync()).FindFirst("sub")?.Value ?? "";

    /// <summary>Whether the person may approve or reject promotions.</summary>
    public async Task<bool> CanReviewAsync() => await IsAsync(Roles.Reviewer) || await IsAsync(Roles.Admin);
}

using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace ModelOps.Console.Identity;

/// <summary>
/// Signs a person in with a ModelOps token: the same JWT, validated exactly as the gRPC services validate it (issuer,
/// audience, signature, lifetime), becomes a cookie session that holds the token, and every call the console makes for
/// that person carries it. The services check the person's own roles; the console holds no privilege of its own.
/// Any OIDC provider that issues ModelOps tokens works the same way; the development issuer hands them out per role.
/// </summary>
public sealed class ConsoleSignIn(IOptionsMonitor<JwtBearerOptions> jwtOptions)
{
    /// <summary>The claim that carries the person's token inside the session.</summary>
    public const string TokenClaim = "modelops_token";

    /// <summary>A pasted token is at most this long (a JWT of a few hundred claims); longer input is refused unread.</summary>
    public const int MaxTokenLength = 16 * 1024;

    /// <summary>The person the token names and when the token expires, or why it is refused.</summary>
    public async Task<(ClaimsPrincipal? Person, DateTimeOffset Expires, string? Refusal)> ValidateAsync(string? token, CancellationToken cancellationToken)
    {
        token = token?.Trim();
        if (string.IsNullOrEmpty(token))
        {
            return (null, default, "Paste a ModelOps token.");
        }

        if (token.Length > MaxTokenLength)
        {
            return (null, default, $"A token is at most {MaxTokenLength} characters.");
        }

        if (token.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = token["Bearer ".Length..].Trim();
        }

        var jwt = jwtOptions.Get(JwtBearerDefaults.AuthenticationScheme);
        var parameters = jwt.TokenValidationParameters.Clone();
        if (jwt.ConfigurationManager is { } manager)
        {
            OpenIdConnectConfiguration configuration;
            try
            {
                configuration = await manager.GetConfigurationAsync(cancellationToken);
            }
            catch (InvalidOperationException)
            {
                return (null, default, "The identity provider cannot be reached; try again shortly.");
            }

            parameters.ValidIssuers = [.. parameters.ValidIssuers ?? [], configuration.Issuer];
            parameters.IssuerSigningKeys = [.. parameters.IssuerSigningKeys ?? [], .. configuration.SigningKeys];
        }

        var result = await new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(token, parameters);
        if (!result.IsValid)
        {
            return (null, default, result.Exception switch
            {
                Microsoft.IdentityModel.Tokens.SecurityTokenExpiredException => "The token has expired.",
                Microsoft.IdentityModel.Tokens.SecurityTokenInvalidAudienceException => "The token is not for ModelOps (wrong audience).",
                Microsoft.IdentityModel.Tokens.SecurityTokenInvalidIssuerException => "The token is from another issuer.",
                _ => "The token does not verify.",
            });
        }

        var claims = result.ClaimsIdentity.Claims.Where(c => c.Type is "sub" or "name" or "roles" or "teams").ToList();
        claims.Add(new Claim(TokenClaim, token));
        var identity = new ClaimsIdentity(claims, CookieAuthenticationDefaults.AuthenticationScheme, parameters.NameClaimType, parameters.RoleClaimType);
        // The session ends when the token does (lifetime is validated, so the token has an expiry): the services would
        // refuse it from then on anyway.
        return (new ClaimsPrincipal(identity), new DateTimeOffset(result.SecurityToken.ValidTo, TimeSpan.Zero), null);
    }

    /// <summary>Maps <c>POST /account/signin</c> and <c>POST /account/signout</c>.</summary>
    public static void Map(WebApplication app)
    {
        app.MapPost("/account/signin", async (HttpContext context, ConsoleSignIn signIn) =>
        {
            // The form is read only once its size is known to be small.
            if (!context.Request.HasFormContentType || context.Request.ContentLength is null or > MaxTokenLength + 4096)
            {
                return Results.Redirect("/signin?error=" + Uri.EscapeDataString("Send the sign-in form."));
            }

            if (!await ValidAntiforgeryAsync(context))
            {
                return Results.Redirect("/signin?error=" + Uri.EscapeDataString("The form expired; sign in again."));
            }

            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            var (person, expires, refusal) = await signIn.ValidateAsync(form["token"], context.RequestAborted);
            if (person is null)
            {
                return Results.Redirect("/signin?error=" + Uri.EscapeDataString(refusal!));
            }

            await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, person,
                new AuthenticationProperties { ExpiresUtc = expires, IsPersistent = false });
            var returnUrl = form["returnUrl"].ToString();
            return Results.LocalRedirect(returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) ? returnUrl : "/");
        }).AllowAnonymous();

        app.MapPost("/account/signout", async (HttpContext context) =>
        {
            if (!await ValidAntiforgeryAsync(context))
            {
                return Results.BadRequest("The form expired; reload the page.");
            }

            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/signin");
        });
    }

    private static async Task<bool> ValidAntiforgeryAsync(HttpContext context) =>
        await context.RequestServices.GetRequiredService<Microsoft.AspNetCore.Antiforgery.IAntiforgery>().IsRequestValidAsync(context);
}

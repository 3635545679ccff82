using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.IdentityModel.Tokens;

namespace ModelOps.ServiceDefaults.Identity;

/// <summary>JWT bearer authentication and role-based authorization for every service.</summary>
public static class AuthenticationExtensions
{
    /// <summary>
    /// Every endpoint requires an authenticated caller unless it opts out (health and metrics do);
    /// handlers narrow further with <c>[Authorize(Roles = Roles.X)]</c>. A token's audience must be the generic one
    /// (<c>Identity:Audience</c>, the tokens people hold) or this service's own (<c>&lt;audience&gt;:&lt;service&gt;</c>, the
    /// tokens other services obtain to call it): a token addressed to another service is refused, so one captured on its
    /// way there is useless here.
    /// </summary>
    public static TBuilder AddDefaultAuthentication<TBuilder>(this TBuilder builder, string serviceName) where TBuilder : IHostApplicationBuilder
    {
        var section = builder.Configuration.GetSection(IdentityOptions.Section);
        var options = section.Get<IdentityOptions>() ?? new IdentityOptions();
        builder.Services.Configure<IdentityOptions>(section);

        if (string.IsNullOrWhiteSpace(options.Authority) && string.IsNullOrWhiteSpace(options.SigningKeys))
        {
            throw new InvalidOperationException(
                "No token validation is configured: set Identity:Authority (an OIDC issuer) or Identity:SigningKeys (a JWKS).");
        }

        builder.Services
            .AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.RequireHttpsMetadata = options.RequireHttpsMetadata;
                if (!string.IsNullOrWhiteSpace(options.Authority))
                {
                    jwt.Authority = options.Authority;
                }

                var validation = jwt.TokenValidationParameters;
                validation.ValidAudiences = [options.Audience, ServiceTokens.AudienceOf(options.Audience, serviceName)];
                validation.RoleClaimType = options.RoleClaim;
                validation.NameClaimType = options.NameClaim;
                validation.ClockSkew = options.ClockSkew;
                validation.ValidateIssuer = true;
                validation.ValidateLifetime = true;
                validation.RequireExpirationTime = true;
                if (!string.IsNullOrWhiteSpace(options.Issuer))
                {
                    validation.ValidIssuer = options.Issuer;
                }

                if (!string.IsNullOrWhiteSpace(options.SigningKeys))
                {
                    validation.IssuerSigningKeys = new JsonWebKeySet(options.SigningKeys).GetSigningKeys();
                }
            });

        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        return builder;
    }
}

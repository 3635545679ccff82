namespace ModelOps.ServiceDefaults.Identity;

/// <summary>
/// How services validate bearer tokens (configuration section <c>Identity</c>). Any OIDC provider
/// (Keycloak, Entra ID, Okta) plugs in through <see cref="Authority"/>; <see cref="SigningKeys"/>
/// serves set-ups without a discovery endpoint.
/// </summary>
public sealed class IdentityOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Identity";

    /// <summary>OIDC authority; its discovery document supplies the issuer and the signing keys.</summary>
    public string? Authority { get; set; }

    /// <summary>Expected issuer; defaults to the authority's.</summary>
    public string? Issuer { get; set; }

    /// <summary>Expected audience.</summary>
    public string Audience { get; set; } = "modelops";

    /// <summary>A JSON Web Key Set (JSON text) of accepted signing keys, used instead of discovery.</summary>
    public string? SigningKeys { get; set; }

    /// <summary>The claim holding role names.</summary>
    public string RoleClaim { get; set; } = "roles";

    /// <summary>The claim holding a display name.</summary>
    public string NameClaim { get; set; } = "name";

    /// <summary>Whether the authority must be HTTPS; only a development issuer on loopback turns this off.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>Tolerated clock difference when checking expiry.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A fixed bearer token this service presents when it calls other services (role <c>service</c>), for set-ups whose
    /// tokens come from a renewed mount; <see cref="TokenEndpoint"/> is used instead when set.
    /// </summary>
    public string? ServiceToken { get; set; }

    /// <summary>The issuer's OAuth 2.0 token endpoint, where this service obtains its tokens by client credentials.</summary>
    public string? TokenEndpoint { get; set; }

    /// <summary>This service's client id at the token endpoint.</summary>
    public string? ClientId { get; set; }

    /// <summary>This service's client secret at the token endpoint (from a secret store; never logged).</summary>
    public string? ClientSecret { get; set; }
}

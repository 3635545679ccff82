using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace ModelOps.Hosting.Local;

/// <summary>
/// Signs development tokens with an RSA key of its own (RS256), and publishes the key as a JWKS, so services
/// validate its tokens exactly as they would a real OIDC provider's. Never for production.
/// </summary>
public sealed class DevelopmentTokenIssuer
{
    /// <summary>The audience of ModelOps tokens.</summary>
    public const string DefaultAudience = "modelops";

    private readonly RsaSecurityKey _key;
    private readonly SigningCredentials _credentials;

    /// <summary>An issuer named <paramref name="issuer"/> signing with <paramref name="rsa"/>.</summary>
    public DevelopmentTokenIssuer(string issuer, RSA rsa)
    {
        Issuer = issuer;
        _key = new RsaSecurityKey(rsa) { KeyId = Base64UrlEncoder.Encode(SHA256.HashData(rsa.ExportRSAPublicKey()))[..16] };
        _credentials = new SigningCredentials(_key, SecurityAlgorithms.RsaSha256);
    }

    /// <summary>The <c>iss</c> of its tokens.</summary>
    public string Issuer { get; set; }

    /// <summary>An issuer whose key is kept in <paramref name="keyPath"/> (generated on first use).</summary>
    public static DevelopmentTokenIssuer LoadOrCreate(string issuer, string keyPath)
    {
        var rsa = RSA.Create();
        if (File.Exists(keyPath))
        {
            rsa.ImportFromPem(File.ReadAllText(keyPath));
        }
        else
        {
            rsa.KeySize = 2048;
            Directory.CreateDirectory(Path.GetDirectoryName(keyPath)!);
            PrivateFile.Write(keyPath, rsa.ExportPkcs8PrivateKeyPem());
        }

        return new DevelopmentTokenIssuer(issuer, rsa);
    }

    /// <summary>The public signing key as a JSON Web Key Set.</summary>
    public string JsonWebKeySet()
    {
        var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(
            new RsaSecurityKey(_key.Rsa.ExportParameters(includePrivateParameters: false)) { KeyId = _key.KeyId });
        return JsonSerializer.Serialize(new
        {
            keys = new[] { new { kty = jwk.Kty, use = "sig", alg = SecurityAlgorithms.RsaSha256, kid = jwk.Kid, n = jwk.N, e = jwk.E } },
        });
    }

    /// <summary>An OIDC discovery document for an issuer served at <see cref="Issuer"/>.</summary>
    public object DiscoveryDocument() => new Dictionary<string, object>
    {
        ["issuer"] = Issuer,
        ["jwks_uri"] = $"{Issuer}/.well-known/jwks.json",
        ["token_endpoint"] = $"{Issuer}/connect/token",
        ["id_token_signing_alg_values_supported"] = new[] { SecurityAlgorithms.RsaSha256 },
        ["response_types_supported"] = new[] { "token" },
        ["subject_types_supported"] = new[] { "public" },
    };

    /// <summary>A signed token for <paramref name="subject"/> holding <paramref name="roles"/>, member of <paramref name="teams"/>.</summary>
    public string CreateToken(
        string subject, IEnumerable<string> roles, TimeSpan? lifetime = null, string audience = DefaultAudience,
        string? name = null, DateTime? now = null, IEnumerable<string>? teams = null)
    {
        var issuedAt = now ?? DateTime.UtcNow;
        var claims = new List<Claim> { new("sub", subject), new("name", name ?? subject) };
        claims.AddRange(roles.Select(role => new Claim("roles", role)));
        claims.AddRange((teams ?? []).Select(team => new Claim("teams", team)));
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Subject = new ClaimsIdentity(claims),
            IssuedAt = issuedAt,
            NotBefore = issuedAt,
            Expires = issuedAt + (lifetime ?? TimeSpan.FromHours(24)),
            SigningCredentials = _credentials,
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }
}

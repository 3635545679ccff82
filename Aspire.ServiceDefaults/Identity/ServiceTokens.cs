using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ModelOps.ServiceDefaults.Identity;

/// <summary>
/// The bearer tokens a service presents to the other services it calls, one per callee: a token's audience is the
/// service it is sent to (<c>modelops:&lt;service&gt;</c>), so a token captured on its way to one service is refused by
/// every other. Tokens come from the issuer's token endpoint by an OAuth 2.0 client-credentials grant
/// (<c>Identity:TokenEndpoint</c>, <c>Identity:ClientId</c>, <c>Identity:ClientSecret</c>), are cached, and are renewed
/// before they expire, so a service that runs for weeks never presents an expired token. Without a token endpoint, the
/// fixed <c>Identity:ServiceToken</c> is used, if any (a set-up whose tokens come from a renewed mount).
/// </summary>
public sealed partial class ServiceTokens(
    IHttpClientFactory httpClients, IOptionsMonitor<IdentityOptions> options, TimeProvider clock, ILogger<ServiceTokens> logger)
{
    /// <summary>The name of the HTTP client that talks to the token endpoint.</summary>
    public const string HttpClientName = "modelops-token-endpoint";

    private readonly ConcurrentDictionary<string, Lazy<Task<CachedToken>>> _tokens = new(StringComparer.Ordinal);

    /// <summary>The audience of tokens meant for <paramref name="service"/>: <c>&lt;Identity:Audience&gt;:&lt;service&gt;</c>.</summary>
    public static string AudienceOf(string audience, string service) => $"{audience}:{service}";

    /// <summary>A valid token to present to <paramref name="service"/>, or null when this service has no credentials.</summary>
    public async Task<string?> GetAsync(string service, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        if (string.IsNullOrWhiteSpace(settings.TokenEndpoint))
        {
            return string.IsNullOrWhiteSpace(settings.ServiceToken) ? null : settings.ServiceToken;
        }

        var audience = AudienceOf(settings.Audience, service);
        while (true)
        {
            var entry = _tokens.GetOrAdd(audience, a => new Lazy<Task<CachedToken>>(() => RequestAsync(a, settings, CancellationToken.None)));
            CachedToken token;
            try
            {
                token = await entry.Value.WaitAsync(cancellationToken);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // A failed request is not cached: the next call asks again.
                _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<CachedToken>>>(audience, entry));
                throw;
            }

            if (clock.GetUtcNow() < token.RenewAt)
            {
                return token.Value;
            }

            _tokens.TryRemove(new KeyValuePair<string, Lazy<Task<CachedToken>>>(audience, entry));
        }
    }

    private async Task<CachedToken> RequestAsync(string audience, IdentityOptions settings, CancellationToken cancellationToken)
    {
        using var http = httpClients.CreateClient(HttpClientName);
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = settings.ClientId ?? "",
            ["client_secret"] = settings.ClientSecret ?? "",
            ["audience"] = audience,
        });
        var requestedAt = clock.GetUtcNow();
        using var response = await http.PostAsync(settings.TokenEndpoint, form, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            LogRefused(logger, audience, (int)response.StatusCode);
            throw new HttpRequestException($"The token endpoint refused a token for {audience}: HTTP {(int)response.StatusCode}.");
        }

        var body = await response.Content.ReadFromJsonAsync<TokenResponse>(cancellationToken)
                   ?? throw new HttpRequestException("The token endpoint answered without a token.");
        var lifetime = TimeSpan.FromSeconds(Math.Max(body.ExpiresIn, 1));
        // Renew once most of the lifetime has passed (and at least a minute before expiry when the lifetime allows it).
        var margin = TimeSpan.FromTicks(Math.Max(lifetime.Ticks / 5, Math.Min(TimeSpan.FromMinutes(1).Ticks, lifetime.Ticks / 2)));
        LogIssued(logger, audience, lifetime);
        return new CachedToken(body.AccessToken, requestedAt + lifetime - margin);
    }

    private sealed record CachedToken(string Value, DateTimeOffset RenewAt);

    private sealed record TokenResponse(
        [property: JsonPropertyName("access_token")] string AccessToken,
        [property: JsonPropertyName("expires_in")] long ExpiresIn);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Obtained a token for {Audience}, valid for {Lifetime}")]
    private static partial void LogIssued(ILogger logger, string audience, TimeSpan lifetime);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The token endpoint refused a token for {Audience}: HTTP {Status}")]
    private static partial void LogRefused(ILogger logger, string audience, int status);
}

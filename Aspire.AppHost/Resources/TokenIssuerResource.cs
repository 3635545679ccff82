using System.Net;
using System.Security.Cryptography;
using Aspire.Hosting.ApplicationModel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost.Resources;

/// <summary>
/// The development OIDC issuer, as a resource of its own: it serves discovery, its signing key (JWKS) and a token endpoint
/// on a loopback port, hands each service a client id and secret with which the service obtains (and renews, by OAuth 2.0
/// client credentials) tokens whose audience is the service it calls, and writes a ready-made token per role for people.
/// Development only: any role for any subject is one request away.
/// </summary>
public sealed class TokenIssuerResource(string name, DevelopmentTokenIssuer issuer, int port, string stateDirectory, string tokensDirectory)
    : Resource(name)
{
    /// <summary>The team every development token names (it owns the models its pipeline creates).</summary>
    public const string DevelopmentTeam = "ml-team";

    /// <summary>The generic audience of ModelOps tokens.</summary>
    public const string Audience = DevelopmentTokenIssuer.DefaultAudience;

    private static readonly string[] Roles = ["pipeline", "reviewer", "admin", "auditor", "service"];
    private WebApplication? _web;

    /// <summary>The issuer (<c>iss</c>) and signer.</summary>
    public DevelopmentTokenIssuer Issuer { get; } = issuer;

    /// <summary>The loopback port it serves.</summary>
    public int Port { get; } = port;

    /// <summary>Where the ready-made tokens are written, one file per role.</summary>
    public string TokensDirectory { get; } = tokensDirectory;

    /// <summary>Its token endpoint.</summary>
    public string TokenEndpoint => $"{Issuer.Issuer}/connect/token";

    /// <summary>The client secret of <paramref name="client"/> (a service), kept in the state folder.</summary>
    public string ClientSecret(string client) => Secret(Path.Combine(stateDirectory, "clients"), client);

    /// <summary>Starts serving and writes the ready-made tokens.</summary>
    internal async Task StartAsync(ILogger logger, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // It reads no ambient configuration: an ASPNETCORE_URLS meant for the dashboard must not move it.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, Port));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            // Only loopback names: a page on another site cannot reach it through DNS rebinding.
            if (context.Request.Host.Host is not ("127.0.0.1" or "localhost" or "[::1]" or "::1"))
            {
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                await context.Response.WriteAsync("This development issuer answers only to loopback host names.");
                return;
            }

            await next(context);
        });
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(Issuer.DiscoveryDocument()));
        app.MapGet("/.well-known/jwks.json", () => Results.Content(Issuer.JsonWebKeySet(), "application/json"));
        app.MapPost("/connect/token", ClientCredentials).DisableAntiforgery();
        // Development convenience: any role for any subject, so a developer can try each role's view.
        app.MapGet("/connect/token", (string role, string? sub, string? teams) =>
            role.Split(',').All(r => Roles.Contains(r))
                ? Results.Text(Issuer.CreateToken(sub ?? $"dev-{role}", role.Split(','),
                    teams: (teams ?? DevelopmentTeam).Split(',', StringSplitOptions.RemoveEmptyEntries)))
                : Results.BadRequest($"role must be one or more of {string.Join(", ", Roles)}"));
        await app.StartAsync(cancellationToken);
        _web = app;

        Directory.CreateDirectory(TokensDirectory);
        File.SetUnixFileMode(TokensDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Two reviewers: a promotion may need the approval of two distinct people (four eyes).
        foreach (var (file, role) in new[] { ("pipeline", "pipeline"), ("reviewer", "reviewer"), ("reviewer-2", "reviewer"), ("admin", "admin"), ("auditor", "auditor"), ("service", "service") })
        {
            var path = Path.Combine(TokensDirectory, $"{file}.jwt");
            PrivateFile.Write(path, Issuer.CreateToken($"dev-{file}", [role], teams: [DevelopmentTeam]));
        }

        LogServing(logger, Issuer.Issuer, TokensDirectory);
    }

    /// <summary>Whether it answers its discovery document.</summary>
    internal async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            return (await http.GetAsync($"{Issuer.Issuer}/.well-known/openid-configuration", cancellationToken)).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>Stops serving.</summary>
    internal async Task StopAsync()
    {
        if (_web is not null)
        {
            await _web.StopAsync();
            await _web.DisposeAsync();
            _web = null;
        }
    }

    // OAuth 2.0 client credentials (RFC 6749 §4.4): a service's id and secret for a token of role "service", whose
    // audience is the one service it will call (modelops:<service>), valid for an hour. The form is read only after its
    // size is known to be small.
    private async Task<IResult> ClientCredentials(HttpRequest request)
    {
        if (!request.HasFormContentType || request.ContentLength is null or > 4096)
        {
            return OAuthError("invalid_request", "send application/x-www-form-urlencoded, at most 4096 bytes");
        }

        var form = await request.ReadFormAsync();
        if (form["grant_type"] != "client_credentials")
        {
            return OAuthError("unsupported_grant_type", "only client_credentials");
        }

        var client = form["client_id"].ToString();
        var secret = form["client_secret"].ToString();
        var known = client.Length is > 0 and <= 64 && client.All(c => char.IsAsciiLetterLower(c) || c == '-') &&
                    File.Exists(Path.Combine(stateDirectory, "clients", $"{client}.secret"));
        if (!known || !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(ClientSecret(client)), System.Text.Encoding.UTF8.GetBytes(secret)))
        {
            return Results.Json(new { error = "invalid_client" }, statusCode: StatusCodes.Status401Unauthorized);
        }

        // A service's token is addressed to the one service it calls: never the generic audience, which every service accepts.
        var audience = form["audience"].ToString();
        var callee = audience.StartsWith($"{Audience}:", StringComparison.Ordinal) ? audience[(Audience.Length + 1)..] : "";
        if (callee.Length is 0 or > 64 || !callee.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            return OAuthError("invalid_target", $"audience must be {Audience}:<service>, the service the token is for");
        }

        var lifetime = TimeSpan.FromHours(1);
        var token = Issuer.CreateToken($"service:{client}", ["service"], lifetime, audience);
        return Results.Json(new { access_token = token, token_type = "Bearer", expires_in = (long)lifetime.TotalSeconds });
    }

    private static IResult OAuthError(string error, string description) =>
        Results.Json(new { error, error_description = description }, statusCode: StatusCodes.Status400BadRequest);

    private static string Secret(string directory, string name)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{name}.secret");
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        PrivateFile.Write(path, secret);
        return secret;
    }

    private static void LogServing(ILogger logger, string issuer, string tokens) =>
        logger.LogInformation("Issuing development tokens at {Issuer}; ready-made tokens per role in {Tokens}", issuer, tokens);
}

/// <summary>Adds the development token issuer and lets services trust it and obtain their tokens from it.</summary>
public static class TokenIssuerExtensions
{
    /// <summary>The development token issuer on <paramref name="port"/>, its key and client secrets under <paramref name="stateDirectory"/>.</summary>
    public static IResourceBuilder<TokenIssuerResource> AddDevelopmentTokenIssuer(
        this IDistributedApplicationBuilder builder, string name, int port, string stateDirectory, string tokensDirectory)
    {
        var issuer = DevelopmentTokenIssuer.LoadOrCreate($"http://127.0.0.1:{port}", Path.Combine(stateDirectory, "signing-key.pem"));
        var resource = new TokenIssuerResource(name, issuer, port, stateDirectory, tokensDirectory);
        var healthCheck = $"{name}-answers";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthCheck, async cancellationToken =>
            await resource.AnswersAsync(cancellationToken) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("the issuer does not answer"));
        builder.Services.AddHostedService(services => new TokenIssuerShutdown(resource, services.GetRequiredService<IHostApplicationLifetime>()));

        return builder.AddResource(resource)
            .WithInitialState(new CustomResourceSnapshot { ResourceType = "Token issuer (development)", State = KnownResourceStates.NotStarted, Properties = [] })
            .WithHealthCheck(healthCheck)
            .ExcludeFromManifest()
            .OnInitializeResource(async (issuerResource, initialize, cancellationToken) =>
            {
                await initialize.Eventing.PublishAsync(new BeforeResourceStartedEvent(issuerResource, initialize.Services), cancellationToken);
                await initialize.Notifications.PublishUpdateAsync(issuerResource, s => s with { State = KnownResourceStates.Starting, StartTimeStamp = DateTime.UtcNow });
                try
                {
                    await issuerResource.StartAsync(initialize.Logger, cancellationToken);
                }
                catch (IOException exception)
                {
                    initialize.Logger.LogError("The token issuer could not start: {Reason}", exception.Message);
                    await initialize.Notifications.PublishUpdateAsync(issuerResource, s => s with
                    {
                        State = new ResourceStateSnapshot(KnownResourceStates.FailedToStart, KnownResourceStateStyles.Error),
                        Properties = [.. s.Properties, new("failure", exception.Message)],
                    });
                    return;
                }

                await initialize.Notifications.PublishUpdateAsync(issuerResource, s => s with
                {
                    State = KnownResourceStates.Running,
                    Properties =
                    [
                        new("issuer", issuerResource.Issuer.Issuer),
                        new("ready-made tokens", issuerResource.TokensDirectory),
                        new("a token for anyone", $"curl '{issuerResource.TokenEndpoint}?role=reviewer&sub=alice'"),
                    ],
                    Urls =
                    [
                        new("discovery", $"{issuerResource.Issuer.Issuer}/.well-known/openid-configuration", IsInternal: false),
                        new("token (pipeline)", $"{issuerResource.TokenEndpoint}?role=pipeline", IsInternal: false),
                    ],
                });
            });
    }

    /// <summary>
    /// Makes the service trust the issuer and obtain, as client <c>&lt;service name&gt;</c>, the tokens it presents to
    /// the services it calls.
    /// </summary>
    public static IResourceBuilder<ModelOpsServiceResource> WithReference(this IResourceBuilder<ModelOpsServiceResource> service, IResourceBuilder<TokenIssuerResource> issuer)
    {
        var resource = issuer.Resource;
        return service
            .WaitFor(issuer)
            .WithEnvironment("Identity__Authority", resource.Issuer.Issuer)
            .WithEnvironment("Identity__Audience", TokenIssuerResource.Audience)
            .WithEnvironment("Identity__RequireHttpsMetadata", "false")
            .WithEnvironment("Identity__TokenEndpoint", resource.TokenEndpoint)
            .WithEnvironment("Identity__ClientId", service.Resource.Name)
            .WithEnvironment("Identity__ClientSecret", resource.ClientSecret(service.Resource.Name));
    }
}

/// <summary>Stops the issuer's web server once the application has stopped.</summary>
internal sealed class TokenIssuerShutdown(TokenIssuerResource issuer, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopped.Register(() => issuer.StopAsync().Wait(TimeSpan.FromSeconds(5)));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.FluentUI.AspNetCore.Components;
using ModelOps.Console.Components;
using ModelOps.Console.Data;
using ModelOps.Console.Identity;
using ModelOps.Console.Live;
using ModelOps.Ledger.V1;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.Tracking.V1;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
// Every call is made as the signed-in person, with their token: the services check their roles and record them as actor.
builder.Services.AddUserGrpcClient<RegistryService.RegistryServiceClient>("registry");
builder.Services.AddUserGrpcClient<TrackingService.TrackingServiceClient>("tracking");
builder.Services.AddUserGrpcClient<LedgerService.LedgerServiceClient>("ledger");
builder.Services.AddUserGrpcClient<ModelOps.Drift.V1.DriftService.DriftServiceClient>("drift");
builder.Services.AddUserGrpcClient<ModelOps.Fairness.V1.FairnessService.FairnessServiceClient>("fairness");
builder.Services.AddUserGrpcClient<ModelOps.Explainability.V1.ExplainabilityService.ExplainabilityServiceClient>("explainability");
builder.Services.AddUserGrpcClient<ModelOps.Alerting.V1.AlertingService.AlertingServiceClient>("alerting");
builder.Services.AddScoped<ModelOps.Dossier.MonitoringClients>();
builder.Services.AddScoped<ModelOps.Dossier.DossierBuilder>();
builder.Services.AddScoped<Person>();
builder.Services.AddScoped<ConsoleApi>();
builder.Services.AddSingleton<ConsoleSignIn>();
builder.Services.Configure<ConsoleOptions>(builder.Configuration.GetSection(ConsoleOptions.Section));
builder.AddLiveEvents();

// People sign in once (a cookie session holding their token); programs present a bearer token (the CLI fetching a
// dossier), and gRPC calls (health, reflection) are answered as the other services answer them: 401, never a redirect.
const string PersonOrProgram = "person-or-program";
builder.Services.AddAuthentication(PersonOrProgram)
    .AddPolicyScheme(PersonOrProgram, "Cookie or bearer token", policy => policy.ForwardDefaultSelector = context =>
        context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ||
        context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true
            ? JwtBearerDefaults.AuthenticationScheme
            : CookieAuthenticationDefaults.AuthenticationScheme)
    .AddCookie(cookie =>
    {
        cookie.LoginPath = "/signin";
        cookie.Cookie.Name = "modelops.console";
        cookie.Cookie.HttpOnly = true;
        cookie.Cookie.SameSite = SameSiteMode.Strict;
        cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        cookie.SlidingExpiration = false;
    });
builder.Services.AddCascadingAuthenticationState();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddFluentUIComponents();

var app = builder.Build();

// A fault shows a correlation id, never exception text, in development too; the log holds the rest.
app.UseExceptionHandler(new ExceptionHandlerOptions
{
    ExceptionHandler = async context =>
    {
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync($"The console met an internal error (correlation id {context.TraceIdentifier}); it is in the console's log.");
    },
});
app.MapDefaultEndpoints();
app.UseAntiforgery();
app.MapStaticAssets().AllowAnonymous();
ConsoleSignIn.Map(app);
DossierEndpoints.Map(app);
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();

app.Run();

/// <summary>The console's options (<c>Console:*</c>).</summary>
public sealed class ConsoleOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Console";

    /// <summary>
    /// The ledger verifier key the console trusts (name+hash+base64), pinned by whoever deploys it; without it the page
    /// verifies against the key the ledger names, and says so.
    /// </summary>
    public string? LedgerVerifierKey { get; set; }

    /// <summary>
    /// How often an open page looks for changes, in seconds, besides the events that reach it as they are announced
    /// (for the moments when the broker is away).
    /// </summary>
    public double RefreshSeconds { get; set; } = 30;
}

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.FluentUI.AspNetCore.Components;
using ModelOps.Console.Components;
using ModelOps.Console.Data;
using ModelOps.Console.Identity;
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
builder.Services.AddScoped<ModelOps.Dossier.DossierBuilder>();
builder.Services.AddScoped<Person>();
builder.Services.AddScoped<ConsoleApi>();
builder.Services.AddSingleton<ConsoleSignIn>();
builder.Services.Configure<ConsoleOptions>(builder.Configuration.GetSection(ConsoleOptions.Section));

// People sign in once (a cookie session holding their token); programs may call the dossier endpoints with a bearer token.
const string PersonOrProgram = "person-or-program";
builder.Services.AddAuthentication(options =>
    {
        options.DefaultScheme = PersonOrProgram;
        options.DefaultChallengeScheme = CookieAuthenticationDefaults.AuthenticationScheme;
    })
    .AddPolicyScheme(PersonOrProgram, "Cookie or bearer token", policy => policy.ForwardDefaultSelector = context =>
        context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
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

    /// <summary>How often an open page looks for changes (live updates), in seconds.</summary>
    public double RefreshSeconds { get; set; } = 3;
}

using Microsoft.AspNetCore.Authentication.JwtBearer;
using ModelOps.Mlflow.Artifacts;
using ModelOps.Mlflow.Registry;
using ModelOps.Mlflow.Tracking;
using ModelOps.Mlflow.Wire;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.Tracking.V1;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
// The façade acts as its caller: tracking and the registry check the caller's own token and roles.
builder.Services.AddCallerGrpcClient<TrackingService.TrackingServiceClient>("tracking");
builder.Services.AddCallerGrpcClient<RegistryService.RegistryServiceClient>("registry");
builder.Services.AddSingleton<DefaultExperiment>();
builder.Services.AddScoped<ExperimentIds>();
builder.Services.AddSingleton<RunExperiments>();
builder.Services.AddScoped<RegistryMapping>();
builder.Services.PostConfigure<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme, jwt =>
{
    jwt.Events ??= new JwtBearerEvents();
    jwt.Events.OnChallenge = Identity.ChallengeAsync;
});

var app = builder.Build();

app.Use(Routes.ErrorsAsync);
app.MapDefaultEndpoints();

// MLflow 3.x clients send spans to /v1/traces when /version reports 3.4 or later; this API is MLflow 2's.
app.MapGet("/version", () => Results.Text(Identity.MlflowVersion)).AllowAnonymous();
var api = app.MapGroup("/api/2.0/mlflow");
ExperimentApi.Map(api);
RunApi.Map(api);
LoggedModelApi.Map(api);
RegistryApi.Map(api);
// MLflow 1.x clients call the registry under the preview prefix.
RegistryApi.Map(app.MapGroup("/api/2.0/preview/mlflow"));
ArtifactApi.Map(api, app.MapGroup("/api/2.0/mlflow-artifacts"));

app.Run();

using Aspire.Hosting.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using ModelOps.AppHost;
using ModelOps.AppHost.Resources;
using ModelOps.Hosting.Local;

// Our own options (--state, --fresh, --dynamic-ports) first; the rest is Aspire's configuration.
var (options, aspireArgs) = AppHostOptions.Parse(args);
var context = options.CreateContext(new ResourceLogForwarder());
var ports = context.Ports;

var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions
{
    Args = [.. aspireArgs, .. options.DashboardArguments(ports)],
    // The dashboard and its OTLP endpoint are plain HTTP on loopback: this is a development stack.
    AllowUnsecuredTransport = true,
    DashboardApplicationName = "ModelOps",
});
builder.Services.AddSingleton((ResourceLogForwarder)context.Log);
builder.Services.AddEventingSubscriber<DashboardPorts>();

var identity = builder.AddDevelopmentTokenIssuer("identity", ports.Take(18880), context.DirectoryFor("identity"), options.TokensDirectory);
var postgres = builder.AddLocalPostgres("postgres", context, 15432);
var eventbus = builder.AddLocalRabbitMq("eventbus", context, 15672);
var artifacts = builder.AddLocalObjectStore("objectstore", context, 19000).AddBucket("artifacts");

var ledger = builder.AddService<Projects.ModelOps_Ledger>("ledger", ports.Take(7107), ports.Take(7207))
    .WithDatabase(postgres.AddDatabase("ledgerdb"))
    .WithEventBus(eventbus)
    .WithReference(identity)
    .WithLedgerSigningKey(Path.Combine(context.DirectoryFor("ledger"), "signing.key"), "modelops.local/ledger", out var verifierKey);

var tracking = builder.AddService<Projects.ModelOps_Tracking>("tracking", ports.Take(7101), ports.Take(7201))
    .WithDatabase(postgres.AddDatabase("trackingdb"))
    .WithEventBus(eventbus)
    .WithArtifacts(artifacts)
    .WithReference(identity);

var drift = builder.AddService<Projects.ModelOps_Drift>("drift", ports.Take(7103), ports.Take(7203))
    .WithDatabase(postgres.AddDatabase("driftdb"))
    .WithEventBus(eventbus)
    .WithArtifacts(artifacts)
    .WithReference(identity)
    .WithReference(tracking);

var fairness = builder.AddService<Projects.ModelOps_Fairness>("fairness", ports.Take(7104), ports.Take(7204))
    .WithDatabase(postgres.AddDatabase("fairnessdb"))
    .WithEventBus(eventbus)
    .WithArtifacts(artifacts)
    .WithReference(identity)
    .WithReference(tracking);

var explainability = builder.AddService<Projects.ModelOps_Explainability>("explainability", ports.Take(7105), ports.Take(7205))
    .WithDatabase(postgres.AddDatabase("explainabilitydb"))
    .WithEventBus(eventbus)
    .WithArtifacts(artifacts)
    .WithReference(identity)
    .WithReference(tracking)
    .WithReference(drift);

var registry = builder.AddService<Projects.ModelOps_Registry>("registry", ports.Take(7102), ports.Take(7202))
    .WithDatabase(postgres.AddDatabase("registrydb"))
    .WithEventBus(eventbus)
    .WithArtifacts(artifacts)
    .WithReference(identity)
    .WithReference(tracking)
    .WithReference(ledger)
    .WithReference(drift)
    .WithReference(fairness)
    .WithReference(explainability);
// Explainability reads model versions from the registry, which reads its gates: a reference both ways (no start order).
explainability.WithReference(registry);

var alerting = builder.AddService<Projects.ModelOps_Alerting>("alerting", ports.Take(7106), ports.Take(7206))
    .WithDatabase(postgres.AddDatabase("alertingdb"))
    .WithEventBus(eventbus)
    .WithReference(identity)
    .WithReference(registry);
// Notifications link back to alerting (its Alertmanager-compatible API) and to each finding's trace in the dashboard.
alerting.WithEnvironment("Alerting__ExternalUrl",
    ReferenceExpression.Create($"http://127.0.0.1:{alerting.GetEndpoint("http").Property(EndpointProperty.TargetPort)}"));
if (builder.Configuration["ASPNETCORE_URLS"] is { Length: > 0 } dashboardUrls)
{
    alerting.WithEnvironment("Alerting__TraceUrl", $"{dashboardUrls.Split(';')[0]}/traces/detail/{{traceId}}");
}

// MLflow's REST API over tracking and the registry: MLFLOW_TRACKING_URI points at its http endpoint.
var mlflow = builder.AddService<Projects.ModelOps_Mlflow>("mlflow", ports.Take(7108), ports.Take(7208))
    .WithReference(identity)
    .WithReference(tracking)
    .WithReference(registry)
    .WithUrlForEndpoint("http", url => url.DisplayText = "MLflow API");

// The governance console: reviewers and auditors sign in with their ModelOps token; it calls the services as them,
// hears every event on the bus (its pages update as they happen), and verifies the ledger against the key pinned here.
var console = builder.AddService<Projects.ModelOps_Console>("console", ports.Take(7109), ports.Take(7209))
    .WithEventBus(eventbus)
    .WithReference(identity)
    .WithReference(registry)
    .WithReference(tracking)
    .WithReference(ledger)
    .WithReference(drift)
    .WithReference(fairness)
    .WithReference(explainability)
    .WithReference(alerting)
    .WithEnvironment("Console__LedgerVerifierKey", verifierKey)
    .WithUrlForEndpoint("http", url => url.DisplayText = "Governance console");

if (options.AlertingConfig is { } alertingConfig)
{
    alerting.WithEnvironment("Alerting__ConfigFile", alertingConfig);
}

// The services' objectives (deploy/prometheus), evaluated by Prometheus; their alerts go to alerting like any other.
builder.AddLocalPrometheus("prometheus", context, 19090, [tracking, registry, drift, fairness, explainability, alerting, ledger, mlflow, console], alerting,
    Path.Combine(options.TokensDirectory, "service.jwt"));

builder.Services.AddHostedService(services => new StackSummary(services, options, verifierKey));
builder.Build().Run();

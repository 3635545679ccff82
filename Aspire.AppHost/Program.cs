using ModelOps.AppHost.Hosting;

var builder = DistributedApplication.CreateBuilder(args);

var postgres = builder.AddPostgres("postgres", port: 15432);
var eventbus = builder.AddRabbitMQ("eventbus", port: 15672);
var artifacts = builder.AddObjectStore("objectstore", port: 19000).AddBucket("artifacts");
var identity = builder.AddDevelopmentIdentity("identity");

var ledger = builder.AddProject<Projects.ModelOps_Ledger>("ledger", grpcPort: 7107, httpPort: 7207)
    .WithReference(postgres.AddDatabase("ledgerdb"))
    .WithReference(eventbus)
    .WithReference(identity)
    .WithLedgerSigningKey(builder.Context, origin: "modelops.local/ledger");

var tracking = builder.AddProject<Projects.ModelOps_Tracking>("tracking", grpcPort: 7101, httpPort: 7201)
    .WithReference(postgres.AddDatabase("trackingdb"))
    .WithReference(eventbus)
    .WithReference(artifacts)
    .WithReference(identity);

var registry = builder.AddProject<Projects.ModelOps_Registry>("registry", grpcPort: 7102, httpPort: 7202)
    .WithReference(postgres.AddDatabase("registrydb"))
    .WithReference(eventbus)
    .WithReference(artifacts)
    .WithReference(identity)
    .WithReference(tracking)
    .WithReference(ledger);

var drift = builder.AddProject<Projects.ModelOps_Drift>("drift", grpcPort: 7103, httpPort: 7203)
    .WithReference(postgres.AddDatabase("driftdb"))
    .WithReference(eventbus)
    .WithReference(artifacts)
    .WithReference(identity)
    .WithReference(tracking);

var fairness = builder.AddProject<Projects.ModelOps_Fairness>("fairness", grpcPort: 7104, httpPort: 7204)
    .WithReference(postgres.AddDatabase("fairnessdb"))
    .WithReference(eventbus)
    .WithReference(identity);

var explainability = builder.AddProject<Projects.ModelOps_Explainability>("explainability", grpcPort: 7105, httpPort: 7205)
    .WithReference(postgres.AddDatabase("explainabilitydb"))
    .WithReference(eventbus)
    .WithReference(artifacts)
    .WithReference(identity);

registry.WithReference(drift).WithReference(fairness).WithReference(explainability);

builder.AddProject<Projects.ModelOps_Alerting>("alerting", grpcPort: 7106, httpPort: 7206)
    .WithReference(postgres.AddDatabase("alertingdb"))
    .WithReference(eventbus)
    .WithReference(identity)
    .WithReference(registry);

return builder.Build().Run();

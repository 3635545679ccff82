using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.Artifacts;
using ModelOps.Tracking.Data;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.Grpc;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddServiceDatabase("trackingdb", typeof(Program).Assembly);
builder.AddEventBus();
builder.AddObjectStore("artifacts");
builder.Services.AddOptions<TrackingOptions>().BindConfiguration(TrackingOptions.Section)
    .Validate(o => o.Mandatory.All(ProvenanceFields.IsKnown), $"Tracking:MandatoryProvenance names a field that is not one of: {string.Join(", ", ProvenanceFields.All)}")
    .Validate(o => o.MaxArtifactBytes > 0, "Tracking:MaxArtifactBytes must be positive")
    .ValidateOnStart();
builder.Services.AddSingleton<TrackingStore>();
builder.Services.AddSingleton<BlobStore>();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<TrackingService>();

app.Run();

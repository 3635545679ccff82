using ModelOps.Drift.Extensions;
using ModelOps.Drift.Grpc;
using ModelOps.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<DriftService>();
app.MapGrpcService<DriftGates>();

app.Run();

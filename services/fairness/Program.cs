using ModelOps.Fairness.Extensions;
using ModelOps.Fairness.Grpc;
using ModelOps.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<FairnessService>();
app.MapGrpcService<FairnessGates>();

app.Run();

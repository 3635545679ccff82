using ModelOps.Explainability.Extensions;
using ModelOps.Explainability.Grpc;
using ModelOps.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<ExplainabilityService>();
app.MapGrpcService<ExplainabilityGates>();

app.Run();

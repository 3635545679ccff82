using ModelOps.Alerting.Api;
using ModelOps.Alerting.Extensions;
using ModelOps.Alerting.Grpc;
using ModelOps.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapAlertmanagerApi();
app.MapGrpcService<AlertingService>();

app.Run();

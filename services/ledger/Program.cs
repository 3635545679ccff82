using ModelOps.Ledger.Extensions;
using ModelOps.Ledger.Grpc;
using ModelOps.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapGrpcService<LedgerService>();

app.Run();

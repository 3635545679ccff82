using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddServiceDatabase("alertingdb", typeof(Program).Assembly);
builder.AddEventBus();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();

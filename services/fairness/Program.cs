using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddServiceDatabase("fairnessdb", typeof(Program).Assembly);
builder.AddEventBus();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();

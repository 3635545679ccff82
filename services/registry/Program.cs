using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.ServiceDefaults.ObjectStore;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddServiceDatabase("registrydb", typeof(Program).Assembly);
builder.AddEventBus();
builder.AddObjectStore("artifacts");

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ModelOps.AppHost.Hosting;

/// <summary>Declares the resources of a local ModelOps stack, in the manner of Aspire's builder.</summary>
public sealed class DistributedApplicationBuilder
{
    private readonly List<Resource> _resources = [];

    internal DistributedApplicationBuilder(AppHostOptions options)
    {
        Options = options;
        if (options.Fresh && Directory.Exists(options.StateDirectory))
        {
            Directory.Delete(options.StateDirectory, recursive: true);
        }

        Directory.CreateDirectory(options.StateDirectory);
        Context = new ResourceContext(options.StateDirectory, new Ports(options.DynamicPorts), new LogSink());
        DashboardPort = Context.Ports.Take(18888);
    }

    /// <summary>The command-line options.</summary>
    public AppHostOptions Options { get; }

    /// <summary>State folder, ports and logs shared by the resources.</summary>
    public ResourceContext Context { get; }

    /// <summary>The port of the dashboard, which also serves the development token issuer.</summary>
    public int DashboardPort { get; }

    /// <summary>A PostgreSQL server.</summary>
    public PostgresResource AddPostgres(string name, int port = 0) => Add(new PostgresResource(name, Context, port));

    /// <summary>A RabbitMQ node.</summary>
    public RabbitMqResource AddRabbitMQ(string name, int port = 0) => Add(new RabbitMqResource(name, Context, port));

    /// <summary>An S3-compatible object store.</summary>
    public ObjectStoreResource AddObjectStore(string name, int port = 0) => Add(new ObjectStoreResource(name, Context, port));

    /// <summary>The development token issuer, served on the dashboard's port.</summary>
    public IdentityResource AddDevelopmentIdentity(string name) =>
        Add(new IdentityResource(
            name,
            DevelopmentTokenIssuer.LoadOrCreate($"http://127.0.0.1:{DashboardPort}", Path.Combine(Context.DirectoryFor(name), "signing-key.pem")),
            Path.Combine(Context.StateDirectory, "tokens")));

    /// <summary>A service project, started once the resources it references are running.</summary>
    public ProjectResource AddProject<TProject>(string name, int grpcPort = 0, int httpPort = 0)
        where TProject : IProjectMetadata, new() =>
        Add(new ProjectResource(name, new TProject(), Context, grpcPort, httpPort));

    /// <summary>The application, ready to run.</summary>
    public DistributedApplication Build() => new(this, _resources);

    private T Add<T>(T resource) where T : Resource
    {
        if (_resources.Any(r => r.Name == resource.Name))
        {
            throw new ArgumentException($"A resource named {resource.Name} exists already.", nameof(resource));
        }

        _resources.Add(resource);
        return resource;
    }
}

/// <summary>Command-line options of the AppHost.</summary>
/// <param name="StateDirectory">Where state lives (<c>--state</c>, default <c>.modelops/</c> in the repository).</param>
/// <param name="Fresh">Wipe the state first (<c>--fresh</c>).</param>
/// <param name="DynamicPorts">Ignore the preferred ports and take free ones (<c>--dynamic-ports</c>).</param>
public sealed record AppHostOptions(string StateDirectory, bool Fresh, bool DynamicPorts)
{
    /// <summary>Reads the options from <paramref name="args"/>.</summary>
    public static AppHostOptions Parse(string[] args)
    {
        var state = Path.Combine(ResourceContext.RepositoryRoot, ".modelops");
        bool fresh = false, dynamicPorts = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--fresh":
                    fresh = true;
                    break;
                case "--dynamic-ports":
                    dynamicPorts = true;
                    break;
                case "--state" when i + 1 < args.Length:
                    state = args[++i];
                    break;
                default:
                    throw new ArgumentException(
                        $"Unknown option {args[i]}. Options: --fresh (wipe state), --state DIR, --dynamic-ports.");
            }
        }

        return new AppHostOptions(Path.GetFullPath(state), fresh, dynamicPorts);
    }
}

/// <summary>
/// Runs the declared resources: starts each once its dependencies run, waits for every one to be ready, prints
/// where everything is, serves the dashboard and the token issuer, and on Ctrl+C or SIGTERM stops everything it
/// started, services first.
/// </summary>
public sealed class DistributedApplication
{
    private readonly DistributedApplicationBuilder _builder;
    private readonly IReadOnlyList<Resource> _resources;

    internal DistributedApplication(DistributedApplicationBuilder builder, IReadOnlyList<Resource> resources)
    {
        _builder = builder;
        _resources = resources;
    }

    /// <summary>A builder configured from the command line.</summary>
    public static DistributedApplicationBuilder CreateBuilder(string[] args) => new(AppHostOptions.Parse(args));

    /// <summary>Runs until Ctrl+C or SIGTERM; returns the process exit code.</summary>
    public int Run() => RunAsync().GetAwaiter().GetResult();

    /// <summary>Runs until Ctrl+C or SIGTERM; returns the process exit code.</summary>
    public async Task<int> RunAsync()
    {
        var log = _builder.Context.Log;
        using var stopping = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (!stopping.IsCancellationRequested)
            {
                log.Info($"{context.Signal} received: stopping everything");
                stopping.Cancel();
            }
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        var clock = Stopwatch.StartNew();
        await using var web = await StartWebAsync(stopping.Token);
        var exitCode = 0;
        try
        {
            await StartResourcesAsync(stopping.Token);
            var elapsed = clock.Elapsed;
            PrintSummary(elapsed);
            await WriteStateFilesAsync(stopping.Token);
            log.Info(string.Create(CultureInfo.InvariantCulture, $"ModelOps is ready in {elapsed.TotalSeconds:0.0} s. Press Ctrl+C to stop."));
            await WatchAsync(stopping.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception exception) when (exception is ResourceFailedException or MissingPrerequisiteException)
        {
            exitCode = 1;
            log.Info($"FAILED: {exception.Message}");
            if (exception is ResourceFailedException { Resource: var failed })
            {
                log.Info($"Last lines of {failed.Name}:");
                foreach (var line in failed.RecentLines(25))
                {
                    log.Info($"  {line}");
                }
            }
        }
        finally
        {
            await StopResourcesAsync();
            log.Info("Everything stopped.");
        }

        return exitCode;
    }

    private async Task StartResourcesAsync(CancellationToken cancellationToken)
    {
        var started = new Dictionary<Resource, Task>();
        Task StartOne(Resource resource)
        {
            if (!started.TryGetValue(resource, out var task))
            {
                var dependencies = resource.DependsOn.Distinct().Select(StartOne).ToArray();
                task = Task.Run(async () =>
                {
                    await Task.WhenAll(dependencies);
                    await resource.StartAsync(cancellationToken);
                }, cancellationToken);
                started[resource] = task;
            }

            return task;
        }

        var all = _resources.Select(StartOne).ToArray();
        // Fail as soon as any resource fails, rather than waiting for the slowest one.
        var pending = all.ToList();
        while (pending.Count > 0)
        {
            var finished = await Task.WhenAny(pending);
            await finished;
            pending.Remove(finished);
        }
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        var reported = new HashSet<ManagedProcess>();
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(500, cancellationToken);
            foreach (var resource in _resources)
            {
                foreach (var process in resource.Processes.Where(p => p.HasExited && reported.Add(p)))
                {
                    _builder.Context.Log.Info($"{resource.Name} exited unexpectedly (code {process.ExitCode})");
                }
            }
        }
    }

    private async Task StopResourcesAsync()
    {
        // Services first, so they do not log the loss of their database and broker; then the infrastructure.
        await Task.WhenAll(_resources.OfType<ProjectResource>().Select(r => r.StopAsync()));
        await Task.WhenAll(_resources.Where(r => r is not ProjectResource).Select(r => r.StopAsync()));
    }

    private void PrintSummary(TimeSpan elapsed)
    {
        var rows = _resources.SelectMany(r => r.Endpoints.Select(e => (r.Name, State: r.State.ToString(), e.Key, e.Value))).ToList();
        rows.Insert(0, ("dashboard", "Running", "http", $"http://127.0.0.1:{_builder.DashboardPort}"));
        var widths = (rows.Max(r => r.Name.Length), rows.Max(r => r.State.Length), rows.Max(r => r.Key.Length));
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"{"resource".PadRight(widths.Item1)}  {"state".PadRight(widths.Item2)}  {"endpoint".PadRight(widths.Item3)}  address");
        foreach (var (name, state, key, value) in rows)
        {
            table.AppendLine(CultureInfo.InvariantCulture, $"{name.PadRight(widths.Item1)}  {state.PadRight(widths.Item2)}  {key.PadRight(widths.Item3)}  {value}");
        }

        foreach (var line in table.ToString().TrimEnd().Split('\n'))
        {
            _builder.Context.Log.Info(line);
        }
    }

    private async Task WriteStateFilesAsync(CancellationToken cancellationToken)
    {
        var snapshot = new
        {
            dashboard = $"http://127.0.0.1:{_builder.DashboardPort}",
            appHostPid = Environment.ProcessId,
            resources = _resources.ToDictionary(r => r.Name, r => new
            {
                state = r.State.ToString(),
                endpoints = r.Endpoints,
                pids = r.Processes.Select(p => p.Id).ToArray(),
                connectionString = (r as IResourceWithConnectionString)?.ConnectionString,
            }),
        };
        await File.WriteAllTextAsync(Path.Combine(_builder.Context.StateDirectory, "endpoints.json"),
            JsonSerializer.Serialize(snapshot, new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
    }

    private async Task<WebApplication> StartWebAsync(CancellationToken cancellationToken)
    {
        // The dashboard reads no ambient configuration: an appsettings.json or ASPNETCORE_URLS in the working
        // directory or environment (meant for a service) must not move it off its port.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, _builder.DashboardPort));
        var app = builder.Build();
        var identity = _resources.OfType<IdentityResource>().FirstOrDefault();

        app.MapGet("/", () => Results.Content(Dashboard.Render(_resources, _builder.DashboardPort), "text/html; charset=utf-8"));
        app.MapGet("/api/resources", () => Results.Json(_resources.Select(r => new
        {
            r.Name,
            State = r.State.ToString(),
            r.Endpoints,
            Pids = r.Processes.Select(p => p.Id),
        })));
        app.MapGet("/logs/{name}", (string name) =>
            _resources.FirstOrDefault(r => r.Name == name) is { } resource
                ? Results.Text(string.Join('\n', resource.RecentLines(200)))
                : Results.NotFound());

        if (identity is not null)
        {
            app.MapGet("/.well-known/openid-configuration", () => Results.Json(identity.Issuer.DiscoveryDocument()));
            app.MapGet("/.well-known/jwks.json", () => Results.Content(identity.Issuer.JsonWebKeySet(), "application/json"));
            // Development only, on loopback: any role for any subject, so a developer can try each role's view.
            app.MapGet("/connect/token", (string role, string? sub, string? teams) =>
                role.Split(',').All(r => Roles.Contains(r))
                    ? Results.Text(identity.Issuer.CreateToken(sub ?? $"dev-{role}", role.Split(','),
                        teams: (teams ?? IdentityResource.DevelopmentTeam).Split(',', StringSplitOptions.RemoveEmptyEntries)))
                    : Results.BadRequest($"role must be one or more of {string.Join(", ", Roles)}"));
        }

        await app.StartAsync(cancellationToken);
        return app;
    }

    private static readonly string[] Roles = ["pipeline", "reviewer", "admin", "auditor", "service"];
}

using System.Globalization;

namespace ModelOps.Hosting.Local;

/// <summary>A service project: what it is called and which assembly its build produced (generated per project).</summary>
public interface IServiceProject
{
    /// <summary>The .csproj file.</summary>
    string ProjectPath { get; }

    /// <summary>The built assembly (.dll) that is started.</summary>
    string TargetPath { get; }
}

/// <summary>
/// A ModelOps service started as a process (<c>dotnet &lt;assembly&gt;</c>) with its configuration injected through
/// environment variables in the Aspire conventions, ready once its <c>/health</c> answers 200.
/// </summary>
public sealed class ServiceProcess : LocalResource
{
    private readonly LocalContext _context;
    private readonly IServiceProject _project;
    private readonly int _preferredGrpcPort;
    private readonly Lock _portsLock = new();
    private int _grpcPort;
    private int _httpPort;
    private readonly int _preferredHttpPort;
    private readonly Dictionary<string, Func<string>> _environment = [];
    private readonly Dictionary<string, string> _notes = [];
    private LocalProcess? _process;

    /// <summary>A service named <paramref name="name"/> built from <paramref name="project"/>.</summary>
    public ServiceProcess(string name, IServiceProject project, LocalContext context, int grpcPort = 0, int httpPort = 0)
        : base(name)
    {
        _project = project;
        _context = context;
        _preferredGrpcPort = grpcPort;
        _preferredHttpPort = httpPort;
    }

    /// <summary>
    /// The gRPC (HTTP/2 cleartext) port. Taken when first asked for, not when the service starts: a service that
    /// references this one may start first, and must be given the address this one will listen on.
    /// </summary>
    public int GrpcPort
    {
        get
        {
            TakePorts();
            return _grpcPort;
        }
    }

    /// <summary>The HTTP/1.1 port serving <c>/health</c>, <c>/alive</c> and <c>/metrics</c> (taken as <see cref="GrpcPort"/> is).</summary>
    public int HttpPort
    {
        get
        {
            TakePorts();
            return _httpPort;
        }
    }

    /// <summary>The gRPC address.</summary>
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";

    /// <summary>The HTTP address.</summary>
    public string HttpAddress => $"http://127.0.0.1:{HttpPort}";

    /// <inheritdoc />
    public override IReadOnlyList<LocalProcess> Processes => _process is null ? [] : [_process];

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Endpoints => new Dictionary<string, string>
    {
        ["grpc"] = GrpcAddress,
        ["http"] = $"{HttpAddress}/health",
    }.Concat(_notes).ToDictionary();

    /// <summary>Shows <paramref name="value"/> under <paramref name="key"/> in the summary table and on the dashboard.</summary>
    public ServiceProcess WithNote(string key, string value)
    {
        _notes[key] = value;
        return this;
    }

    /// <summary>Sets an environment variable, evaluated when the process starts.</summary>
    public ServiceProcess WithEnvironment(string name, Func<string> value)
    {
        _environment[name] = value;
        return this;
    }

    /// <summary>Sets an environment variable.</summary>
    public ServiceProcess WithEnvironment(string name, string value) => WithEnvironment(name, () => value);

    /// <summary>Sets configuration keys (<c>Section:Key</c>, passed as <c>Section__Key</c> environment variables).</summary>
    public ServiceProcess WithConfiguration(IEnumerable<KeyValuePair<string, string?>> configuration)
    {
        foreach (var (key, value) in configuration)
        {
            WithEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value ?? "");
        }

        return this;
    }

    /// <summary>Injects a connection string (<c>ConnectionStrings__&lt;name&gt;</c>) and waits for its resource.</summary>
    public ServiceProcess WithReference(IConnectionSource resource)
    {
        DependsOn.Add(resource switch
        {
            LocalDatabase database => database.Server,
            LocalBucket bucket => bucket.Store,
            LocalResource other => other,
            _ => throw new ArgumentException($"{resource.ConnectionName} is not a resource.", nameof(resource)),
        });
        return WithEnvironment($"ConnectionStrings__{resource.ConnectionName}", () => resource.ConnectionString);
    }

    /// <summary>Makes <paramref name="service"/> discoverable (<c>services__&lt;name&gt;__grpc__0</c> and <c>__http__0</c>).</summary>
    public ServiceProcess WithReference(ServiceProcess service)
    {
        WithEnvironment($"services__{service.Name}__grpc__0", () => service.GrpcAddress);
        return WithEnvironment($"services__{service.Name}__http__0", () => service.HttpAddress);
    }

    // Once; a restart keeps them.
    private void TakePorts()
    {
        lock (_portsLock)
        {
            if (_grpcPort == 0)
            {
                _grpcPort = _context.Ports.Take(_preferredGrpcPort);
                _httpPort = _context.Ports.Take(_preferredHttpPort);
            }
        }
    }

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        State = LocalState.Starting;
        if (!File.Exists(_project.TargetPath))
        {
            State = LocalState.Failed;
            throw new LocalResourceFailedException(this, $"is not built ({_project.TargetPath} is missing): run dotnet build");
        }

        TakePorts();
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["OTEL_SERVICE_NAME"] = Name,
            ["Kestrel__Endpoints__grpc__Url"] = GrpcAddress,
            ["Kestrel__Endpoints__grpc__Protocols"] = "Http2",
            ["Kestrel__Endpoints__http__Url"] = HttpAddress,
            ["Kestrel__Endpoints__http__Protocols"] = "Http1",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
            ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss ",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (key, value) in _environment)
        {
            environment[key] = value();
        }

        _process = LocalProcess.Start(Name, DotnetHost(), ["exec", _project.TargetPath], environment, _context.Log,
            Path.GetDirectoryName(_project.TargetPath));

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var health = $"{HttpAddress}/health";
        await WaitUntilAsync(async ct => (await http.GetAsync(health, ct)).IsSuccessStatusCode,
            _process, TimeSpan.FromSeconds(120), cancellationToken);
    }

    /// <inheritdoc />
    public override async Task StopAsync()
    {
        if (_process is not null)
        {
            await _process.StopAsync(TimeSpan.FromSeconds(15));
        }

        State = LocalState.Stopped;
    }

    /// <summary>The dotnet host that runs service assemblies: the one running this process when it is dotnet, else PATH's.</summary>
    public static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet"
            ? current
            : Prerequisites.FindOnPath("dotnet") ?? throw new MissingPrerequisiteException("the dotnet host");
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({GrpcAddress})");
}

using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;

namespace ModelOps.Hosting.Local;

/// <summary>
/// A RabbitMQ node of its own: own node name, ports, data folder, Erlang cookie, and its own epmd on a port of
/// its own, so it neither meets nor disturbs any other Erlang node on the machine. The management plugin serves
/// the UI and the HTTP API used for readiness and for creating virtual hosts.
/// </summary>
public sealed class LocalRabbitMq : LocalResource, IConnectionSource
{
    private readonly LocalContext _context;
    private readonly int _preferredPort;
    private readonly string? _serverScript;
    private LocalProcess? _epmd;
    private LocalProcess? _server;
    private int _epmdPort;
    private int _distributionPort;

    /// <summary>A node named after <paramref name="name"/>, AMQP on <paramref name="preferredPort"/> (or a free port).</summary>
    public LocalRabbitMq(string name, LocalContext context, int preferredPort = 0, string? serverScript = null)
        : base(name)
    {
        _context = context;
        _preferredPort = preferredPort;
        _serverScript = serverScript;
    }

    /// <summary>The AMQP port.</summary>
    public int Port { get; private set; }

    /// <summary>The management UI and HTTP API port.</summary>
    public int ManagementPort { get; private set; }

    /// <summary>The user (administrator of every virtual host).</summary>
    public string Username => "modelops";

    /// <summary>The user's password (kept in the state folder).</summary>
    public string Password => _context.Secret(Name, "password");

    /// <inheritdoc />
    public string ConnectionName => Name;

    /// <inheritdoc />
    public string ConnectionString => ConnectionStringFor("/");

    /// <inheritdoc />
    public override IReadOnlyList<LocalProcess> Processes => new[] { _epmd, _server }.OfType<LocalProcess>().ToList();

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Endpoints => new Dictionary<string, string>
    {
        ["amqp"] = $"amqp://127.0.0.1:{Port}",
        ["management"] = $"http://127.0.0.1:{ManagementPort} (user {Username})",
    };

    /// <summary>The AMQP URI of <paramref name="virtualHost"/>.</summary>
    public string ConnectionStringFor(string virtualHost) =>
        $"amqp://{Username}:{Password}@127.0.0.1:{Port}/{(virtualHost == "/" ? "" : Uri.EscapeDataString(virtualHost))}";

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        State = LocalState.Starting;
        var script = Prerequisites.RabbitMqServer(_serverScript);
        var epmd = Prerequisites.Epmd();
        ReservePorts();

        var home = _context.DirectoryFor(Name);
        // It holds the password: readable by its owner only.
        PrivateFile.Write(Path.Combine(home, "rabbitmq.conf"), string.Join('\n',
            $"listeners.tcp.default = 127.0.0.1:{Port}",
            $"management.tcp.ip = 127.0.0.1",
            $"management.tcp.port = {ManagementPort}",
            $"default_user = {Username}",
            $"default_pass = {Password}",
            "loopback_users = none",
            "log.console = true",
            "log.console.level = warning",
            "log.file = false",
            ""));
        await File.WriteAllTextAsync(Path.Combine(home, "enabled_plugins"), "[rabbitmq_management].\n", cancellationToken);

        var port = _epmdPort.ToString(CultureInfo.InvariantCulture);
        // Everything on loopback: Erlang's port mapper and the node's distribution port listen on every address unless
        // told otherwise, and would let another host on the network talk to the node.
        _epmd = LocalProcess.Start(Name, epmd, ["-port", port, "-address", "127.0.0.1"], new Dictionary<string, string?>(), _context.Log);
        _server = LocalProcess.Start(Name, script, [], new Dictionary<string, string?>
        {
            ["HOME"] = home, // the Erlang cookie lives here
            ["ERL_EPMD_PORT"] = port,
            ["RABBITMQ_NODENAME"] = $"modelops-{_context.StateId}-{Name}@localhost",
            ["RABBITMQ_DIST_PORT"] = _distributionPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(home, "rabbitmq.conf"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(home, "enabled_plugins"),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(home, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(home, "log"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(home, "rabbitmq.pid"),
            ["RABBITMQ_LOGS"] = "-",
        }, _context.Log);

        using var http = ManagementClient();
        await WaitUntilAsync(async ct =>
            await PortPool.IsListeningAsync(Port, ct) &&
            (await http.GetAsync("api/health/checks/alarms", ct)).IsSuccessStatusCode,
            _server, TimeSpan.FromSeconds(90), cancellationToken);
    }

    /// <summary>
    /// Takes its ports now (once; a restart keeps them, so clients reconnect to the same address): its connection string
    /// is then known before it starts, and a client may start beside it and connect once it is up.
    /// </summary>
    public void ReservePorts()
    {
        if (Port == 0)
        {
            Port = _context.Ports.Take(_preferredPort);
            ManagementPort = _context.Ports.Take(_preferredPort == 0 ? 0 : _preferredPort + 1);
            _distributionPort = _context.Ports.Take();
            _epmdPort = _context.Ports.Take();
        }
    }

    /// <summary>Creates <paramref name="virtualHost"/> (if missing) with full rights for the user; returns its AMQP URI.</summary>
    public async Task<string> CreateVirtualHostAsync(string virtualHost, CancellationToken cancellationToken)
    {
        using var http = ManagementClient();
        var name = Uri.EscapeDataString(virtualHost);
        (await http.PutAsync($"api/vhosts/{name}", null, cancellationToken)).EnsureSuccessStatusCode();
        (await http.PutAsJsonAsync($"api/permissions/{name}/{Username}",
            new { configure = ".*", write = ".*", read = ".*" }, cancellationToken)).EnsureSuccessStatusCode();
        return ConnectionStringFor(virtualHost);
    }

    /// <summary>Whether the node answers its management API without an alarm now.</summary>
    public async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var http = ManagementClient();
            return await PortPool.IsListeningAsync(Port, cancellationToken) &&
                   (await http.GetAsync("api/health/checks/alarms", cancellationToken)).IsSuccessStatusCode;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync()
    {
        if (_server is not null)
        {
            // The server script passes SIGTERM on to the Erlang VM, which shuts the node down cleanly.
            await _server.StopAsync(TimeSpan.FromSeconds(30));
            _server = null;
        }

        if (_epmd is not null)
        {
            await _epmd.StopAsync(TimeSpan.FromSeconds(5));
            _epmd = null;
        }

        State = LocalState.Stopped;
    }

    private HttpClient ManagementClient()
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ManagementPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));
        return http;
    }
}

using System.Globalization;
using System.Text;

namespace ModelOps.Hosting.Local;

/// <summary>
/// A Prometheus server (Debian's <c>prometheus</c>, installed by the bootstrap) that scrapes each service's
/// <c>/metrics</c>, evaluates the service-level objectives of <c>deploy/prometheus/modelops.rules.yml</c>, and sends the
/// alerts they raise to the alerting service through its Alertmanager-compatible API, with a service token.
/// </summary>
public sealed class LocalPrometheus : LocalResource
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly LocalContext _context;
    private readonly int _preferredPort;
    private readonly IReadOnlyDictionary<string, int> _targets;
    private readonly int _alertmanagerPort;
    private readonly string _tokenFile;
    private readonly string _rulesFile;
    private LocalProcess? _server;

    /// <summary>
    /// A server named <paramref name="name"/> on <paramref name="preferredPort"/> (or a free port) scraping
    /// <paramref name="targets"/> (job name → HTTP port on the loopback address), sending alerts to the Alertmanager API
    /// on <paramref name="alertmanagerPort"/> with the bearer token in <paramref name="tokenFile"/>.
    /// </summary>
    public LocalPrometheus(
        string name, LocalContext context, int preferredPort, IReadOnlyDictionary<string, int> targets, int alertmanagerPort, string tokenFile,
        string? rulesFile = null)
        : base(name)
    {
        _context = context;
        _preferredPort = preferredPort;
        _targets = targets;
        _alertmanagerPort = alertmanagerPort;
        _tokenFile = tokenFile;
        _rulesFile = rulesFile ?? Path.Combine(LocalContext.RepositoryRoot, "deploy", "prometheus", "modelops.rules.yml");
    }

    /// <summary>The web and API port.</summary>
    public int Port { get; private set; }

    /// <summary>Its address.</summary>
    public string Address => $"http://127.0.0.1:{Port}";

    /// <inheritdoc />
    public override IReadOnlyList<LocalProcess> Processes => _server is null ? [] : [_server];

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Endpoints => new Dictionary<string, string> { ["web"] = Address };

    /// <summary>The configuration it runs with: scrape jobs, the rule file, and the alerting service as its Alertmanager.</summary>
    public string Configuration()
    {
        var text = new StringBuilder();
        text.AppendLine("global: {scrape_interval: 15s, evaluation_interval: 15s}");
        text.AppendLine(CultureInfo.InvariantCulture, $"rule_files: [\"{_rulesFile}\"]");
        text.AppendLine("alerting:");
        text.AppendLine("  alertmanagers:");
        text.AppendLine(CultureInfo.InvariantCulture, $"    - static_configs: [{{targets: [\"127.0.0.1:{_alertmanagerPort}\"]}}]");
        text.AppendLine(CultureInfo.InvariantCulture, $"      authorization: {{credentials_file: \"{_tokenFile}\"}}");
        text.AppendLine("scrape_configs:");
        foreach (var (job, port) in _targets.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  - job_name: \"{job}\"");
            text.AppendLine(CultureInfo.InvariantCulture, $"    static_configs: [{{targets: [\"127.0.0.1:{port}\"]}}]");
        }

        return text.ToString();
    }

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        State = LocalState.Starting;
        var prometheus = Prerequisites.FindOnPath("prometheus") ?? throw new MissingPrerequisiteException("Prometheus (package prometheus)");
        Port = Port != 0 ? Port : _context.Ports.Take(_preferredPort);
        var directory = _context.DirectoryFor(Name);
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, Configuration(), cancellationToken);
        _server = LocalProcess.Start(Name, prometheus,
        [
            $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "data")}", $"--web.listen-address=127.0.0.1:{Port}",
            "--storage.tsdb.retention.time=7d", $"--web.external-url={Address}",
        ], new Dictionary<string, string?>(), _context.Log);
        await WaitUntilAsync(AnswersAsync, _server, TimeSpan.FromSeconds(60), cancellationToken);
    }

    /// <summary>Whether it says it is ready.</summary>
    public async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Http.GetAsync($"{Address}/-/ready", cancellationToken);
            return response.IsSuccessStatusCode;
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
            await _server.StopAsync(TimeSpan.FromSeconds(10));
            _server = null;
        }

        State = LocalState.Stopped;
    }
}

using ModelOps.AppHost.Resources;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost;

/// <summary>The AppHost's own command-line options; everything else on the command line is Aspire's configuration.</summary>
/// <param name="StateDirectory">Where state lives (<c>--state DIR</c>; default <c>.modelops/</c> in the repository).</param>
/// <param name="Fresh">Wipe the state first (<c>--fresh</c>).</param>
/// <param name="DynamicPorts">Ignore the preferred ports and take free ones (<c>--dynamic-ports</c>), to run stacks side by side.</param>
/// <param name="AlertingConfig">An Alertmanager-style YAML file that alerting loads at start (<c>--alerting-config FILE</c>).</param>
/// <param name="UserFile">
/// The user-level file that names the stack started last, for clients outside the repository (<c>--user-file FILE</c>,
/// <c>none</c> to leave it alone; default <see cref="ModelOps.Client.Stack.UserFile"/>).
/// </param>
public sealed record AppHostOptions(string StateDirectory, bool Fresh, bool DynamicPorts, string? AlertingConfig = null, string? UserFile = null)
{
    /// <summary>Where the ready-made development tokens are written.</summary>
    public string TokensDirectory => Path.Combine(StateDirectory, "tokens");

    /// <summary>The options in <paramref name="args"/>, and the arguments left for Aspire.</summary>
    public static (AppHostOptions Options, string[] Remaining) Parse(string[] args)
    {
        var state = Path.Combine(LocalContext.RepositoryRoot, ".modelops");
        bool fresh = false, dynamicPorts = false;
        string? alertingConfig = null;
        string? userFile = ModelOps.Client.Stack.UserFile(Environment.GetEnvironmentVariable);
        var rest = new List<string>();
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
                case "--alerting-config" when i + 1 < args.Length:
                    alertingConfig = Path.GetFullPath(args[++i]);
                    break;
                case "--user-file" when i + 1 < args.Length:
                    userFile = args[++i] == "none" ? null : Path.GetFullPath(args[i]);
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        return (new AppHostOptions(Path.GetFullPath(state), fresh, dynamicPorts, alertingConfig, userFile), [.. rest]);
    }

    /// <summary>The state folder (wiped first with <see cref="Fresh"/>), ports and logs the local resources share.</summary>
    public LocalContext CreateContext(ResourceLogForwarder log)
    {
        if (Fresh && Directory.Exists(StateDirectory))
        {
            Directory.Delete(StateDirectory, recursive: true);
        }

        Directory.CreateDirectory(StateDirectory);
        File.SetUnixFileMode(StateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                             UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        return new LocalContext(StateDirectory, new PortPool(DynamicPorts), log);
    }

    /// <summary>
    /// Where the Aspire dashboard, its OTLP endpoint and its resource service listen (18888, 18889, 18890 when free),
    /// unless the environment says (<c>ASPNETCORE_URLS</c>, <c>ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL</c>, ...).
    /// </summary>
    public IEnumerable<string> DashboardArguments(PortPool ports)
    {
        foreach (var (key, preferred) in new[]
                 {
                     ("ASPNETCORE_URLS", 18888), ("ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL", 18889), ("ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL", 18890),
                 })
        {
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(key)))
            {
                yield return $"--{key}=http://127.0.0.1:{ports.Take(preferred)}";
            }
        }
    }
}

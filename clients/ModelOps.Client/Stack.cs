using System.Diagnostics;
using System.Text.Json;

namespace ModelOps.Client;

/// <summary>
/// A running ModelOps stack as its AppHost describes it in <c>endpoints.json</c>: each service's gRPC address, the
/// folder of its development tokens, its token issuer and its dashboard. Clients find the stack they belong to the
/// way kubectl finds its context, so that a stack on other than the default ports, or a second stack on the machine,
/// is reached without a flag (see <see cref="Find"/>).
/// </summary>
public sealed class Stack
{
    /// <summary>The environment variable that names a stack: its state folder, or its <c>endpoints.json</c>.</summary>
    public const string Variable = "MODELOPS_STACK";

    /// <summary>The name of the file an AppHost writes to its state folder once every resource is healthy.</summary>
    public const string EndpointsFileName = "endpoints.json";

    private static readonly Lazy<Stack?> CurrentStack = new(() => Find(Environment.CurrentDirectory, Environment.GetEnvironmentVariable));

    private readonly Dictionary<string, string> _grpc;

    private Stack(string file, string foundBy, JsonElement document)
    {
        (File, FoundBy) = (file, foundBy);
        _grpc = [];
        if (document.TryGetProperty("resources", out var resources) && resources.ValueKind == JsonValueKind.Object)
        {
            foreach (var resource in resources.EnumerateObject())
            {
                if (resource.Value.ValueKind == JsonValueKind.Object && resource.Value.TryGetProperty("endpoints", out var endpoints) &&
                    endpoints.ValueKind == JsonValueKind.Object)
                {
                    if (endpoints.TryGetProperty("grpc", out var grpc) && grpc.ValueKind == JsonValueKind.String)
                    {
                        _grpc[resource.Name] = grpc.GetString()!;
                    }

                    if (resource.Name == "mlflow" && endpoints.TryGetProperty("http", out var mlflow) && mlflow.ValueKind == JsonValueKind.String)
                    {
                        MlflowTrackingUri = mlflow.GetString();
                    }

                    if (resource.Name == "console" && endpoints.TryGetProperty("http", out var console) && console.ValueKind == JsonValueKind.String)
                    {
                        ConsoleUrl = console.GetString();
                    }

                    if (endpoints.TryGetProperty("issuer", out var issuer) && issuer.ValueKind == JsonValueKind.String)
                    {
                        Issuer = issuer.GetString();
                    }
                }
            }
        }

        Tokens = Text(document, "tokens");
        VerifierKey = Text(document, "verifierKey");
        Dashboard = Text(document, "dashboard");
        AppHostPid = document.TryGetProperty("appHostPid", out var pid) && pid.ValueKind == JsonValueKind.Number && pid.TryGetInt32(out var value) ? value : null;
    }

    /// <summary>The governance console's address (a browser opens it; the CLI fetches dossiers from it).</summary>
    public string? ConsoleUrl { get; }

    /// <summary>The MLflow-compatible API's address: what MLflow clients take as <c>MLFLOW_TRACKING_URI</c>.</summary>
    public string? MlflowTrackingUri { get; }

    /// <summary>The stack this process finds from its current folder and environment (see <see cref="Find"/>), looked for once.</summary>
    public static Stack? Current => CurrentStack.Value;

    /// <summary>The full path of the stack's <c>endpoints.json</c>.</summary>
    public string File { get; }

    /// <summary>How the stack was found, for messages: <c>$MODELOPS_STACK</c>, the current folder, or the user-level file.</summary>
    public string FoundBy { get; }

    /// <summary>The folder holding the stack's development tokens (<c>&lt;role&gt;.jwt</c>).</summary>
    public string? Tokens { get; }

    /// <summary>The stack's token issuer.</summary>
    public string? Issuer { get; }

    /// <summary>The stack's dashboard, with its login link.</summary>
    public string? Dashboard { get; }

    /// <summary>The ledger's verifier key, as the AppHost printed it (<c>name+hash+base64</c>).</summary>
    public string? VerifierKey { get; }

    /// <summary>The process id of the stack's AppHost.</summary>
    public int? AppHostPid { get; }

    /// <summary>Every service's gRPC address, by service name.</summary>
    public IReadOnlyDictionary<string, string> GrpcAddresses => _grpc;

    /// <summary>Whether the AppHost that wrote the file still runs (a stack killed without stopping leaves its file behind).</summary>
    public bool IsRunning => AppHostPid is { } pid && ProcessRuns(pid);

    /// <summary>The gRPC address of <paramref name="service"/>, or null when the stack has none.</summary>
    public string? GrpcAddress(string service) => _grpc.GetValueOrDefault(service);

    /// <summary>
    /// The user-level file naming the stack started last on this machine by this user:
    /// <c>$XDG_CONFIG_HOME/modelops/stack</c>, else <c>~/.config/modelops/stack</c>. It holds the full path of that
    /// stack's <c>endpoints.json</c>.
    /// </summary>
    public static string UserFile(Func<string, string?> environment)
    {
        var config = environment("XDG_CONFIG_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(environment("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return Path.Combine(config, "modelops", "stack");
    }

    /// <summary>
    /// The stack a client belongs to, first found of:
    /// <list type="number">
    /// <item><c>$MODELOPS_STACK</c>: a state folder, or an <c>endpoints.json</c>, taken as named;</item>
    /// <item><c>.modelops/endpoints.json</c> in <paramref name="currentDirectory"/> or the nearest folder above it
    /// (a checkout's own stack), when its AppHost still runs;</item>
    /// <item>the stack the user-level file (<see cref="UserFile"/>) names, when its AppHost still runs.</item>
    /// </list>
    /// Null when there is none: the clients then use the default ports. A file that cannot be read counts as absent.
    /// </summary>
    public static Stack? Find(string currentDirectory, Func<string, string?> environment)
    {
        if (environment(Variable) is { Length: > 0 } named)
        {
            var file = Directory.Exists(named) ? Path.Combine(named, EndpointsFileName) : named;
            return Read(file, $"${Variable}");
        }

        for (var folder = new DirectoryInfo(currentDirectory); folder is not null; folder = folder.Parent)
        {
            if (Read(Path.Combine(folder.FullName, ".modelops", EndpointsFileName), $"the folder {folder.FullName}") is { IsRunning: true } local)
            {
                return local;
            }
        }

        var user = UserFile(environment);
        return ReadText(user)?.Trim() is { Length: > 0 } pointed && Read(pointed, $"{user} (the stack started last)") is { IsRunning: true } last ? last : null;
    }

    /// <summary>Why <see cref="Find"/> found no stack, naming where it looked, for messages.</summary>
    public static string NotFound(Func<string, string?> environment) =>
        environment(Variable) is { Length: > 0 } named
            ? $"${Variable} names {named}, which holds no {EndpointsFileName} (is that stack running?)"
            : $"no running stack was found (${Variable}, .modelops/{EndpointsFileName} here or above, {UserFile(environment)})";

    /// <summary>The stack described by <paramref name="file"/>, or null when it does not exist or is not an endpoints file.</summary>
    public static Stack? Read(string file, string foundBy)
    {
        if (ReadText(file) is not { } text)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object ? new Stack(Path.GetFullPath(file), foundBy, document.RootElement) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? ReadText(string file)
    {
        try
        {
            return System.IO.File.Exists(file) ? System.IO.File.ReadAllText(file) : null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? Text(JsonElement document, string name) =>
        document.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool ProcessRuns(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

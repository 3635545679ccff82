using System.Diagnostics;
using System.Text.Json;
using ModelOps.AppHost.Hosting;

namespace ModelOps.AppHost.Tests;

/// <summary>The AppHost run as a real process, exactly as a developer runs it, on free ports and a state folder of its own.</summary>
public sealed class StackProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StackProcess(Process process, string stateDirectory)
    {
        _process = process;
        StateDirectory = stateDirectory;
    }

    public string StateDirectory { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join(Environment.NewLine, _output);
            }
        }
    }

    /// <summary>Every service's gRPC address, from the endpoints file the AppHost writes once everything is ready.</summary>
    public Dictionary<string, string> ServiceGrpcAddresses { get; private set; } = [];

    /// <summary>Every service's HTTP address.</summary>
    public Dictionary<string, string> ServiceHttpAddresses { get; private set; } = [];

    /// <summary>Pids of the processes the AppHost says it started.</summary>
    public List<int> ReportedPids { get; private set; } = [];

    public static async Task<StackProcess> StartAsync(CancellationToken cancellationToken)
    {
        var state = Path.Combine(Path.GetTempPath(), "modelops-stack-tests", Guid.NewGuid().ToString("N")[..12]);
        var info = new ProcessStartInfo(ProjectResource.DotnetHost())
        {
            ArgumentList = { "exec", typeof(DistributedApplication).Assembly.Location, "--state", state, "--dynamic-ports" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment = { ["NO_COLOR"] = "1" },
        };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var stack = new StackProcess(process, state);
        process.OutputDataReceived += (_, e) => stack.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => stack.OnLine(e.Data);
        process.Exited += (_, _) => stack._ready.TrySetException(new InvalidOperationException($"The AppHost exited:{Environment.NewLine}{stack.Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await stack._ready.Task.WaitAsync(TimeSpan.FromMinutes(3), cancellationToken);
        }
        catch (TimeoutException)
        {
            await stack.DisposeAsync();
            throw new TimeoutException($"The stack was not ready within 3 minutes:{Environment.NewLine}{stack.Output}");
        }

        stack.ReadEndpoints();
        return stack;
    }

    public string Token(string role) => File.ReadAllText(Path.Combine(StateDirectory, "tokens", $"{role}.jwt")).Trim();

    /// <summary>Sends SIGTERM and waits for the AppHost to exit.</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        ManagedProcess.Kill(_process.Id, ManagedProcess.SigTerm);
        await _process.WaitForExitAsync(new CancellationTokenSource(timeout).Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            var tree = ProcessTree.Descendants(_process.Id);
            try
            {
                await TerminateAsync(TimeSpan.FromSeconds(60));
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }

            foreach (var pid in tree.Where(ProcessTree.IsAlive))
            {
                ManagedProcess.Kill(pid, ManagedProcess.SigKill);
            }
        }

        _process.Dispose();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
        }

        if (line.Contains("ModelOps is ready", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }

    private void ReadEndpoints()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(StateDirectory, "endpoints.json")));
        foreach (var resource in document.RootElement.GetProperty("resources").EnumerateObject())
        {
            ReportedPids.AddRange(resource.Value.GetProperty("pids").EnumerateArray().Select(p => p.GetInt32()));
            var endpoints = resource.Value.GetProperty("endpoints");
            if (endpoints.TryGetProperty("grpc", out var grpc))
            {
                ServiceGrpcAddresses[resource.Name] = grpc.GetString()!;
                ServiceHttpAddresses[resource.Name] = endpoints.GetProperty("http").GetString()!.Replace("/health", "", StringComparison.Ordinal);
            }
        }
    }
}

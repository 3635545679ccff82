using System.Diagnostics;
using ModelOps.Hosting.Local;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

/// <summary>The AppHost as a developer runs it: a process of its own, stopped by a signal.</summary>
public sealed class ShutdownTests
{
    [Fact(Timeout = 300_000)]
    public async Task AfterSigtermNoProcessOfTheStackIsAlive()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var state = Path.Combine(Path.GetTempPath(), "modelops-stack-tests", Guid.NewGuid().ToString("N")[..12]);
        // The user-level file that names the stack started last lives under a config folder of the test's own.
        var config = Path.Combine(state, "config");
        var userFile = Path.Combine(config, "modelops", "stack");
        var project = Projects.ModelOps_AppHost.ProjectPath;
        var appHost = Path.Combine(Directory.Exists(project) ? project : Path.GetDirectoryName(project)!, "bin", Configuration, "net10.0", "ModelOps.AppHost.dll");
        var info = new ProcessStartInfo(ServiceProcess.DotnetHost())
        {
            ArgumentList = { "exec", appHost, "--state", state, "--dynamic-ports", "--user-file", userFile },
            WorkingDirectory = Path.GetDirectoryName(appHost)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = new Process { StartInfo = info };
        var output = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (await Task.WhenAny(ready.Task, Task.Delay(TimeSpan.FromMinutes(3), cancellationToken)) != ready.Task)
            {
                Assert.Fail($"The stack was not ready within 3 minutes:{Environment.NewLine}{Joined()}");
            }

            // Everything the stack runs: the AppHost's descendants, DCP (which detaches, and watches the AppHost), the
            // services DCP started, and the local servers in the state folder.
            var stack = StackProcesses(process.Id, state);
            Assert.True(stack.Count >= 14, $"only {stack.Count} processes found: {Describe(stack)}{Environment.NewLine}{Joined()}");

            // From a folder outside the repository, with nothing set but where the user's config lives, the command line
            // finds the stack (on ports other than the defaults) and its tokens.
            var endpoints = Path.Combine(state, "endpoints.json");
            Assert.Equal(endpoints, (await File.ReadAllTextAsync(userFile, cancellationToken)).Trim());
            var (found, shown) = await CliAsync(config, cancellationToken, "stack");
            Assert.True(found == 0, shown);
            using (var document = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(endpoints, cancellationToken)))
            {
                var registry = document.RootElement.GetProperty("resources").GetProperty("registry").GetProperty("endpoints").GetProperty("grpc").GetString()!;
                Assert.DoesNotContain(":7102", registry, StringComparison.Ordinal);
                Assert.Contains($"registry        {registry}", shown, StringComparison.Ordinal);
            }

            Assert.Contains(endpoints, shown, StringComparison.Ordinal);
            var (listed, models) = await CliAsync(config, cancellationToken, "models", "list");
            Assert.True(listed == 0, models);

            LocalProcess.Kill(process.Id, LocalProcess.SigTerm);
            await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(90), cancellationToken);

            Assert.Equal(0, process.ExitCode);
            // A stopped stack leaves no endpoints behind for a client to mistake for a running one.
            Assert.False(File.Exists(endpoints), "endpoints.json outlived the stack");
            Assert.False(File.Exists(userFile), "the user-level file still names the stopped stack");
            var (none, said) = await CliAsync(config, cancellationToken, "stack");
            Assert.True(none == 1, said);
            Assert.Contains("No running stack was found", said, StringComparison.Ordinal);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (stack.Any(ProcessTree.IsAlive) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, cancellationToken);
            }

            var survivors = stack.Where(ProcessTree.IsAlive).ToList();
            Assert.True(survivors.Count == 0, $"still alive: {Describe(survivors)}{Environment.NewLine}{Joined()}");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            try
            {
                Directory.Delete(state, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.Add(line);
            }

            if (line.Contains("ModelOps is ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }

        string Joined()
        {
            lock (output)
            {
                return string.Join(Environment.NewLine, output);
            }
        }
    }

    // The command line, run as a user runs it: its own process, in a folder of no stack, with the user's config in config.
    private static Task<(int Exit, string Output)> CliAsync(string config, CancellationToken cancellationToken, params string[] arguments) =>
        ChildProcess.RunAsync(ServiceProcess.DotnetHost(), ["exec", Path.Combine(AppContext.BaseDirectory, "modelops.dll"), .. arguments], Path.GetTempPath(),
            new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = config }, cancellationToken);

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static List<int> StackProcesses(int appHost, string state)
    {
        var roots = new HashSet<int> { appHost };
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out var pid) && CommandLine(pid) is { } command &&
                (command.Contains(state, StringComparison.Ordinal) || command.Contains($"--monitor {appHost}", StringComparison.Ordinal)))
            {
                roots.Add(pid);
            }
        }

        // DCP's controllers watch the API server, and DCP starts the services.
        foreach (var root in roots.ToList())
        {
            roots.UnionWith(ProcessTree.Descendants(root));
        }

        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out var pid) && CommandLine(pid) is { } command &&
                roots.Any(r => command.Contains($"--monitor {r} ", StringComparison.Ordinal) || command.EndsWith($"--monitor {r}", StringComparison.Ordinal)))
            {
                roots.Add(pid);
                roots.UnionWith(ProcessTree.Descendants(pid));
            }
        }

        roots.Remove(appHost);
        return [.. roots.Where(ProcessTree.IsAlive)];
    }

    private static string? CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Describe(IEnumerable<int> pids) =>
        string.Join(Environment.NewLine, pids.Select(pid => $"{pid}: {CommandLine(pid)?[..Math.Min(CommandLine(pid)!.Length, 160)]}"));
}

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
        var project = Projects.ModelOps_AppHost.ProjectPath;
        var appHost = Path.Combine(Directory.Exists(project) ? project : Path.GetDirectoryName(project)!, "bin", Configuration, "net10.0", "ModelOps.AppHost.dll");
        var info = new ProcessStartInfo(ServiceProcess.DotnetHost())
        {
            ArgumentList = { "exec", appHost, "--state", state, "--dynamic-ports" },
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

            LocalProcess.Kill(process.Id, LocalProcess.SigTerm);
            await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(90), cancellationToken);

            Assert.Equal(0, process.ExitCode);
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

using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ModelOps.Hosting.Local;

/// <summary>
/// A child process whose output lines go to the log sink (and a ring buffer of recent lines), and which
/// can be stopped gracefully with a signal and then, if need be, killed together with every descendant.
/// </summary>
public sealed partial class LocalProcess : IAsyncDisposable
{
    /// <summary>SIGINT.</summary>
    public const int SigInt = 2;

    /// <summary>SIGKILL.</summary>
    public const int SigKill = 9;

    /// <summary>SIGTERM.</summary>
    public const int SigTerm = 15;

    private const int RecentCapacity = 200;
    private readonly Process _process;
    private readonly Queue<string> _recent = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _resource;
    private readonly ProcessLog _sink;

    private LocalProcess(string resource, Process process, ProcessLog sink)
    {
        _resource = resource;
        _process = process;
        _sink = sink;
    }

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>Completes when the process has exited.</summary>
    public Task Exited => _exited.Task;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>The exit code, once exited.</summary>
    public int? ExitCode => HasExited ? _process.ExitCode : null;

    /// <summary>The last lines the process printed.</summary>
    public IReadOnlyList<string> RecentLines
    {
        get
        {
            lock (_recent)
            {
                return [.. _recent];
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> and extra environment variables.</summary>
    public static LocalProcess Start(
        string resource, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment,
        ProcessLog sink, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var managed = new LocalProcess(resource, process, sink);
        process.OutputDataReceived += (_, e) => managed.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => managed.OnLine(e.Data, isError: true);
        process.Exited += (_, _) => managed._exited.TrySetResult();
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {fileName}.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return managed;
    }

    /// <summary>
    /// Stops the process: sends <paramref name="signal"/>, waits up to <paramref name="grace"/>, then kills it and
    /// every descendant it had when the stop began (descendants may outlive their parent and be re-parented).
    /// </summary>
    public async Task StopAsync(TimeSpan grace, int signal = SigTerm)
    {
        if (HasExited)
        {
            return;
        }

        var tree = ProcessTree.Descendants(Id);
        _ = Kill(Id, signal);
        await WaitOrKillAsync(tree, grace);
    }

    /// <summary>Waits up to <paramref name="grace"/> for this process to exit, then kills it and <paramref name="tree"/>.</summary>
    public async Task WaitOrKillAsync(IReadOnlyCollection<int> tree, TimeSpan grace)
    {
        await Task.WhenAny(Exited, Task.Delay(grace));
        if (!HasExited)
        {
            _ = Kill(Id, SigKill);
        }

        // Descendants get a moment to follow their parent out before they are killed.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (tree.Any(ProcessTree.IsAlive) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        foreach (var pid in tree.Where(ProcessTree.IsAlive))
        {
            _ = Kill(pid, SigKill);
        }

        await Task.WhenAny(Exited, Task.Delay(TimeSpan.FromSeconds(5)));
    }

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>.</summary>
    public static bool Kill(int pid, int signal) => SysKill(pid, signal) == 0;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5));
        _process.Dispose();
    }

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            return;
        }

        lock (_recent)
        {
            if (_recent.Count == RecentCapacity)
            {
                _recent.Dequeue();
            }

            _recent.Enqueue(line);
        }

        _sink.Write(_resource, line, isError);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}

/// <summary>The process tree, read from <c>/proc</c>.</summary>
public static class ProcessTree
{
    /// <summary>Every descendant of <paramref name="pid"/> (children, their children, ...), not including it.</summary>
    public static IReadOnlyList<int> Descendants(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var child) || ParentOf(child) is not { } parent)
            {
                continue;
            }

            if (!children.TryGetValue(parent, out var list))
            {
                children[parent] = list = [];
            }

            list.Add(child);
        }

        var result = new List<int>();
        var pending = new Stack<int>([pid]);
        while (pending.Count > 0)
        {
            if (children.TryGetValue(pending.Pop(), out var list))
            {
                foreach (var child in list)
                {
                    result.Add(child);
                    pending.Push(child);
                }
            }
        }

        return result;
    }

    /// <summary>Whether <paramref name="pid"/> is a running process (a zombie awaiting its parent counts as gone).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name may contain spaces and parentheses: fields resume after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
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
}

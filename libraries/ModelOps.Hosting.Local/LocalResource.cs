using System.Security.Cryptography;
using System.Text;

namespace ModelOps.Hosting.Local;

/// <summary>What resources share: where state lives, how ports are handed out, where logs go.</summary>
/// <param name="StateDirectory">Root of the resources' state (data folders, keys, passwords).</param>
/// <param name="Ports">The port allocator.</param>
/// <param name="Log">The log sink.</param>
/// <param name="Durable">Whether PostgreSQL fsyncs (off in tests, for speed).</param>
public sealed record LocalContext(string StateDirectory, PortPool Ports, ProcessLog Log, bool Durable = true)
{
    /// <summary>The repository root, recorded at build time (scripts/ lives there).</summary>
    public static string RepositoryRoot { get; } =
        typeof(LocalContext).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .Single(a => a.Key == "RepositoryRoot").Value!;

    /// <summary>The folder of one resource's state, created if missing.</summary>
    public string DirectoryFor(string resource) => Directory.CreateDirectory(Path.Combine(StateDirectory, resource)).FullName;

    /// <summary>A secret kept in the state folder: generated on first use, the same on every later run.</summary>
    public string Secret(string resource, string name)
    {
        var path = Path.Combine(DirectoryFor(resource), $"{name}.secret");
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        PrivateFile.Write(path, secret);
        return secret;
    }

    /// <summary>A short stable id of this state folder, for names that must differ between stacks (the RabbitMQ node).</summary>
    public string StateId => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(StateDirectory))))[..8];
}

/// <summary>The state of a resource, as the dashboard shows it.</summary>
public enum LocalState
{
    /// <summary>Not started yet.</summary>
    Pending,

    /// <summary>Started, not ready yet.</summary>
    Starting,

    /// <summary>Ready to serve.</summary>
    Running,

    /// <summary>Failed to start or exited unexpectedly.</summary>
    Failed,

    /// <summary>Stopped on request.</summary>
    Stopped,
}

/// <summary>Something the AppHost starts, waits for and stops.</summary>
public abstract class LocalResource(string name)
{
    /// <summary>The resource's lower-case name (<c>postgres</c>, <c>tracking</c>).</summary>
    public string Name { get; } = name;

    /// <summary>Its current state.</summary>
    public LocalState State { get; protected set; } = LocalState.Pending;

    /// <summary>Resources that must be running before this one starts.</summary>
    public List<LocalResource> DependsOn { get; } = [];

    /// <summary>The processes it started.</summary>
    public abstract IReadOnlyList<LocalProcess> Processes { get; }

    /// <summary>Addresses worth printing (name → URL or connection string).</summary>
    public abstract IReadOnlyDictionary<string, string> Endpoints { get; }

    /// <summary>Starts the resource and returns once it is ready.</summary>
    public abstract Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stops everything it started.</summary>
    public abstract Task StopAsync();

    /// <summary>The last lines its processes printed.</summary>
    public IReadOnlyList<string> RecentLines(int count) => [.. Processes.SelectMany(p => p.RecentLines).TakeLast(count)];

    /// <summary>Polls <paramref name="ready"/> until it holds, failing early if <paramref name="process"/> exits.</summary>
    protected async Task WaitUntilAsync(
        Func<CancellationToken, Task<bool>> ready, LocalProcess? process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            if (process is { HasExited: true })
            {
                State = LocalState.Failed;
                throw new LocalResourceFailedException(this, $"exited with code {process.ExitCode} before it was ready");
            }

            try
            {
                if (await ready(deadline.Token))
                {
                    State = LocalState.Running;
                    return;
                }
            }
            catch (Exception) when (!deadline.IsCancellationRequested)
            {
                // Not ready yet.
            }

            try
            {
                await Task.Delay(100, deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                State = LocalState.Failed;
                throw new LocalResourceFailedException(this, $"was not ready after {timeout.TotalSeconds:0} s");
            }
        }
    }
}

/// <summary>A resource that did not come up.</summary>
public sealed class LocalResourceFailedException(LocalResource resource, string reason) : Exception($"{resource.Name} {reason}.")
{
    /// <summary>The resource.</summary>
    public LocalResource Resource { get; } = resource;
}

/// <summary>A resource that yields a connection string (<c>ConnectionStrings__&lt;name&gt;</c>).</summary>
public interface IConnectionSource
{
    /// <summary>The name under which consumers find the connection string.</summary>
    string ConnectionName { get; }

    /// <summary>The connection string, once the resource runs.</summary>
    string ConnectionString { get; }
}

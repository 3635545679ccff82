using System.Diagnostics;

namespace ModelOps.Testing;

/// <summary>Runs a program to its end, for tests that drive a tool or another language's client.</summary>
public static class ChildProcess
{
    /// <summary>The repository's root: the first directory above the test binaries holding ModelOps.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ModelOps.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No ModelOps.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs <paramref name="file"/> and returns its exit code and everything it printed (stdout, then stderr).</summary>
    public static async Task<(int Exit, string Output)> RunAsync(
        string file, IEnumerable<string> arguments, string directory, IReadOnlyDictionary<string, string>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Generates the Python package's stubs (clients/python/generate.sh); returns the package directory.</summary>
    public static async Task<string> PreparePythonPackageAsync(CancellationToken cancellationToken)
    {
        var package = Path.Combine(RepositoryRoot(), "clients", "python");
        var (exit, output) = await RunAsync("bash", [Path.Combine(package, "generate.sh")], package, null, cancellationToken);
        return exit == 0 ? package : throw new InvalidOperationException($"generate.sh failed:{Environment.NewLine}{output}");
    }

    /// <summary>
    /// Runs <paramref name="modules"/> of the Python package's tests (clients/python/tests) with Debian's /usr/bin/python3
    /// and <c>unittest -v</c>, its stubs generated first, with <paramref name="environment"/> and the package on PYTHONPATH.
    /// <c>$MODELOPS_STACK</c> names no stack, so a developer's running stack never answers in place of the test's services.
    /// </summary>
    public static async Task<(int Exit, string Output)> RunPythonTestsAsync(
        IEnumerable<string> modules, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var package = await PreparePythonPackageAsync(cancellationToken);
        var variables = new Dictionary<string, string>(environment) { ["PYTHONPATH"] = package, ["PYTHONDONTWRITEBYTECODE"] = "1" };
        variables.TryAdd("MODELOPS_STACK", Path.Combine(Path.GetTempPath(), "modelops-no-stack"));
        return await RunAsync("/usr/bin/python3", ["-m", "unittest", .. modules, "-v"], package, variables, cancellationToken);
    }
}

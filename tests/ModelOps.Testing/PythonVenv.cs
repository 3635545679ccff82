namespace ModelOps.Testing;

/// <summary>
/// The Python package installed as the README tells a user: into a venv based on Debian's python3 (with its grpcio,
/// protobuf, numpy and xgboost), with pip, offline. It is built from a copy of the package and the protos, so that
/// the build never regenerates the stubs under the feet of the Python tests that run from the checkout.
/// </summary>
public static class PythonVenv
{
    /// <summary>Installs the package into a venv under <paramref name="root"/>; returns the venv's python.</summary>
    public static async Task<string> InstallAsync(string root, CancellationToken cancellationToken)
    {
        CopySources(root);
        var venv = Path.Combine(root, "venv");
        await RunAsync("/usr/bin/python3", ["-m", "venv", "--system-site-packages", venv], cancellationToken);
        await RunAsync(Path.Combine(venv, "bin", "pip"), ["install", "--no-build-isolation", "--no-index", "--quiet", Path.Combine(root, "clients", "python")], cancellationToken);
        return Path.Combine(venv, "bin", "python");
    }

    /// <summary>
    /// Copies what a user's commands read from a checkout (the protos, the Python package without its generated stubs,
    /// the samples) to <paramref name="root"/>, laid out as in the repository.
    /// </summary>
    public static void CopySources(string root)
    {
        var repository = ChildProcess.RepositoryRoot();
        foreach (var folder in new[] { "protos", Path.Combine("clients", "python"), "samples" })
        {
            Copy(Path.Combine(repository, folder), Path.Combine(root, folder));
        }
    }

    private static async Task RunAsync(string program, string[] arguments, CancellationToken cancellationToken)
    {
        var (exit, output) = await ChildProcess.RunAsync(program, arguments, Path.GetTempPath(), null, cancellationToken);
        if (exit != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {exit}:{Environment.NewLine}{output}");
        }
    }

    // The sources only: no generated stubs (the Python package's generated folders), caches or build output.
    private static void Copy(string from, string to)
    {
        string[] generated = ["tracking", "registry", "fairness", "explainability", "drift", "alerting"];
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            if (!file.EndsWith("_pb2.py", StringComparison.Ordinal) && !file.EndsWith("_pb2_grpc.py", StringComparison.Ordinal) && !file.EndsWith(".pyc", StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }
        }

        var inPackage = from.EndsWith(Path.Combine("python", "modelops"), StringComparison.Ordinal);
        foreach (var folder in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(folder);
            if (!(inPackage && generated.Contains(name)) && name is not ("__pycache__" or "build" or "credit-risk-out") && !name.EndsWith(".egg-info", StringComparison.Ordinal))
            {
                Copy(folder, Path.Combine(to, name));
            }
        }
    }
}

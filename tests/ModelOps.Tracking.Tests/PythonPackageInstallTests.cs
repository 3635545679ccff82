using ModelOps.Testing;

namespace ModelOps.Tracking.Tests;

/// <summary>
/// The Python package installs as the README tells a user: into a venv based on Debian's python3 (with its grpcio and
/// protobuf), with pip, offline, and imports with its gRPC stubs from any folder. The build runs on a copy of the
/// package and the protos, so that it never regenerates the stubs under the feet of the other Python tests.
/// </summary>
public sealed class PythonPackageInstallTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("modelops-python-install-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact(Timeout = 180_000)]
    public async Task ThePackageInstallsIntoAVenvWithItsStubsAndImportsFromAnyFolder()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var repository = ChildProcess.RepositoryRoot();
        Copy(Path.Combine(repository, "protos"), Path.Combine(_root, "protos"));
        Copy(Path.Combine(repository, "clients", "python"), Path.Combine(_root, "clients", "python"));
        var package = Path.Combine(_root, "clients", "python");
        Assert.False(File.Exists(Path.Combine(package, "modelops", "_rpc_pb2.py")), "the copy holds no generated stub");

        var venv = Path.Combine(_root, "venv");
        await Run("/usr/bin/python3", ["-m", "venv", "--system-site-packages", venv]);
        await Run(Path.Combine(venv, "bin", "pip"), ["install", "--no-build-isolation", "--no-index", "--quiet", package]);
        var imported = await Run(Path.Combine(venv, "bin", "python"),
            ["-c", "import modelops, modelops.tracking.v1.tracking_pb2, modelops.drift.v1.drift_pb2_grpc; print(modelops.__file__); print(modelops.Registry.__name__)"]);

        Assert.StartsWith(Path.Combine(venv, "lib"), imported.Trim().Split('\n')[0], StringComparison.Ordinal);
        Assert.EndsWith("Registry", imported.Trim(), StringComparison.Ordinal);

        async Task<string> Run(string program, string[] arguments)
        {
            var (exit, output) = await ChildProcess.RunAsync(program, arguments, Path.GetTempPath(), null, cancellationToken);
            Assert.True(exit == 0, $"{program} {string.Join(' ', arguments)}:{Environment.NewLine}{output}");
            return output;
        }
    }

    // The sources only: no generated stubs, no caches, no build output.
    private static void Copy(string from, string to)
    {
        string[] generated = ["tracking", "registry", "fairness", "explainability", "drift", "__pycache__", "build"];
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            if (!file.EndsWith("_pb2.py", StringComparison.Ordinal) && !file.EndsWith(".pyc", StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }
        }

        foreach (var folder in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(folder);
            var isGeneratedStub = from.EndsWith(Path.Combine("python", "modelops"), StringComparison.Ordinal) && generated.Contains(name);
            if (!isGeneratedStub && name is not ("__pycache__" or "build") && !name.EndsWith(".egg-info", StringComparison.Ordinal))
            {
                Copy(folder, Path.Combine(to, name));
            }
        }
    }
}

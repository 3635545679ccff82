using ModelOps.Testing;

namespace ModelOps.Tracking.Tests;

/// <summary>
/// The Python package installs as the README tells a user (<see cref="PythonVenv"/>: a venv on Debian's python3, pip,
/// offline, from a copy holding no generated stub) and imports with its gRPC stubs, from the venv, in any folder.
/// </summary>
public sealed class PythonPackageInstallTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("modelops-python-install-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact(Timeout = 180_000)]
    public async Task ThePackageInstallsIntoAVenvWithItsStubsAndImportsFromAnyFolder()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var python = await PythonVenv.InstallAsync(_root, cancellationToken);
        var (exit, imported) = await ChildProcess.RunAsync(python,
            ["-c", "import modelops, modelops.tracking.v1.tracking_pb2, modelops.drift.v1.drift_pb2_grpc; print(modelops.__file__); print(modelops.Registry.__name__)"],
            Path.GetTempPath(), null, cancellationToken);

        Assert.True(exit == 0, imported);
        Assert.StartsWith(Path.Combine(_root, "venv", "lib"), imported.Trim().Split('\n')[0], StringComparison.Ordinal);
        Assert.EndsWith("Registry", imported.Trim(), StringComparison.Ordinal);
    }
}

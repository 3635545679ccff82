using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    // samples/credit-risk/run.sh as a user runs it: from a folder of its own, with the package installed into a venv,
    // finding the stack (on free ports) by $MODELOPS_STACK alone.
    [Fact(Timeout = 300_000)]
    public async Task TheCreditRiskSampleRunsEndToEndFindingTheStackByItself()
    {
        var root = Directory.CreateTempSubdirectory("modelops-sample-").FullName;
        try
        {
            var python = await PythonVenv.InstallAsync(Path.Combine(root, "python"), Cancellation);
            var model = $"credit-risk-{Guid.NewGuid():N}"[..20];
            var output = Path.Combine(root, "out");
            var (exit, printed) = await ChildProcess.RunAsync("bash", [Path.Combine(ChildProcess.RepositoryRoot(), "samples", "credit-risk", "run.sh")], root,
                new Dictionary<string, string>
                {
                    ["MODELOPS_STACK"] = running.StateDirectory,
                    ["PYTHON"] = python,
                    ["MODEL"] = model,
                    ["OUT"] = output,
                    ["MODELOPS_CLI"] = $"dotnet exec {Path.Combine(AppContext.BaseDirectory, "modelops.dll")}",
                }, Cancellation);

            Assert.True(exit == 0, printed);
            Assert.Contains("PASS  provenance", printed, StringComparison.Ordinal);
            Assert.Contains("approved by dev-reviewer, dev-reviewer-2", printed, StringComparison.Ordinal);
            Assert.Contains("""{"window": 2, "drifted": []}, {"window": 3, "drifted": ["income", "debt_ratio"]}""", printed, StringComparison.Ordinal);
            Assert.Matches(@"OK: \d+ entries of modelops\.local/ledger verified", printed);
            Assert.Contains("income", await File.ReadAllTextAsync(Path.Combine(output, "drift-window-3.html"), Cancellation), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}

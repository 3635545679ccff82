using System.Text;
using System.Text.RegularExpressions;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    // The README's shell blocks are one story: run in order, as one script, from a folder laid out as a checkout (a git
    // repository of the protos, the Python package and the samples), with a home of its own (the venv goes to
    // ~/.venvs), the command line on PATH, and the stack (on free ports, while the default ones are held as by another
    // stack) found by $MODELOPS_STACK alone. A block whose language is followed by a file name is written to that file
    // first. The first block (the stack itself and the test suite) is what runs this.
    [Fact(Timeout = 600_000)]
    public async Task TheReadmeRunsAsWrittenBlockAfterBlock()
    {
        var root = Directory.CreateTempSubdirectory("modelops-readme-").FullName;
        using var defaults = HoldDefaultPorts();
        try
        {
            PythonVenv.CopySources(root);
            var bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
            var cli = Path.Combine(bin, "modelops");
            await File.WriteAllTextAsync(cli, $"#!/bin/sh\nexec dotnet exec {Path.Combine(AppContext.BaseDirectory, "modelops.dll")} \"$@\"\n", Cancellation);
            File.SetUnixFileMode(cli, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.CreateDirectory(Path.Combine(root, "home"));

            var script = new StringBuilder("set -euo pipefail\n");
            foreach (var block in ReadmeBlocks(await File.ReadAllTextAsync(Path.Combine(ChildProcess.RepositoryRoot(), "README.md"), Cancellation)).Skip(1))
            {
                if (block.File is { } file)
                {
                    await File.WriteAllTextAsync(Path.Combine(root, file), block.Text, Cancellation);
                }
                else if (block.Language is "sh" or "bash")
                {
                    script.Append(System.Globalization.CultureInfo.InvariantCulture, $"echo '== README.md line {block.Line}'\n{block.Text}");
                }
            }

            // A checkout is a git repository: the runs' provenance names its commit.
            var (committed, git) = await ChildProcess.RunAsync("bash", ["-c",
                "git init -q && git add -A && git -c user.name=readme -c user.email=readme@example.com commit -qm checkout"], root, null, Cancellation);
            Assert.True(committed == 0, git);

            var (exit, output) = await ChildProcess.RunAsync("bash", ["-c", script.ToString()], root, new Dictionary<string, string>
            {
                ["MODELOPS_STACK"] = running.StateDirectory,
                ["HOME"] = Path.Combine(root, "home"),
                ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}",
                // The user's NuGet cache, where the package's build finds the protos' well-known types.
                ["NUGET_PACKAGES"] = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
                    ? packages
                    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
            }, Cancellation);

            Assert.True(exit == 0, output);
            // The sample (samples/credit-risk/run.sh, the story's first step): two reviewers let the version into
            // Production, and drift sees the scripted shift from the fourth window on, and only there.
            Assert.Contains("PASS  provenance", output, StringComparison.Ordinal);
            Assert.Contains("approved by dev-reviewer, dev-reviewer-2", output, StringComparison.Ordinal);
            Assert.Contains("""{"window": 2, "drifted": []}, {"window": 3, "drifted": ["income", "debt_ratio"]}""", output, StringComparison.Ordinal);
            Assert.Matches(@"OK: \d+ entries of modelops\.local/ledger verified", output);
            // Coming from MLflow: the pipeline's transition waits for a second principal, the reviewer's applies it.
            Assert.Contains("\"error_code\":\"INVALID_STATE_TRANSITION\"", output, StringComparison.Ordinal);
            Assert.Contains("\"current_stage\":\"Staging\"", output, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(root, "report.html")) && File.Exists(Path.Combine(root, "fairness.html")) && File.Exists(Path.Combine(root, "importance.html")), output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // As if another stack held the default ports (the services' and the issuer's): a connection there is closed at once,
    // so a client that fell back to a default address would fail. A port already taken is held by someone else anyway.
    private static HeldPorts HoldDefaultPorts()
    {
        var held = new HeldPorts();
        var stop = held.Stop;
        foreach (var port in new[] { 7101, 7102, 7103, 7104, 7105, 7106, 7107, 18880 })
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            try
            {
                listener.Start();
            }
            catch (System.Net.Sockets.SocketException)
            {
                continue;
            }

            stop.Token.Register(listener.Stop);
            _ = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        using var connection = await listener.AcceptTcpClientAsync(stop.Token);
                    }
                }
                catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException)
                {
                }
            });
        }

        return held;
    }

    private sealed class HeldPorts : IDisposable
    {
        public CancellationTokenSource Stop { get; } = new();

        public void Dispose()
        {
            Stop.Cancel();
            Stop.Dispose();
        }
    }

    // Every fenced block: its first line's number, its language, the file its info string names, and its text.
    private static IEnumerable<(int Line, string Language, string? File, string Text)> ReadmeBlocks(string markdown)
    {
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (Fence().Match(lines[i]) is not { Success: true } fence)
            {
                continue;
            }

            var start = i;
            var text = new StringBuilder();
            while (++i < lines.Length && !lines[i].StartsWith("```", StringComparison.Ordinal))
            {
                text.Append(lines[i]).Append('\n');
            }

            yield return (start + 1, fence.Groups[1].Value, fence.Groups[2].Success ? fence.Groups[2].Value : null, text.ToString());
        }
    }

    [GeneratedRegex(@"^```(\w*)(?:\s+([\w.-]+))?\s*$")]
    private static partial Regex Fence();
}

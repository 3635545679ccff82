using System.Diagnostics;
using ModelOps.Client;

namespace ModelOps.Unit.Tests;

/// <summary>How a client finds the stack it belongs to (<see cref="Stack.Find"/>), on endpoints files written to temporary folders.</summary>
public sealed class StackDiscoveryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("modelops-stack-discovery-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void TheNearestRunningStackAboveTheCurrentFolderIsFoundWithItsAddressesTokensAndIssuer()
    {
        var checkout = Path.Combine(_root, "checkout");
        var endpoints = WriteEndpoints(Path.Combine(checkout, ".modelops"), Environment.ProcessId, 27101);
        var deep = Directory.CreateDirectory(Path.Combine(checkout, "samples", "credit")).FullName;

        var stack = Stack.Find(deep, Variables(("HOME", _root)));

        Assert.NotNull(stack);
        Assert.Equal(endpoints, stack.File);
        Assert.Equal("http://127.0.0.1:27101", stack.GrpcAddress("tracking"));
        Assert.Equal("http://127.0.0.1:27107", stack.GrpcAddress("ledger"));
        Assert.Null(stack.GrpcAddress("postgres")); // a server, not a gRPC service
        Assert.Equal(Path.Combine(checkout, ".modelops", "tokens"), stack.Tokens);
        Assert.Equal("http://127.0.0.1:28880", stack.Issuer);
        Assert.True(stack.IsRunning);
        Assert.Contains(checkout, stack.FoundBy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStackWhoseAppHostIsGoneIsPassedOverForTheOneTheUserFileNames()
    {
        WriteEndpoints(Path.Combine(_root, "here", ".modelops"), await DeadPidAsync(), 27101);
        var live = WriteEndpoints(Path.Combine(_root, "elsewhere", ".modelops"), Environment.ProcessId, 37101);
        var config = Path.Combine(_root, "config");
        Directory.CreateDirectory(Path.Combine(config, "modelops"));
        await File.WriteAllTextAsync(Path.Combine(config, "modelops", "stack"), live + "\n", TestContext.Current.CancellationToken);

        var stack = Stack.Find(Path.Combine(_root, "here"), Variables(("XDG_CONFIG_HOME", config)));

        Assert.Equal("http://127.0.0.1:37101", stack?.GrpcAddress("tracking"));
        Assert.Equal(Path.Combine(config, "modelops", "stack"), Stack.UserFile(Variables(("XDG_CONFIG_HOME", config))));
        Assert.Equal(Path.Combine(_root, ".config", "modelops", "stack"), Stack.UserFile(Variables(("HOME", _root))));
    }

    [Fact]
    public async Task TheUserFileNamingAStoppedStackFindsNothing()
    {
        var dead = WriteEndpoints(Path.Combine(_root, "stopped"), await DeadPidAsync(), 27101);
        Directory.CreateDirectory(Path.Combine(_root, ".config", "modelops"));
        await File.WriteAllTextAsync(Path.Combine(_root, ".config", "modelops", "stack"), dead, TestContext.Current.CancellationToken);

        Assert.Null(Stack.Find(_root, Variables(("HOME", _root))));
    }

    [Fact]
    public void MODELOPS_STACK_NamesTheStackByItsStateFolderOrItsFileAndWinsOverTheCurrentFolder()
    {
        WriteEndpoints(Path.Combine(_root, ".modelops"), Environment.ProcessId, 27101);
        var chosen = WriteEndpoints(Path.Combine(_root, "other-state"), Environment.ProcessId, 47101);

        Assert.Equal("http://127.0.0.1:47101", Stack.Find(_root, Variables((Stack.Variable, Path.Combine(_root, "other-state"))))?.GrpcAddress("tracking"));
        Assert.Equal("$MODELOPS_STACK", Stack.Find(_root, Variables((Stack.Variable, chosen)))?.FoundBy);
        Assert.Null(Stack.Find(_root, Variables((Stack.Variable, Path.Combine(_root, "nothing-here")))));
    }

    [Fact]
    public void WhyNoStackWasFoundNamesWhereItLooked()
    {
        Assert.Equal($"$MODELOPS_STACK names {_root}, which holds no endpoints.json (is that stack running?)",
            Stack.NotFound(Variables((Stack.Variable, _root))));
        Assert.Equal($"no running stack was found ($MODELOPS_STACK, .modelops/endpoints.json here or above, {Path.Combine(_root, ".config", "modelops", "stack")})",
            Stack.NotFound(Variables(("HOME", _root))));
    }

    [Fact]
    public void AnUnreadableOrForeignFileIsNoStack()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root, ".modelops")).FullName;
        File.WriteAllText(Path.Combine(folder, "endpoints.json"), "{ not json");
        Assert.Null(Stack.Find(_root, Variables(("HOME", _root))));
        File.WriteAllText(Path.Combine(folder, "endpoints.json"), "[1, 2]");
        Assert.Null(Stack.Read(Path.Combine(folder, "endpoints.json"), "test"));
        File.WriteAllText(Path.Combine(folder, "endpoints.json"), "{}");
        Assert.False(Stack.Read(Path.Combine(folder, "endpoints.json"), "test")!.IsRunning);
        File.WriteAllText(Path.Combine(folder, "endpoints.json"), """{"resources": {"tracking": "http://x", "drift": {"endpoints": 7}}, "appHostPid": "1"}""");
        var odd = Stack.Read(Path.Combine(folder, "endpoints.json"), "test")!;
        Assert.Empty(odd.GrpcAddresses);
        Assert.Null(odd.AppHostPid);
    }

    private static Func<string, string?> Variables(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    // A file shaped as the AppHost writes it (Aspire.AppHost/StackSummary.cs), with services on port+0…6.
    private static string WriteEndpoints(string state, int pid, int port)
    {
        Directory.CreateDirectory(state);
        string[] services = ["tracking", "registry", "drift", "fairness", "explainability", "alerting", "ledger"];
        var resources = services.Select((s, i) => $"\"{s}\": {{ \"endpoints\": {{ \"grpc\": \"http://127.0.0.1:{port + i}\", \"http\": \"http://127.0.0.1:{port + 100 + i}\" }} }}");
        var json = $$"""
            {
              "dashboard": "http://127.0.0.1:28888/login?t=abc",
              "appHostPid": {{pid}},
              "verifierKey": "modelops.local/ledger+0123abcd+AQID",
              "tokens": "{{Path.Combine(state, "tokens")}}",
              "resources": {
                "identity": { "endpoints": { "issuer": "http://127.0.0.1:28880", "tokens": "{{Path.Combine(state, "tokens")}}" } },
                "postgres": { "endpoints": { "tcp": "127.0.0.1:25432" } },
                {{string.Join(",\n", resources)}}
              },
              "services": ["tracking"]
            }
            """;
        var file = Path.Combine(state, "endpoints.json");
        File.WriteAllText(file, json);
        return file;
    }

    // The id of a process that has exited (and been reaped).
    private static async Task<int> DeadPidAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("true"))!;
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return process.Id;
    }
}

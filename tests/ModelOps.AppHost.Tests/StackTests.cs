using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using ModelOps.AppHost.Hosting;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed class RunningStack : IAsyncLifetime
{
    public StackProcess Stack { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Stack = await StackProcess.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => Stack.DisposeAsync();
}

[CollectionDefinition(nameof(StackCollection))]
public sealed class StackCollection;

[Collection(nameof(StackCollection))]
public sealed partial class StackTests(RunningStack running) : IClassFixture<RunningStack>
{
    private static readonly string[] Services = ["tracking", "registry", "drift", "fairness", "explainability", "alerting", "ledger"];

    [Fact]
    public void EveryServiceIsStarted() => Assert.Equal(Services.Order(), running.Stack.ServiceGrpcAddresses.Keys.Order());

    [Fact]
    public async Task EveryServiceIsHealthyOverGrpcAndHttp()
    {
        using var http = new HttpClient();
        foreach (var (service, address) in running.Stack.ServiceGrpcAddresses)
        {
            using var channel = GrpcChannel.ForAddress(address);
            var response = await new Health.HealthClient(channel).CheckAsync(
                new HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);
            Assert.True(response.Status == HealthCheckResponse.Types.ServingStatus.Serving, $"{service} is {response.Status}");

            var health = await http.GetAsync($"{running.Stack.ServiceHttpAddresses[service]}/health", TestContext.Current.CancellationToken);
            Assert.True(health.IsSuccessStatusCode, $"{service} /health answered {health.StatusCode}");
            var metrics = await http.GetStringAsync($"{running.Stack.ServiceHttpAddresses[service]}/metrics", TestContext.Current.CancellationToken);
            Assert.Contains($"service_name=\"{service}\"", metrics);
        }
    }

    [Fact]
    public async Task AuthenticatedCallWithAnIssuedTokenSucceeds()
    {
        foreach (var (service, address) in running.Stack.ServiceGrpcAddresses)
        {
            List<string> services;
            try
            {
                services = await ListServicesAsync(address, running.Stack.Token("pipeline"));
            }
            catch (RpcException exception)
            {
                Assert.Fail($"{service}: {exception.Status}{Environment.NewLine}{running.Stack.Output}");
                throw;
            }

            Assert.Contains("grpc.health.v1.Health", services);
        }
    }

    [Fact]
    public async Task APythonPipelineLogsACompleteRunToTheStack()
    {
        // The Python package, as a pipeline uses it, against the tracking service the AppHost started.
        var package = await ChildProcess.PreparePythonPackageAsync(TestContext.Current.CancellationToken);
        var tracking = new Uri(running.Stack.ServiceGrpcAddresses["tracking"]);
        var (exit, output) = await ChildProcess.RunAsync("/usr/bin/python3", [Path.Combine(package, "examples", "log_a_run.py")], package, new Dictionary<string, string>
        {
            ["MODELOPS_TRACKING_TARGET"] = $"{tracking.Host}:{tracking.Port}",
            ["MODELOPS_TOKEN"] = running.Stack.Token("pipeline"),
            ["PYTHONPATH"] = package,
            ["PYTHONDONTWRITEBYTECODE"] = "1",
        }, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, output);
        Assert.Contains("read back identically", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnauthenticatedCallToAProtectedEndpointIsRejected()
    {
        foreach (var address in running.Stack.ServiceGrpcAddresses.Values)
        {
            var exception = await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(address, token: null));

            Assert.Equal(StatusCode.Unauthenticated, exception.StatusCode);
        }
    }

    private static async Task<List<string>> ListServicesAsync(string address, string? token)
    {
        using var channel = GrpcChannel.ForAddress(address);
        return await GrpcTestHost.ListServicesAsync(new ServerReflection.ServerReflectionClient(channel), token);
    }
}

[Collection(nameof(StackCollection))]
public sealed class ShutdownTests
{
    [Fact]
    public async Task AfterSigtermNoProcessItStartedIsAlive()
    {
        await using var stack = await StackProcess.StartAsync(TestContext.Current.CancellationToken);
        var descendants = ProcessTree.Descendants(stack.Id);
        // Every process it reports is its descendant, and there is at least one per service and server.
        Assert.All(stack.ReportedPids, pid => Assert.Contains(pid, descendants));
        Assert.True(stack.ReportedPids.Count >= 11, $"only {stack.ReportedPids.Count} processes reported");

        await stack.TerminateAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(0, stack.ExitCode);
        var survivors = descendants.Where(ProcessTree.IsAlive).ToList();
        Assert.True(survivors.Count == 0, $"still alive: {string.Join(", ", survivors)}{Environment.NewLine}{stack.Output}");
    }
}

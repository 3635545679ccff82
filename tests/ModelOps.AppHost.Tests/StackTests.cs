using Aspire.Hosting.ApplicationModel;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using ModelOps.Hosting.Local;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

[CollectionDefinition(nameof(StackCollection))]
public sealed class StackCollection;

[Collection(nameof(StackCollection))]
public sealed partial class StackTests(RunningStack running) : IClassFixture<RunningStack>
{
    [Fact]
    public void EveryServiceIsStarted() => Assert.Equal(RunningStack.Services.Order(), running.ServiceGrpcAddresses.Keys.Order());

    [Fact(Timeout = 120_000)]
    public async Task PrometheusScrapesEveryServiceEvaluatesTheObjectivesAndSendsItsAlertsToAlerting()
    {
        var model = (DistributedApplicationModel)running.App.Services.GetService(typeof(DistributedApplicationModel))!;
        var prometheus = model.Resources.OfType<ModelOps.AppHost.Resources.LocalPrometheusResource>().Single().Prometheus.Address;
        await running.App.ResourceNotifications.WaitForResourceHealthyAsync("prometheus", TestContext.Current.CancellationToken);
        using var http = new HttpClient();
        async Task<System.Text.Json.JsonElement> ApiAsync(string path) =>
            System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"{prometheus}/api/v1/{path}", TestContext.Current.CancellationToken)).RootElement.GetProperty("data");

        // Every service is scraped, and answers.
        var jobs = RunningStack.Services.Select(s => $"modelops-{s}").Order(StringComparer.Ordinal).ToList();
        var up = new List<string>();
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            up = [.. (await ApiAsync("targets")).GetProperty("activeTargets").EnumerateArray()
                .Where(t => t.GetProperty("health").GetString() == "up").Select(t => t.GetProperty("labels").GetProperty("job").GetString()!).Order(StringComparer.Ordinal)];
            return up.SequenceEqual(jobs);
        }, TimeSpan.FromSeconds(60)), $"up: {string.Join(", ", up)}");

        // The objectives are loaded, and alerting's Alertmanager API is where their alerts go.
        var groups = (await ApiAsync("rules")).GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("name").GetString()).ToList();
        Assert.Equal(["modelops-slo", "modelops-slo-recording"], groups.Order(StringComparer.Ordinal));
        var alertmanager = (await ApiAsync("alertmanagers")).GetProperty("activeAlertmanagers")[0].GetProperty("url").GetString()!;
        Assert.Equal($"{running.ServiceHttpAddresses["alerting"]}/api/v2/alerts", alertmanager);

        // What the services expose is what the rules read: a gRPC call's status reaches Prometheus as a label.
        using var channel = GrpcChannel.ForAddress(running.ServiceGrpcAddresses["registry"]);
        await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(await Eventually.HoldsAsync(async () =>
            (await ApiAsync("query?query=" + Uri.EscapeDataString("count(http_server_request_duration_seconds_count{rpc_grpc_status_code=\"0\"})")))
            .GetProperty("result").GetArrayLength() > 0, TimeSpan.FromSeconds(60)));
    }

    // Behind Aspire's proxy the dashboard would bind a port nobody reserved, which another stack could take first.
    [Fact]
    public void TheDashboardListensOnTheReservedPortsItselfWithoutAProxy()
    {
        var model = (DistributedApplicationModel)running.App.Services.GetService(typeof(DistributedApplicationModel))!;
        var endpoints = model.Resources.Single(resource => resource.Name == "aspire-dashboard").Annotations.OfType<EndpointAnnotation>().ToList();
        Assert.NotEmpty(endpoints);
        Assert.All(endpoints, endpoint =>
        {
            Assert.False(endpoint.IsProxied, endpoint.Name);
            Assert.Equal(endpoint.Port, endpoint.AllocatedEndpoint?.Port);
        });
    }

    [Fact]
    public async Task EveryServiceIsHealthyOverGrpcAndHttp()
    {
        using var http = new HttpClient();
        foreach (var (service, address) in running.ServiceGrpcAddresses)
        {
            using var channel = GrpcChannel.ForAddress(address);
            var response = await new Health.HealthClient(channel).CheckAsync(
                new HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);
            Assert.True(response.Status == HealthCheckResponse.Types.ServingStatus.Serving, $"{service} is {response.Status}");

            var health = await http.GetAsync($"{running.ServiceHttpAddresses[service]}/health", TestContext.Current.CancellationToken);
            Assert.True(health.IsSuccessStatusCode, $"{service} /health answered {health.StatusCode}");
            var metrics = await http.GetStringAsync($"{running.ServiceHttpAddresses[service]}/metrics", TestContext.Current.CancellationToken);
            Assert.Contains($"service_name=\"{service}\"", metrics);
        }
    }

    [Fact]
    public async Task TheEndpointsFileNamesEveryServiceAndTheVerifierKeyAsWrittenAndNoSecret()
    {
        var path = Path.Combine(running.StateDirectory, "endpoints.json");
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(File.Exists(path)), TimeSpan.FromSeconds(30)));
        var raw = await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken);
        using var document = System.Text.Json.JsonDocument.Parse(raw);
        var verifierKey = document.RootElement.GetProperty("verifierKey").GetString()!;
        Assert.Contains(verifierKey, raw, StringComparison.Ordinal); // as it is, no \u002B for its '+'
        Assert.DoesNotContain("\\u00", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("password", raw, StringComparison.OrdinalIgnoreCase);
        Assert.Superset(running.ServiceGrpcAddresses.Keys.ToHashSet(), document.RootElement.GetProperty("services").EnumerateArray().Select(s => s.GetString()!).ToHashSet());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task AuthenticatedCallWithAnIssuedTokenSucceeds()
    {
        foreach (var (service, address) in running.ServiceGrpcAddresses)
        {
            List<string> services;
            try
            {
                services = await ListServicesAsync(address, running.Token("pipeline"));
            }
            catch (RpcException exception)
            {
                Assert.Fail($"{service}: {exception.Status}");
                throw;
            }

            Assert.Contains("grpc.health.v1.Health", services);
        }
    }

    [Fact]
    public async Task APythonPipelineLogsACompleteRunToTheStack()
    {
        // The Python package, as a pipeline uses it, against the tracking service the AppHost started.
        var (exit, output) = await LogARunWithThePythonExampleAsync();
        Assert.True(exit == 0, output);
        Assert.Contains("read back identically", output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 300_000)]
    public async Task TheDashboardShowsAPipelinesEndRunAsOneTraceFromTrackingThroughTheBusToTheLedgersSequencer()
    {
        // A run logged by the Python example, as a pipeline logs it.
        var (exit, output) = await LogARunWithThePythonExampleAsync();
        Assert.True(exit == 0, output);

        // Headless Chromium opens the dashboard's Traces view and finds the EndRun trace with spans from tracking and from
        // the ledger: its consumer and its sequencer.
        var root = ChildProcess.RepositoryRoot();
        var screenshot = Path.Combine(root, "TestResults", "screenshots", "dashboard-endrun-trace.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        var (found, result) = await ChildProcess.RunAsync("node",
            [Path.Combine(AppContext.BaseDirectory, "Browser", "trace.mjs"), running.DashboardUrl, running.BrowserToken,
             "TrackingService/EndRun", "tracking,ledger", "outbox publish,ledger-integration-event process,ledger sequenced", screenshot, "90"],
            root, new Dictionary<string, string>
            {
                ["PLAYWRIGHT_CORE"] = Path.Combine(root, "scripts", "node_modules", "playwright-core", "index.mjs"),
            }, TestContext.Current.CancellationToken);
        Assert.True(found == 0, result);
        Assert.True(new FileInfo(screenshot).Length > 10_000, $"the screenshot at {screenshot} is empty");
    }

    [Fact]
    public async Task UnauthenticatedCallToAProtectedEndpointIsRejected()
    {
        foreach (var address in running.ServiceGrpcAddresses.Values)
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

    // The Python package's example, as a pipeline runs it, against the tracking service the AppHost started.
    private async Task<(int Exit, string Output)> LogARunWithThePythonExampleAsync()
    {
        var package = await ChildProcess.PreparePythonPackageAsync(TestContext.Current.CancellationToken);
        var tracking = new Uri(running.ServiceGrpcAddresses["tracking"]);
        return await ChildProcess.RunAsync("/usr/bin/python3", [Path.Combine(package, "examples", "log_a_run.py")], package, new Dictionary<string, string>
        {
            ["MODELOPS_TRACKING_TARGET"] = $"{tracking.Host}:{tracking.Port}",
            ["MODELOPS_TOKEN"] = running.Token("pipeline"),
            ["PYTHONPATH"] = package,
            ["PYTHONDONTWRITEBYTECODE"] = "1",
        }, TestContext.Current.CancellationToken);
    }
}

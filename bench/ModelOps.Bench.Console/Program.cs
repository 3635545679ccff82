// The governance console's speed, in Debian's chromium against the AppHost's own stack (started here on free ports,
// with a fresh state, and stopped at the end):
//   - the version page of a version whose run has 10,000 metric points (10 metrics × 1000 steps), with 50 drift
//     windows of reports and 200 ledger entries about it;
//   - the model list with 10,000 models.
// For each page, over --runs loads after two warm-ups: the server's time (the browser's requestStart to responseEnd of
// the prerendered page, which holds every figure), first contentful paint, and the time until the page is interactive
// with its ledger proofs checked. The goals are under 1 s (version page: server time plus first paint) and 300 ms
// (model list).
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Console [-- --runs N]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Playwright;
using ModelOps.Drift.V1;
using ModelOps.Ledger.V1;
using ModelOps.Registry.V1;
using ModelOps.Tracking.V1;

var runs = Option("--runs") is { } count ? int.Parse(count, CultureInfo.InvariantCulture) : 10;
var root = Directory.GetCurrentDirectory();
while (!File.Exists(Path.Combine(root, "ModelOps.sln")))
{
    root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Run from inside the repository.");
}

Console.WriteLine($"machine: {Environment.ProcessorCount} cores; {runs} loads of each page after 2 warm-ups");
Run(root, "dotnet", "build", "Aspire.AppHost", "-c", "Release", "-v", "q", "-nologo");
var state = Directory.CreateTempSubdirectory("modelops-console-bench-").FullName;
using var appHost = Process.Start(new ProcessStartInfo("dotnet",
    ["exec", Path.Combine(root, "Aspire.AppHost", "bin", "Release", "net10.0", "ModelOps.AppHost.dll"), "--state", state, "--fresh", "--dynamic-ports", "--user-file", "none"])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
})!;
_ = appHost.StandardOutput.ReadToEndAsync();
_ = appHost.StandardError.ReadToEndAsync();
try
{
    // endpoints.json appears once every resource is healthy; it may be read while it is being written.
    var endpoints = Path.Combine(state, "endpoints.json");
    var deadline = DateTime.UtcNow.AddMinutes(5);
    JsonDocument? written = null;
    while (written is null)
    {
        if (DateTime.UtcNow > deadline || appHost.HasExited)
        {
            throw new InvalidOperationException("The stack did not start within 5 minutes.");
        }

        await Task.Delay(500);
        try
        {
            written = File.Exists(endpoints) ? JsonDocument.Parse(await File.ReadAllTextAsync(endpoints)) : null;
        }
        catch (JsonException)
        {
            written = null;
        }
    }

    using var stack = written;
    string Grpc(string service) => stack.RootElement.GetProperty("resources").GetProperty(service).GetProperty("endpoints").GetProperty("grpc").GetString()!;
    var console = stack.RootElement.GetProperty("resources").GetProperty("console").GetProperty("endpoints").GetProperty("http").GetString()!;
    string Token(string role) => File.ReadAllText(Path.Combine(state, "tokens", $"{role}.jwt")).Trim();
    Metadata As(string role) => new() { { "Authorization", $"Bearer {Token(role)}" } };

    using var trackingChannel = GrpcChannel.ForAddress(Grpc("tracking"));
    using var registryChannel = GrpcChannel.ForAddress(Grpc("registry"));
    using var ledgerChannel = GrpcChannel.ForAddress(Grpc("ledger"));
    using var driftChannel = GrpcChannel.ForAddress(Grpc("drift"));
    var tracking = new TrackingService.TrackingServiceClient(trackingChannel);
    var registry = new RegistryService.RegistryServiceClient(registryChannel);
    var ledger = new LedgerService.LedgerServiceClient(ledgerChannel);
    var drift = new DriftService.DriftServiceClient(driftChannel);

    // The version: a run with 10,000 metric points and a model file, registered.
    var seeding = Stopwatch.StartNew();
    const string model = "bench-console";
    var experiment = (await tracking.CreateExperimentAsync(new CreateExperimentRequest { Name = "console-bench" }, As("pipeline"))).ExperimentId;
    var run = (await tracking.StartRunAsync(new StartRunRequest { ExperimentId = experiment, RunName = "ten thousand points" }, As("pipeline"))).RunId;
    for (var batch = 0; batch < 10; batch++)
    {
        var request = new LogBatchRequest { RunId = run };
        request.Metrics.AddRange(Enumerable.Range(batch * 100, 100).SelectMany(step => Enumerable.Range(0, 10).Select(m => new Metric
        {
            Key = $"metric_{m}", Value = Math.Sin(step / 50.0 + m), Step = step, Timestamp = 1_764_590_000_000 + step,
        })));
        await tracking.LogBatchAsync(request, As("pipeline"));
    }

    using (var upload = tracking.UploadArtifact(As("pipeline")))
    {
        await upload.RequestStream.WriteAsync(new UploadArtifactRequest { Header = new ArtifactHeader { RunId = run, Path = "model.bin" } });
        await upload.RequestStream.WriteAsync(new UploadArtifactRequest { Chunk = ByteString.CopyFrom(new byte[4096]) });
        await upload.RequestStream.CompleteAsync();
        await upload;
    }

    await tracking.EndRunAsync(new EndRunRequest { RunId = run, Status = RunStatus.Finished }, As("pipeline"));
    await registry.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = model, RiskTier = RiskTier.High, Owner = "ml-team" }, As("pipeline"));
    var version = (await registry.CreateModelVersionAsync(new CreateModelVersionRequest { Model = model, RunId = run, ArtifactPath = "model.bin" }, As("pipeline"))).Version;

    // 200 ledger entries about it.
    await Parallel.ForEachAsync(Enumerable.Range(0, 200), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, cancellationToken) =>
        await ledger.AppendAsync(new AppendRequest
        {
            EventType = "external.ReviewNote",
            Subjects = { ["model_version"] = $"{model}/{version}" },
            PayloadJson = $$"""{"note": "bench evidence {{i}}"}""",
        }, As("admin"), cancellationToken: cancellationToken));

    // 50 drift windows of 100 records each.
    var reference = drift.SetReference(As("admin"));
    var columns = new[] { "income", "age" };
    await reference.RequestStream.WriteAsync(new SetReferenceRequest
    {
        Header = new ReferenceHeader
        {
            Model = model, Version = version.ToString(CultureInfo.InvariantCulture), Window = new WindowPolicy { Records = 100 },
            Columns = { columns.Select(c => new Column { Name = c, Kind = ColumnKind.Numeric }) },
        },
    });
    var random = new Random(7);
    var rows = new RowBatch();
    rows.Rows.AddRange(Enumerable.Range(0, 2000).Select(_ => Row(random, 0)));
    await reference.RequestStream.WriteAsync(new SetReferenceRequest { Rows = rows });
    await reference.RequestStream.CompleteAsync();
    await reference;
    using (var ingest = drift.Ingest(As("service")))
    {
        for (var window = 0; window < 51; window++)
        {
            var request = new IngestRequest();
            request.Records.AddRange(Enumerable.Range(0, 100).Select(i => new InferenceRecord
            {
                Model = model, Version = version.ToString(CultureInfo.InvariantCulture),
                Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddMinutes(-60 + window)),
                RequestId = $"w{window}-{i}", Features = { Row(random, window / 100.0).Values },
            }));
            await ingest.RequestStream.WriteAsync(request);
        }

        await ingest.RequestStream.CompleteAsync();
        await ingest;
    }

    // 10,000 models in all.
    await Parallel.ForEachAsync(Enumerable.Range(1, 9_999), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, cancellationToken) =>
        await registry.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = $"model-{i:D5}", RiskTier = RiskTier.Low, Owner = "ml-team" },
            As("pipeline"), cancellationToken: cancellationToken));
    var windows = (await drift.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = version.ToString(CultureInfo.InvariantCulture), PageSize = 100 }, As("auditor"))).Reports.Count;
    Console.WriteLine($"seeded in {seeding.Elapsed.TotalSeconds:F0} s: 10,000 metric points, {windows} drift windows, 200 ledger entries, 10,000 models");

    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new()
    {
        ExecutablePath = "/usr/bin/chromium", Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    var page = await (await browser.NewContextAsync()).NewPageAsync();
    await page.GotoAsync($"{console}/signin");
    await page.Locator("textarea#token").FillAsync(Token("auditor"));
    await page.Locator("button[type=submit]").ClickAsync();
    await page.WaitForURLAsync($"{console}/");

    await MeasureAsync(page, "version page", $"{console}/models/{model}/versions/{version}", "p.ok", runs, 1000);
    await MeasureAsync(page, "model list", $"{console}/models", "[data-interactive=true]", runs, 300);
}
finally
{
    // SIGTERM lets the AppHost stop the services and servers it started (SIGKILL would leave them running).
    Process.Start("kill", ["-TERM", appHost.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
    using var stopping = new CancellationTokenSource(TimeSpan.FromMinutes(1));
    await appHost.WaitForExitAsync(stopping.Token);
    Directory.Delete(state, recursive: true);
}

static async Task MeasureAsync(IPage page, string name, string url, string ready, int runs, double goalMs)
{
    var server = new List<double>();
    var paint = new List<double>();
    var complete = new List<double>();
    for (var i = 0; i < runs + 2; i++)
    {
        var started = Stopwatch.GetTimestamp();
        await page.GotoAsync(url, new() { WaitUntil = WaitUntilState.Commit });
        await page.Locator(ready).First.WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 30_000 });
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var timing = await page.EvaluateAsync<double[]>("""
            () => {
              const n = performance.getEntriesByType("navigation")[0];
              const p = performance.getEntriesByName("first-contentful-paint")[0];
              return [n.responseEnd - n.requestStart, p ? p.startTime : NaN];
            }
            """);
        if (i >= 2)
        {
            server.Add(timing[0]);
            paint.Add(timing[1]);
            complete.Add(elapsed);
        }
    }

    var serverPlusPaint = server.Zip(paint, (s, p) => Math.Max(s, p)).ToList();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{name}: server p50 {Median(server):F0} ms, first paint p50 {Median(paint):F0} ms (it includes the server's time), " +
        $"interactive with its data p50 {Median(complete):F0} ms, max {complete.Max():F0} ms; goal {goalMs:F0} ms for first paint: " +
        $"{(Median(serverPlusPaint) < goalMs ? "met" : "missed")}"));
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}

static Row Row(Random random, double shift) => new()
{
    Values = { ["income"] = Value.ForNumber(50_000 * (1 + shift) + (random.NextDouble() * 10_000)), ["age"] = Value.ForNumber(20 + random.Next(50)) },
};

static void Run(string directory, string file, params string[] arguments)
{
    using var process = Process.Start(new ProcessStartInfo(file, arguments) { WorkingDirectory = directory })!;
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}).");
    }
}

static string? Option(string name) => Environment.GetCommandLineArgs().SkipWhile(a => a != name).Skip(1).FirstOrDefault();

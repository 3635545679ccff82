// Alerting benchmark, side by side with Debian's Alertmanager 0.25 on the same machine, in the same run, under the
// same load: accepted alerts per second on POST /api/v2/alerts in batches of 1 and of 100 (each run new alerts, from
// several concurrent clients), and the latency of the notification after group_wait (200 new groups at once, each
// notified to a local webhook: arrival minus post time minus group_wait). The two systems are measured in turns
// (Alertmanager, ModelOps, Alertmanager, ModelOps) and the best turn of each is kept; ratios are what compare.
// Alertmanager keeps alerts in memory (its silences and notification log go to disk at intervals); ModelOps commits
// each request to PostgreSQL (fsync on) before it answers, and checks a bearer token. Alertmanager limits no receiver's
// rate; ModelOps's per-receiver limit is lifted here so that both notify as fast as they can.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Alerting [-- --alerts N --clients N]
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ModelOps.Bench;

var alertsPerRun = Option("--alerts") is { } a ? int.Parse(a, CultureInfo.InvariantCulture) : 20_000;
var clients = Option("--clients") is { } c ? int.Parse(c, CultureInfo.InvariantCulture) : 8;
const string AlertmanagerBinary = "/usr/bin/prometheus-alertmanager";
if (!File.Exists(AlertmanagerBinary))
{
    Console.Error.WriteLine("Alertmanager is missing: scripts/bootstrap.sh installs Debian's prometheus-alertmanager.");
    return 1;
}

// The webhook both systems notify; it records when each notification arrived and which alerts it carried.
var arrivals = new ConcurrentQueue<(string System, DateTimeOffset At, string[] Alertnames)>();
var sinkBuilder = WebApplication.CreateSlimBuilder();
sinkBuilder.Logging.ClearProviders();
sinkBuilder.WebHost.UseUrls("http://127.0.0.1:0");
var sink = sinkBuilder.Build();
sink.MapPost("/{system}", async (string system, HttpRequest request) =>
{
    using var body = await JsonDocument.ParseAsync(request.Body);
    arrivals.Enqueue((system, DateTimeOffset.UtcNow,
        [.. body.RootElement.GetProperty("alerts").EnumerateArray().Select(x => x.GetProperty("labels").GetProperty("alertname").GetString()!)]));
    return Results.Ok();
});
await sink.StartAsync();
var sinkUrl = sink.Urls.First();

var work = Directory.CreateTempSubdirectory("alerting-bench-").FullName;
const string Route = "route: {receiver: sink, group_by: [alertname, service], group_wait: 1s, group_interval: 5m, repeat_interval: 4h}";
await File.WriteAllTextAsync(Path.Combine(work, "am.yml"), $"{Route}\nreceivers: [{{name: sink, webhook_configs: [{{url: \"{sinkUrl}/alertmanager\"}}]}}]\n");
await File.WriteAllTextAsync(Path.Combine(work, "modelops.yml"), $"{Route}\nreceivers: [{{name: sink, webhook_configs: [{{url: \"{sinkUrl}/modelops\"}}]}}]\n");

Console.WriteLine($"machine: {Environment.ProcessorCount} cores; PostgreSQL fsync on; {clients} concurrent clients; {alertsPerRun} new alerts per run");
await using var servers = await BenchServers.StartAsync();
var (alerting, _) = await servers.ServiceAsync("alerting", new ServiceProjects.ModelOps_Alerting(), "");
alerting.WithEnvironment("Alerting__ConfigFile", Path.Combine(work, "modelops.yml"))
    // Alertmanager limits no receiver's rate; ModelOps (50 a second by default) is measured without the limit too.
    .WithEnvironment("Alerting__ReceiverRatePerSecond", "10000");
await alerting.StartAsync(CancellationToken.None);

var amPort = FreePort();
using var alertmanager = Process.Start(new ProcessStartInfo(AlertmanagerBinary,
    [$"--config.file={work}/am.yml", $"--storage.path={work}/am", $"--web.listen-address=127.0.0.1:{amPort}", "--cluster.listen-address=", "--log.level=warn"])
{
    RedirectStandardError = true,
    RedirectStandardOutput = true,
})!;
alertmanager.BeginErrorReadLine();
alertmanager.BeginOutputReadLine();
try
{
    var targets = new (string Name, string Url, string? Token)[]
    {
        ("alertmanager", $"http://127.0.0.1:{amPort}", null),
        ("modelops", alerting.HttpAddress, servers.Tokens.CreateToken("service:bench", ["service"])),
    };
    foreach (var (_, url, _) in targets)
    {
        await WaitReadyAsync(url);
    }

    // Notification latency after group_wait, first, on idle systems: 200 alerts, each its own new group, in one request.
    foreach (var (name, url, token) in targets)
    {
        var prefix = $"lat{name}";
        var sent = DateTimeOffset.UtcNow;
        await PostAsync(Client(url, token, 1), [.. Enumerable.Range(0, 200).Select(i => Alert($"{prefix}{i}", "svc"))]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (arrivals.Count(x => x.Alertnames.Any(n => n.StartsWith(prefix, StringComparison.Ordinal))) < 200 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var latencies = arrivals.Where(x => x.Alertnames.Any(n => n.StartsWith(prefix, StringComparison.Ordinal)))
            .Select(x => (x.At - sent - TimeSpan.FromSeconds(1)).TotalMilliseconds).Order().ToList();
        Console.WriteLine(latencies.Count == 0
            ? $"{name}: no notification arrived"
            : $"{name}: {latencies.Count} notifications after group_wait: p50 {Percentile(latencies, 0.5):0} ms, p99 {Percentile(latencies, 0.99):0} ms, max {latencies[^1]:0} ms");
    }

    var run = 0;
    foreach (var batch in new[] { 1, 100 })
    {
        var count = batch == 1 ? alertsPerRun / 5 : alertsPerRun;
        var best = new Dictionary<string, double>();
        for (var turn = 0; turn < 2; turn++)
        {
            foreach (var (name, url, token) in targets)
            {
                var rate = await PostRateAsync(url, token, count, batch, $"r{run++}");
                best[name] = Math.Max(best.GetValueOrDefault(name), rate);
                Console.WriteLine($"  batch {batch,3}, turn {turn + 1}: {name,-12} {rate,9:N0} alerts/s");
            }
        }

        Console.WriteLine($"batch {batch,3}: alertmanager {best["alertmanager"],9:N0} alerts/s, modelops {best["modelops"],9:N0} alerts/s, modelops/alertmanager {best["modelops"] / best["alertmanager"]:0.00}x");
    }

    // Every alert of the throughput runs is a group of its own (a storm of groups): how many notifications each system
    // had sent when the runs ended, and a few seconds later.
    await Task.Delay(TimeSpan.FromSeconds(10));
    Console.WriteLine("notifications of the throughput runs' groups, 10 s after the last run: " +
                      string.Join(", ", targets.Select(t => $"{t.Name} {arrivals.Count(x => x.System == t.Name && !x.Alertnames[0].StartsWith("lat", StringComparison.Ordinal))}")));
    return 0;
}
finally
{
    alertmanager.Kill(entireProcessTree: true);
    await alertmanager.WaitForExitAsync();
    await sink.DisposeAsync();
    Directory.Delete(work, recursive: true);
}

// Posts `count` new alerts in requests of `batch`, from `clients` clients at once; returns accepted alerts per second.
async Task<double> PostRateAsync(string url, string? token, int count, int batch, string run)
{
    var requests = Enumerable.Range(0, count / batch)
        .Select(r => Enumerable.Range(0, batch).Select(i => Alert($"{run}-{(r * batch + i) % 50}", $"s{r * batch + i}")).ToArray())
        .ToList();
    var next = -1;
    using var client = Client(url, token, clients);
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < requests.Count)
        {
            await PostAsync(client, requests[i]);
        }
    }));
    return requests.Count * batch / clock.Elapsed.TotalSeconds;
}

static object Alert(string alertname, string service) => new
{
    labels = new Dictionary<string, string> { ["alertname"] = alertname, ["service"] = service, ["severity"] = "warning", ["instance"] = "10.0.0.1:9100" },
    annotations = new Dictionary<string, string> { ["summary"] = "p99 latency above 1 s" },
    startsAt = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
    generatorURL = "http://prometheus:9090/graph?g0.expr=histogram_quantile",
};

static HttpClient Client(string url, string? token, int connections)
{
    var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections }) { BaseAddress = new Uri(url) };
    if (token is not null)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    return client;
}

static async Task PostAsync(HttpClient client, object[] alerts)
{
    using var response = await client.PostAsJsonAsync("/api/v2/alerts", alerts);
    response.EnsureSuccessStatusCode();
}

static async Task WaitReadyAsync(string url)
{
    using var client = new HttpClient { BaseAddress = new Uri(url) };
    for (var i = 0; i < 100; i++)
    {
        try
        {
            if ((await client.GetAsync("/-/ready")).IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }

        await Task.Delay(100);
    }

    throw new InvalidOperationException($"{url} did not become ready");
}

static double Percentile(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

static int FreePort()
{
    using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
}

static string? Option(string name)
{
    var args = Environment.GetCommandLineArgs();
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

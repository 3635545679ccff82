// The MLflow-compatible API's cost: runs/log-batch with 1000 metrics (MLflow's largest batch) through the façade, as
// MLflow's Python client sends it (JSON over HTTP/1.1), against tracking's own LogBatch over gRPC with the same 1000
// metrics and a batch_id, alternating in the same run on the same run id. Both write through tracking to PostgreSQL
// (fsync on); the difference is the façade's work (JSON in and out, the idempotency key, one more hop). MLflow's own server needs
// 130-200 ms per 1000-metric batch.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Mlflow [-- --batches N]
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Bench;
using ModelOps.Tracking.V1;

var batches = Option("--batches") is { } count ? int.Parse(count, CultureInfo.InvariantCulture) : 200;
const int warmUp = 20;
const int batchSize = 1000;

Console.WriteLine($"machine: {Environment.ProcessorCount} cores; PostgreSQL fsync on; {batches} batches of {batchSize} metrics each way");
await using var servers = await BenchServers.StartAsync();
var artifacts = await servers.ObjectStore.CreateBucketAsync("mlflow-bench", CancellationToken.None);
var (tracking, _) = await servers.ServiceAsync("tracking", new ServiceProjects.ModelOps_Tracking(), artifacts);
await tracking.StartAsync(CancellationToken.None);
var (facade, _) = await servers.ServiceAsync("mlflow", new ServiceProjects.ModelOps_Mlflow(), artifacts);
facade.WithReference(tracking);
await facade.StartAsync(CancellationToken.None);

var token = servers.Tokens.CreateToken("bench", ["pipeline"]);
using var channel = GrpcChannel.ForAddress(tracking.GrpcAddress);
var client = new TrackingService.TrackingServiceClient(channel);
var pipeline = new Metadata { { "Authorization", $"Bearer {token}" } };
var experiment = (await client.CreateExperimentAsync(new CreateExperimentRequest { Name = "bench" }, pipeline)).ExperimentId;
var runId = (await client.StartRunAsync(new StartRunRequest { ExperimentId = experiment }, pipeline)).RunId;
using var http = new HttpClient { BaseAddress = new Uri(facade.HttpAddress) };
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

// Batch b holds steps [b * 1000, (b + 1) * 1000) of ten metrics: every batch writes new points.
static List<Metric> Batch(int batch) => [.. Enumerable.Range(batch * batchSize, batchSize).Select(step => new Metric
{
    Key = $"m{step % 10}", Value = Math.Sin(step), Step = step, Timestamp = 1_764_590_000_000 + step,
})];

string Json(int batch) => JsonSerializer.Serialize(new
{
    run_id = runId,
    metrics = Batch(batch).Select(m => new { key = m.Key, value = m.Value, timestamp = m.Timestamp, step = m.Step }),
});

var grpcTimes = new List<double>();
var facadeTimes = new List<double>();
for (var i = 0; i < warmUp + batches; i++)
{
    // The bodies are built before the clock starts: what is timed is the call.
    // With a batch_id, as a client that retries sends it (and as the façade always does): tracking then records the
    // batch, which is part of the cost either way.
    var grpcRequest = new LogBatchRequest { RunId = runId, Metrics = { Batch(2 * i) }, BatchId = $"bench-{i}" };
    using var body = new StringContent(Json(2 * i + 1), Encoding.UTF8, "application/json");
    var started = Stopwatch.GetTimestamp();
    await client.LogBatchAsync(grpcRequest, pipeline);
    var grpcMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    started = Stopwatch.GetTimestamp();
    using var response = await http.PostAsync("/api/2.0/mlflow/runs/log-batch", body);
    var facadeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"log-batch answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    if (i >= warmUp)
    {
        grpcTimes.Add(grpcMs);
        facadeTimes.Add(facadeMs);
    }
}

// The fixed cost of the hop: one small read each way.
var grpcReads = new List<double>();
var facadeReads = new List<double>();
for (var i = 0; i < warmUp + batches; i++)
{
    var started = Stopwatch.GetTimestamp();
    await client.GetExperimentAsync(new GetExperimentRequest { ExperimentId = experiment }, pipeline);
    var grpcMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    started = Stopwatch.GetTimestamp();
    using var response = await http.GetAsync($"/api/2.0/mlflow/experiments/get?experiment_id={experiment}");
    response.EnsureSuccessStatusCode();
    var facadeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    if (i >= warmUp)
    {
        grpcReads.Add(grpcMs);
        facadeReads.Add(facadeMs);
    }
}

var history = await client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = runId, MetricKey = "m0" }, pipeline);
Console.WriteLine($"points of m0 written: {history.TotalPoints:N0} (expected {(warmUp + batches) * 2 * batchSize / 10:N0})");
Console.WriteLine("runs/log-batch, 1000 metrics:");
Report("tracking LogBatch (gRPC) p50 ms", Percentile(grpcTimes, 50));
Report("tracking LogBatch (gRPC) p99 ms", Percentile(grpcTimes, 99));
Report("façade runs/log-batch (JSON) p50 ms", Percentile(facadeTimes, 50));
Report("façade runs/log-batch (JSON) p99 ms", Percentile(facadeTimes, 99));
Report("façade / gRPC at p50", Percentile(facadeTimes, 50) / Percentile(grpcTimes, 50));
Report("façade / gRPC at p99", Percentile(facadeTimes, 99) / Percentile(grpcTimes, 99));

Console.WriteLine("experiments/get (the hop alone):");
Report("tracking GetExperiment (gRPC) p50 ms", Percentile(grpcReads, 50));
Report("façade experiments/get (JSON) p50 ms", Percentile(facadeReads, 50));

static void Report(string what, double value) => Console.WriteLine($"  {what,-44} {value,10:N2}");

static double Percentile(List<double> values, double percentile)
{
    var sorted = values.Order().ToList();
    return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
}

static string? Option(string name)
{
    var args = Environment.GetCommandLineArgs();
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

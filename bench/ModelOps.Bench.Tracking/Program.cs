// Tracking benchmarks, each compared in the same run with what the storage underneath does alone:
//   1. metric ingestion from this (separate) process, 8 concurrent writers of 1000-metric batches, against PostgreSQL
//      COPY of the same rows into the same table and indexes;
//   2. a 1 GiB artifact up and down through the service, against the object store through the Minio SDK, with the
//      service's peak memory;
//   3. run search over 100k runs with a metric filter and ordering.
// PostgreSQL runs with fsync on. Run: dotnet run -c Release --project bench/ModelOps.Bench.Tracking
//   [-- --artifact-mib N] [--sections ingest,artifacts,search]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using Minio.DataModel.Args;
using ModelOps.Bench;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;
using Npgsql;
using NpgsqlTypes;

var artifactMiB = Option("--artifact-mib") is { } mib ? int.Parse(mib, CultureInfo.InvariantCulture) : 1024;
var sections = (Option("--sections") ?? "ingest,artifacts,search").Split(',');
var cancellation = CancellationToken.None;

Console.WriteLine($"machine: {Environment.ProcessorCount} cores; PostgreSQL fsync on");
await using var servers = await BenchServers.StartAsync();
var tokens = servers.Tokens;
Console.WriteLine($"object store: {servers.ObjectStore.Kind}");
var artifacts = await servers.ObjectStore.CreateBucketAsync("tracking-bench", cancellation);
var (tracking, database) = await servers.ServiceAsync("tracking", new ServiceProjects.ModelOps_Tracking(), artifacts);
tracking.WithEnvironment("Tracking__MaxArtifactBytes", (4L << 30).ToString(CultureInfo.InvariantCulture));
await tracking.StartAsync(cancellation);
using var channel = GrpcChannel.ForAddress(tracking.GrpcAddress, new GrpcChannelOptions { MaxReceiveMessageSize = 8 << 20 });
var pipeline = new Metadata { { "Authorization", $"Bearer {tokens.CreateToken("bench", ["pipeline"])}" } };
var client = new TrackingService.TrackingServiceClient(channel);
var experiment = (await client.CreateExperimentAsync(new CreateExperimentRequest { Name = "bench" }, pipeline)).ExperimentId;

var clock = Stopwatch.StartNew();

// ------------------------------------------------------------------ 1. metric ingestion
if (sections.Contains("ingest"))
{
    const int writers = 8;
    const int batchesPerWriter = 100;
    const int batchSize = 1000;
    const int total = writers * batchesPerWriter * batchSize;
    async Task<string[]> StartRunsAsync() => await Task.WhenAll(Enumerable.Range(0, writers).Select(async _ =>
        (await client.StartRunAsync(new StartRunRequest { ExperimentId = experiment }, pipeline)).RunId));
    static List<Metric> Batch(int writer, int batch) =>
        Enumerable.Range(batch * batchSize, batchSize).Select(step => new Metric
        {
            Key = $"m{step % 10}",
            Value = Math.Sin(step + writer),
            Step = step,
            Timestamp = 1_700_000_000_000 + step,
        }).ToList();

    // Warm-up: connections, JIT and prepared statements on both sides.
    var warm = await StartRunsAsync();
    await Task.WhenAll(warm.Select((run, w) => client.LogBatchAsync(new LogBatchRequest { RunId = run, Metrics = { Batch(w, 0) } }, pipeline).ResponseAsync));

    // One writer alone: the latency of a batch without queueing behind the others.
    var alone = new List<double>();
    var aloneCopy = new List<double>();
    var aloneRun = (await client.StartRunAsync(new StartRunRequest { ExperimentId = experiment }, pipeline)).RunId;
    await using (var connection = new NpgsqlConnection(database))
    {
        await connection.OpenAsync();
        for (var b = 0; b < 50; b++)
        {
            var request = new LogBatchRequest { RunId = aloneRun, Metrics = { Batch(0, b) } };
            var started = Stopwatch.GetTimestamp();
            await client.LogBatchAsync(request, pipeline);
            alone.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            started = Stopwatch.GetTimestamp();
            await CopyAsync(connection, Guid.Parse(aloneRun), Batch(0, b + 1000));
            aloneCopy.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    var runs = await StartRunsAsync();
    var latencies = new List<double>[writers];
    clock.Restart();
    await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
    {
        latencies[w] = [];
        for (var b = 0; b < batchesPerWriter; b++)
        {
            var request = new LogBatchRequest { RunId = runs[w], Metrics = { Batch(w, b) } };
            var started = Stopwatch.GetTimestamp();
            await client.LogBatchAsync(request, pipeline);
            latencies[w].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    })));
    var logBatchRate = total / clock.Elapsed.TotalSeconds;
    var batchLatencies = latencies.SelectMany(l => l).ToList();

    var streamRuns = await StartRunsAsync();
    clock.Restart();
    await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
    {
        using var call = client.LogMetrics(pipeline);
        for (var b = 0; b < batchesPerWriter; b++)
        {
            await call.RequestStream.WriteAsync(new LogMetricsRequest { RunId = streamRuns[w], Metrics = { Batch(w, b) } });
        }

        await call.RequestStream.CompleteAsync();
        var response = await call.ResponseAsync;
        if (response.AcceptedMetrics != batchesPerWriter * batchSize)
        {
            throw new InvalidOperationException($"accepted {response.AcceptedMetrics}");
        }
    })));
    var streamRate = total / clock.Elapsed.TotalSeconds;

    // The ceiling: the same rows by binary COPY, one COPY (one transaction) per 1000-row batch, 8 connections.
    var copyRuns = (await StartRunsAsync()).Select(Guid.Parse).ToArray();
    var copyLatencies = new List<double>[writers];
    clock.Restart();
    await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
    {
        copyLatencies[w] = [];
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        for (var b = 0; b < batchesPerWriter; b++)
        {
            var rows = Batch(w, b);
            var started = Stopwatch.GetTimestamp();
            await CopyAsync(connection, copyRuns[w], rows);
            copyLatencies[w].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    })));
    var copyRate = total / clock.Elapsed.TotalSeconds;
    var copyBatchLatencies = copyLatencies.SelectMany(l => l).ToList();

    Console.WriteLine($"\n1. metric ingestion: {writers} writers x {batchesPerWriter} batches x {batchSize} metrics, separate client process");
    Report("one writer alone: LogBatch latency p50 ms", Percentile(alone, 50));
    Report("one writer alone: LogBatch latency p99 ms", Percentile(alone, 99));
    Report("one writer alone: COPY of 1000 rows p50 ms", Percentile(aloneCopy, 50));
    Report("one writer alone: COPY of 1000 rows p99 ms", Percentile(aloneCopy, 99));
    Report("LogBatch (unary, each batch acknowledged) metrics/s", logBatchRate);
    Report("  batch latency p50 ms", Percentile(batchLatencies, 50));
    Report("  batch latency p99 ms", Percentile(batchLatencies, 99));
    Report("LogMetrics (client streams) metrics/s", streamRate);
    Report("ceiling: PostgreSQL COPY of the same rows, metrics/s", copyRate);
    Report("  COPY per 1000-row batch p50 ms", Percentile(copyBatchLatencies, 50));
    Report("  COPY per 1000-row batch p99 ms", Percentile(copyBatchLatencies, 99));
    Report("LogBatch / COPY", logBatchRate / copyRate);
    Report("LogMetrics / COPY", streamRate / copyRate);

}

// ------------------------------------------------------------------ 2. 1 GiB artifacts
if (sections.Contains("artifacts"))
{
    var file = Path.Combine(servers.StateDirectory, "artifact.bin");
    await using (var output = File.Create(file))
    {
        var block = new byte[8 << 20];
        for (var i = 0; i < artifactMiB / 8; i++)
        {
            RandomNumberGenerator.Fill(block);
            await output.WriteAsync(block);
        }
    }

    var bytes = new FileInfo(file).Length;
    var store = ObjectStoreConnection.Parse(artifacts);
    var minio = store.CreateClient();
    clock.Restart();
    await using (var source = File.OpenRead(file))
    {
        await minio.PutObjectAsync(new PutObjectArgs().WithBucket(store.Bucket).WithObject("raw/artifact.bin").WithStreamData(source).WithObjectSize(bytes));
    }

    var rawUpload = bytes / clock.Elapsed.TotalSeconds;
    clock.Restart();
    long rawRead = 0;
    await minio.GetObjectAsync(new GetObjectArgs().WithBucket(store.Bucket).WithObject("raw/artifact.bin").WithCallbackStream(async (stream, ct) =>
    {
        var buffer = new byte[1 << 20];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            rawRead += read;
        }
    }));
    var rawDownload = rawRead / clock.Elapsed.TotalSeconds;

    var pid = tracking.Processes[0].Id;
    var rssBefore = ProcStatus(pid, "VmRSS");
    var peakBefore = ProcStatus(pid, "VmHWM");
    await File.WriteAllTextAsync($"/proc/{pid}/clear_refs", "5"); // resets the peak (VmHWM) to the current RSS
    var sdk = new TrackingClient(channel, pipeline);
    var run = (await client.StartRunAsync(new StartRunRequest { ExperimentId = experiment }, pipeline)).RunId;
    clock.Restart();
    await using (var source = File.OpenRead(file))
    {
        await SHA256.HashDataAsync(source);
    }

    var hashing = clock.Elapsed;
    clock.Restart();
    var artifact = await sdk.UploadFileAsync(run, file, "model/artifact.bin");
    var upload = bytes / clock.Elapsed.TotalSeconds;
    var uploadWithoutHashing = bytes / (clock.Elapsed - hashing).TotalSeconds;
    clock.Restart();
    await sdk.DownloadArtifactAsync(run, "model/artifact.bin", Stream.Null);
    var download = bytes / clock.Elapsed.TotalSeconds;
    var peak = ProcStatus(pid, "VmHWM");

    Console.WriteLine($"\n2. artifact of {bytes >> 20} MiB (sha256 {artifact.Sha256[..12]}…)");
    Report("raw object store upload (Minio SDK) MiB/s", rawUpload / (1 << 20));
    Report("raw object store download (Minio SDK) MiB/s", rawDownload / (1 << 20));
    Report("service upload incl. client hashing MiB/s", upload / (1 << 20));
    Report("service upload, client hashing excluded MiB/s", uploadWithoutHashing / (1 << 20));
    Report("service download (verified both ends) MiB/s", download / (1 << 20));
    Report("upload / raw", upload / rawUpload);
    Report("download / raw", download / rawDownload);
    Report("service RSS before the transfers, MiB", rssBefore / 1024.0);
    Report("service peak RSS before (since start), MiB", peakBefore / 1024.0);
    Report("service peak RSS during the transfers, MiB", peak / 1024.0);
    File.Delete(file);

}

// ------------------------------------------------------------------ 3. search over 100k runs
if (sections.Contains("search"))
{
    const int searchRuns = 100_000;
    var searched = (await client.CreateExperimentAsync(new CreateExperimentRequest { Name = "search" }, pipeline)).ExperimentId;
    var random = new Random(42);
    clock.Restart();
    await using (var connection = new NpgsqlConnection(database))
    {
        await connection.OpenAsync();
        var ids = Enumerable.Range(0, searchRuns).Select(_ => Guid.CreateVersion7()).ToArray();
        await using (var copy = await connection.BeginBinaryImportAsync("COPY runs (run_id, experiment_id, run_name, status, author, start_time) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < searchRuns; i++)
            {
                await copy.WriteRowAsync(cancellation, ids[i], long.Parse(searched, CultureInfo.InvariantCulture), $"run-{i}", "FINISHED", "bench", 1_700_000_000_000L + i);
            }

            await copy.CompleteAsync();
        }

        await using (var copy = await connection.BeginBinaryImportAsync("COPY latest_metrics (run_id, key, step, timestamp, value) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var id in ids)
            {
                foreach (var key in new[] { "auc", "ks", "loss" })
                {
                    await copy.WriteRowAsync(cancellation, id, key, 0L, 1_700_000_000_000L, random.NextDouble());
                }
            }

            await copy.CompleteAsync();
        }

        await using (var copy = await connection.BeginBinaryImportAsync("COPY params (run_id, key, value) FROM STDIN (FORMAT BINARY)"))
        {
            var models = new[] { "gbm", "xgb", "logreg", "rf" };
            foreach (var id in ids)
            {
                await copy.WriteRowAsync(cancellation, id, "model", models[random.Next(models.Length)]);
                await copy.WriteRowAsync(cancellation, id, "depth", random.Next(2, 12).ToString(CultureInfo.InvariantCulture));
            }

            await copy.CompleteAsync();
        }

        foreach (var table in new[] { "runs", "latest_metrics", "params" })
        {
            await using var analyze = new NpgsqlCommand($"VACUUM ANALYZE {table}", connection);
            await analyze.ExecuteNonQueryAsync();
        }
    }

    Console.WriteLine($"\n3. run search over {searchRuns:N0} runs (loaded in {clock.Elapsed.TotalSeconds:F1} s), 200 queries each, page of 100");
    foreach (var (filter, order) in new[]
             {
             ("metrics.auc > 0.9 AND params.model = 'gbm'", "metrics.auc DESC"),
             ("metrics.auc > 0.5 OR metrics.ks > 0.99", "attributes.start_time DESC"),
             ("params.depth = '7' AND tags.team = 'none'", "metrics.loss"),
         })
    {
        var request = new SearchRunsRequest { ExperimentIds = { searched }, Filter = filter, OrderBy = { order }, PageSize = 100 };
        await client.SearchRunsAsync(request, pipeline);
        var times = new List<double>();
        int found = 0;
        for (var i = 0; i < 200; i++)
        {
            var started = Stopwatch.GetTimestamp();
            found = (await client.SearchRunsAsync(request, pipeline)).Runs.Count;
            times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        Console.WriteLine($"  {filter}  ORDER BY {order}  ({found} on the page)");
        Report("    p50 ms", Percentile(times, 50));
        Report("    p99 ms", Percentile(times, 99));
    }
}

if (Option("--hold-seconds") is { } hold)
{
    // Keeps the servers up to look at plans by hand: psql "<connection string>".
    Console.WriteLine($"holding {hold} s; database: {database}");
    await Task.Delay(TimeSpan.FromSeconds(int.Parse(hold, CultureInfo.InvariantCulture)));
}

string? Option(string name) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;

static async Task CopyAsync(NpgsqlConnection connection, Guid run, List<Metric> rows)
{
    await using var copy = await connection.BeginBinaryImportAsync("COPY metrics (run_id, key, step, timestamp, value) FROM STDIN (FORMAT BINARY)");
    foreach (var row in rows)
    {
        await copy.StartRowAsync();
        await copy.WriteAsync(run, NpgsqlDbType.Uuid);
        await copy.WriteAsync(row.Key, NpgsqlDbType.Text);
        await copy.WriteAsync(row.Step, NpgsqlDbType.Bigint);
        await copy.WriteAsync(row.Timestamp, NpgsqlDbType.Bigint);
        await copy.WriteAsync(row.Value, NpgsqlDbType.Double);
    }

    await copy.CompleteAsync();
}

static void Report(string what, double value) => Console.WriteLine($"  {what,-58} {value,12:N2}");

static double Percentile(List<double> values, double percentile)
{
    var sorted = values.Order().ToList();
    return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
}

// kB, from /proc/<pid>/status.
static long ProcStatus(int pid, string field) =>
    long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

// Drift report benchmark: a reference of N rows and a current window of M rows over 100 numeric and 20 categorical
// columns (defaults N = 1,000,000, M = 100,000). ModelOps builds each column's profiles from the rows and compares
// them (KS and PSI for numbers, chi-square for labels); the baseline does the same report with scipy.stats.ks_2samp,
// numpy PSI and scipy.stats.chisquare on the raw arrays (scipy_baseline.py), in the same run on the same data. Both
// generate one column at a time, untimed; peak memory is each process's own high-water mark.
// Then records of 50 features ingested into hourly windows, in process and through the service over gRPC.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Drift [-- --reference N --current M --numeric K --categorical L --ingest-records R]
extern alias service;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Bench;
using ModelOps.Drift.Client;
using Column = ModelOps.Drift.V1.Column;
using IngestRequest = ModelOps.Drift.V1.IngestRequest;
using InferenceRecord = ModelOps.Drift.V1.InferenceRecord;
using ReferenceHeader = ModelOps.Drift.V1.ReferenceHeader;
using Row = ModelOps.Drift.V1.Row;
using BatchColumn = ModelOps.Drift.V1.BatchColumn;
using RecordBatch = ModelOps.Drift.V1.RecordBatch;
using service::ModelOps.Drift.Profiles;
using service::ModelOps.Drift.Statistics;

var referenceRows = Option("--reference", 1_000_000);
var currentRows = Option("--current", 100_000);
var numericColumns = Option("--numeric", 100);
var categoricalColumns = Option("--categorical", 20);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores; {referenceRows:N0} reference rows, {currentRows:N0} current rows, {numericColumns} numeric + {categoricalColumns} categorical columns");

// The scipy baseline first, alone on the machine.
var script = Path.Combine(AppContext.BaseDirectory, "scipy_baseline.py");
var baseline = Process.Start(new ProcessStartInfo("/usr/bin/python3", [script, $"{referenceRows}", $"{currentRows}", $"{numericColumns}", $"{categoricalColumns}"])
{
    RedirectStandardOutput = true,
})!;
var baselineOutput = await baseline.StandardOutput.ReadToEndAsync();
await baseline.WaitForExitAsync();
if (baseline.ExitCode != 0)
{
    throw new InvalidOperationException("scipy_baseline.py failed: is python3-scipy installed (scripts/bootstrap.sh)?");
}

var scipy = JsonDocument.Parse(baselineOutput).RootElement;

var spent = TimeSpan.Zero;
var ks = new List<(double Statistic, double Bound)>();
var drifted = new List<string>();
// One buffer per side, refilled for each column: the rows a serving system would stream, not kept by ModelOps.
var reference = new double[referenceRows];
var current = new double[currentRows];
var referenceLabels = new int[referenceRows];
var currentLabels = new int[currentRows];
for (var column = 0; column < numericColumns; column++)
{
    Numeric(reference, column, 1000 + column, 0);
    Numeric(current, column, 5000 + column, column < 2 ? 0.05 : 0);
    var clock = Stopwatch.StartNew();
    var referenceProfile = Profile($"n{column}", reference);
    var currentProfile = Profile($"n{column}", current);
    var test = DriftAnalysis.Compare(referenceProfile, currentProfile, new ColumnRule(DriftMethod.KolmogorovSmirnov))!;
    DriftAnalysis.Compare(referenceProfile, currentProfile, new ColumnRule(DriftMethod.PopulationStabilityIndex));
    spent += clock.Elapsed;
    ks.Add((test.Statistic, test.StatisticBound));
    if (test.Drifted)
    {
        drifted.Add(test.Column);
    }
}

var names = Enumerable.Range(0, 16).Select(i => $"label-{i}").ToArray();
for (var column = 0; column < categoricalColumns; column++)
{
    Labels(referenceLabels, column, 9000 + column);
    Labels(currentLabels, column, 13000 + column);
    var clock = Stopwatch.StartNew();
    var referenceProfile = new ColumnProfile($"c{column}", ColumnKind.Categorical);
    var currentProfile = new ColumnProfile($"c{column}", ColumnKind.Categorical);
    foreach (var label in referenceLabels)
    {
        referenceProfile.AddLabel(names[label]);
    }

    foreach (var label in currentLabels)
    {
        currentProfile.AddLabel(names[label]);
    }

    DriftAnalysis.Compare(referenceProfile, currentProfile, new ColumnRule(DriftMethod.ChiSquare));
    spent += clock.Elapsed;
}

var peakKb = long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
    .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
var scipySeconds = scipy.GetProperty("seconds").GetDouble();
var scipyPeakKb = scipy.GetProperty("peak_kb").GetInt64();
var scipyKs = scipy.GetProperty("ks").EnumerateArray().Select(e => e.GetDouble()).ToList();
var worst = ks.Select((k, i) => (Gap: Math.Abs(k.Statistic - scipyKs[i]), k.Bound)).ToList();

Console.WriteLine($"  {"ModelOps (profiles from rows + report), s",-58} {spent.TotalSeconds,12:N2}");
Console.WriteLine($"  {"scipy + numpy (report on raw arrays), s",-58} {scipySeconds,12:N2}");
Console.WriteLine($"  {"speed-up (scipy time / ModelOps time)",-58} {scipySeconds / spent.TotalSeconds,12:N2}");
Console.WriteLine($"  {"ModelOps peak RSS, MiB",-58} {peakKb / 1024.0,12:N1}");
Console.WriteLine($"  {"scipy peak RSS, MiB",-58} {scipyPeakKb / 1024.0,12:N1}");
Console.WriteLine($"  {"largest |KS D (profiles) - KS D (scipy)|",-58} {worst.Max(w => w.Gap),12:E2}");
Console.WriteLine($"  {"every gap within its stated bound",-58} {worst.All(w => w.Gap <= w.Bound + 1e-12),12}");
Console.WriteLine($"  {"numeric columns flagged by KS at p <= 0.05",-58} {string.Join(",", drifted),12}");

// Ingestion: records of 50 numeric features into hourly windows, one thread, rows built beforehand (untimed).
var ingestRecords = Option("--ingest-records", 1_000_000);
var schema = Enumerable.Range(0, 50).Select(f => new ColumnSchema($"f{f}", ColumnKind.Numeric)).ToArray();
var rows = Enumerable.Range(0, 10_000).Select(r => (IReadOnlyDictionary<string, FeatureValue>)schema.ToDictionary(
    c => c.Name, c => FeatureValue.Of(Uniform((ulong)(20_000 + r), c.Name.Length * 1000 + r) * 100))).ToArray();
var accumulator = new WindowAccumulator(schema, WindowPolicy.Hourly);
var start = new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
var ingest = Stopwatch.StartNew();
for (var i = 0; i < ingestRecords; i++)
{
    accumulator.Add(start.AddMilliseconds(i * 10), rows[i % rows.Length]);
}

var closedWindows = accumulator.Close(DateTimeOffset.MaxValue).Count;
ingest.Stop();
Console.WriteLine($"ingestion into hourly windows, {ingestRecords:N0} records x 50 numeric features, one thread, in process:");
Console.WriteLine($"  {"records/s",-58} {ingestRecords / ingest.Elapsed.TotalSeconds,12:N0}");
Console.WriteLine($"  {"windows",-58} {closedWindows,12}");

// Ingestion over gRPC: the drift service as a process on real PostgreSQL, records of 50 numeric features streamed by
// this process in messages of 5000, into hourly windows; one stream, then two at once.
var rpcRecords = Option("--rpc-records", 400_000);
await using var servers = await BenchServers.StartAsync();
var (drift, _) = await servers.ServiceAsync("drift", new ServiceProjects.ModelOps_Drift(), await servers.ObjectStore.CreateBucketAsync("drift-bench", CancellationToken.None));
await drift.StartAsync(CancellationToken.None);
using var channel = GrpcChannel.ForAddress(drift.GrpcAddress);
var token = servers.Tokens.CreateToken("bench", ["pipeline"]);
var client = new DriftClient(channel.Intercept(metadata =>
{
    metadata.Add("Authorization", $"Bearer {token}");
    return metadata;
}));
var header = new ReferenceHeader { Model = "bench", Version = "1", Window = new ModelOps.Drift.V1.WindowPolicy { Seconds = 3600, AllowedLatenessSeconds = 600 } };
header.Columns.AddRange(schema.Select(c => new Column { Name = c.Name, Kind = ModelOps.Drift.V1.ColumnKind.Numeric }));
var messageRows = rows.Take(5000).Select(r => new Row { Values = { r.ToDictionary(v => v.Key, v => Value.ForNumber(v.Value.Number!.Value)) } }).ToList();
await client.SetReferenceAsync(header, messageRows);
var now = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
var message = new IngestRequest
{
    Records = { messageRows.Select((r, i) => new InferenceRecord { Model = "bench", Version = "1", Timestamp = now, RequestId = $"r{i}", Features = { r.Values } }) },
};

// The same 5000 records column by column.
var columnar = new IngestRequest { Batch = new RecordBatch { Model = "bench", Version = "1", Timestamps = { messageRows.Select(_ => 0L) } } };
foreach (var column in schema)
{
    columnar.Batch.Columns.Add(new BatchColumn { Name = column.Name, Numbers = { messageRows.Select(r => r.Values[column.Name].NumberValue) } });
}

async Task<long> StreamAsync(IngestRequest request, int records)
{
    using var call = client.Raw.Ingest();
    for (var sent = 0; sent < records; sent += messageRows.Count)
    {
        await call.RequestStream.WriteAsync(request);
    }

    await call.RequestStream.CompleteAsync();
    return (await call.ResponseAsync).Accepted;
}

await StreamAsync(message, 20_000); // warm-up
await StreamAsync(columnar, 20_000);
Console.WriteLine($"ingestion over gRPC into the drift service, records of 50 numeric features in messages of {messageRows.Count}:");
foreach (var (form, request) in new[] { ("records (map of values)", message), ("columnar batches", columnar) })
{
    foreach (var streams in new[] { 1, 2 })
    {
        var clock = Stopwatch.StartNew();
        var accepted = (await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => StreamAsync(request, rpcRecords / streams)))).Sum();
        Console.WriteLine($"  {$"{form}, {streams} stream(s): records/s",-58} {accepted / clock.Elapsed.TotalSeconds,12:N0}");
    }
}

// Predictions kept for labels: the same columnar batches with a request id and a score per record (a model whose
// reference names its prediction column and task), then every one of them labelled.
var labelledHeader = header.Clone();
labelledHeader.Model = "bench-labelled";
labelledHeader.Columns.Add(new Column { Name = "p", Kind = ModelOps.Drift.V1.ColumnKind.Numeric });
labelledHeader.PredictionColumn = "p";
labelledHeader.Task = ModelOps.Drift.V1.ModelTask.BinaryClassification;
await client.SetReferenceAsync(labelledHeader, messageRows.Select((r, i) => new Row { Values = { r.Values, new Dictionary<string, Value> { ["p"] = Value.ForNumber(Uniform(70, i)) } } }));
var kept = Enumerable.Range(0, rpcRecords / messageRows.Count).Select(m =>
{
    var batch = columnar.Batch.Clone();
    batch.Model = "bench-labelled";
    batch.RequestIds.Add(Enumerable.Range(0, messageRows.Count).Select(i => $"m{m}-{i}"));
    batch.Columns.Add(new BatchColumn { Name = "p", Numbers = { Enumerable.Range(0, messageRows.Count).Select(i => Uniform(71, (m * messageRows.Count) + i)) } });
    return new IngestRequest { Batch = batch };
}).ToList();
var plain = Stopwatch.StartNew();
var plainAccepted = await StreamAsync(columnar, rpcRecords);
plain.Stop();
var keeping = Stopwatch.StartNew();
long keptAccepted;
using (var call = client.Raw.Ingest())
{
    foreach (var request in kept)
    {
        await call.RequestStream.WriteAsync(request);
    }

    await call.RequestStream.CompleteAsync();
    keptAccepted = (await call.ResponseAsync).Accepted;
}

keeping.Stop();
var labelling = Stopwatch.StartNew();
long matched;
using (var call = client.Raw.IngestLabels())
{
    for (var m = 0; m < kept.Count; m++)
    {
        await call.RequestStream.WriteAsync(new ModelOps.Drift.V1.IngestLabelsRequest
        {
            Model = "bench-labelled", Version = "1",
            Labels = { Enumerable.Range(0, messageRows.Count).Select(i => new ModelOps.Drift.V1.Label { RequestId = $"m{m}-{i}", Value = Value.ForBool(Uniform(72, (m * messageRows.Count) + i) < 0.5) }) },
        });
    }

    await call.RequestStream.CompleteAsync();
    matched = (await call.ResponseAsync).Matched;
}

labelling.Stop();
Console.WriteLine($"predictions kept for labels (columnar batches with request ids and scores, one stream), and their labels:");
Console.WriteLine($"  {"columnar batches without predictions kept: records/s",-58} {plainAccepted / plain.Elapsed.TotalSeconds,12:N0}");
Console.WriteLine($"  {"columnar batches keeping every prediction: records/s",-58} {keptAccepted / keeping.Elapsed.TotalSeconds,12:N0}");
Console.WriteLine($"  {"ratio (keeping / not keeping)",-58} {plain.Elapsed.TotalSeconds / keeping.Elapsed.TotalSeconds,12:N2}");
Console.WriteLine($"  {$"labels joined ({matched:N0}, performance + 3 detectors): labels/s",-58} {matched / labelling.Elapsed.TotalSeconds,12:N0}");

// The decision log: the same batches for a model whose monitoring policy keeps every decision (its 51 values, request
// id and score), against the same batches keeping only the predictions for labels, measured in this run.
var loggedHeader = labelledHeader.Clone();
loggedHeader.Model = "bench-logged";
await client.SetReferenceAsync(loggedHeader, messageRows.Select((r, i) => new Row { Values = { r.Values, new Dictionary<string, Value> { ["p"] = Value.ForNumber(Uniform(70, i)) } } }));
await client.Raw.SetMonitoringPolicyAsync(new ModelOps.Drift.V1.SetMonitoringPolicyRequest
{
    Policy = new ModelOps.Drift.V1.MonitoringPolicy { Model = "bench-logged", DecisionLog = new ModelOps.Drift.V1.DecisionLog { RetentionDays = 30 } }, Reason = "bench",
});
async Task<(long Accepted, TimeSpan Elapsed)> StreamBatchesAsync(string model, string suffix)
{
    var clock = Stopwatch.StartNew();
    using var call = client.Raw.Ingest();
    foreach (var request in kept)
    {
        var batch = request.Batch.Clone();
        batch.Model = model;
        for (var i = 0; i < batch.RequestIds.Count; i++)
        {
            batch.RequestIds[i] += suffix;
        }

        await call.RequestStream.WriteAsync(new IngestRequest { Batch = batch });
    }

    await call.RequestStream.CompleteAsync();
    var accepted = (await call.ResponseAsync).Accepted;
    return (accepted, clock.Elapsed);
}

var keptAgain = await StreamBatchesAsync("bench-labelled", "-again");
var logged = await StreamBatchesAsync("bench-logged", "");
Console.WriteLine("the decision log (the same columnar batches with request ids and scores, one stream):");
Console.WriteLine($"  {"keeping predictions for labels: records/s",-58} {keptAgain.Accepted / keptAgain.Elapsed.TotalSeconds,12:N0}");
Console.WriteLine($"  {"keeping them and logging every decision: records/s",-58} {logged.Accepted / logged.Elapsed.TotalSeconds,12:N0}");
Console.WriteLine($"  {"ratio (logging / not logging)",-58} {keptAgain.Elapsed.TotalSeconds / logged.Elapsed.TotalSeconds,12:N2}");

int Option(string name, int fallback) =>
    Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;

static ColumnProfile Profile(string name, double[] values)
{
    var profile = new ColumnProfile(name, ColumnKind.Numeric);
    foreach (var value in values)
    {
        profile.AddNumber(value);
    }

    return profile;
}

// splitmix64 of (seed << 32) + row: every row independent, so numpy generates the same values vectorized.
static double Uniform(ulong seed, int row)
{
    var z = (seed << 32) + (ulong)row + 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    z ^= z >> 31;
    return (z >> 11) * (1.0 / (1UL << 53));
}

static void Numeric(double[] values, int column, int seed, double shift)
{
    for (var i = 0; i < values.Length; i++)
    {
        values[i] = (Uniform((ulong)seed, i) * (1 + (column % 5))) + (column % 7) + shift;
    }
}

static void Labels(int[] labels, int column, int seed)
{
    for (var i = 0; i < labels.Length; i++)
    {
        labels[i] = (int)Math.Floor(Math.Pow(Uniform((ulong)seed, i), 1.5) * (3 + (column % 10)));
    }
}

// Ledger benchmarks: durable appends per second fed by gRPC and by RabbitMQ, the time from an event's publication
// to a signed checkpoint covering it, and proof latency at 1M leaves. PostgreSQL runs with fsync on, as in
// production. Run: dotnet run -c Release --project bench/ModelOps.Bench.Ledger [-- --proof-leaves N]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using MassTransit;
using ModelOps.Hosting.Local;
using ModelOps.Bench.Ledger;
using ModelOps.Ledger.V1;
using ModelOps.Ledger.Verification;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

var proofLeaves = args.Length == 2 && args[0] == "--proof-leaves" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
await using var servers = await LocalServers.StartAsync("https://issuer.bench.modelops", durable: true);
var postgres = servers.Postgres;
var rabbit = servers.RabbitMq;
var tokens = servers.Tokens;
var cancellation = CancellationToken.None;

Console.WriteLine($"machine: {Environment.ProcessorCount} cores; PostgreSQL fsync on");
// --- Appends fed by gRPC and by RabbitMQ, and event-to-checkpoint latency, on one ledger.
var (ledger, database, broker) = await StartLedgerAsync("feeds");
using var channel = GrpcChannel.ForAddress(ledger.GrpcAddress);
var client = new LedgerService.LedgerServiceClient(channel);
var service = new Metadata { { "Authorization", $"Bearer {tokens.CreateToken("bench", ["service"])}" } };

const int grpcAppends = 10_000;
const int callers = 64;
var next = 0;
var clock = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
{
    while (Interlocked.Increment(ref next) <= grpcAppends)
    {
        await client.AppendAsync(new AppendRequest { EventType = "external.BenchAppended", PayloadJson = """{"source":"grpc"}""" }, service);
    }
})));
Report("grpc appends/s (64 callers, each waits for its index)", grpcAppends / clock.Elapsed.TotalSeconds);

var address = BrokerAddress.Parse(broker);
var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(address.Host, address.Port, address.VirtualHost, host =>
{
    host.Username(address.Username);
    host.Password(address.Password);
}));
await bus.StartAsync(cancellation);

const int busEvents = 20_000;
var before = await TreeSizeAsync(database);
clock.Restart();
foreach (var chunk in Enumerable.Range(0, busEvents).Chunk(500))
{
    await Task.WhenAll(chunk.Select(i => bus.Publish(new BenchEvidenceRecorded { Actor = "bench", Sequence = i }, cancellation)));
}

var published = clock.Elapsed;
while (await TreeSizeAsync(database) < before + busEvents)
{
    await Task.Delay(10, cancellation);
}

Report("bus publish rate, events/s (for reference)", busEvents / published.TotalSeconds);
Report("bus-fed durable appends/s (publish start to all sequenced)", busEvents / clock.Elapsed.TotalSeconds);

// Latency: one event every 10 ms; each is covered when the first checkpoint whose size exceeds its index is seen.
var sent = new Dictionary<Guid, TimeSpan>();
var checkpoints = new List<(TimeSpan At, long Size)>();
var watch = Stopwatch.StartNew();
using var stopPolling = new CancellationTokenSource();
var auditor = new Metadata { { "Authorization", $"Bearer {tokens.CreateToken("bench", ["auditor"])}" } };
var polling = Task.Run(async () =>
{
    while (!stopPolling.IsCancellationRequested)
    {
        var checkpoint = await client.GetCheckpointAsync(new GetCheckpointRequest(), auditor);
        if (checkpoints.Count == 0 || checkpoints[^1].Size != checkpoint.TreeSize)
        {
            checkpoints.Add((watch.Elapsed, checkpoint.TreeSize));
        }

        await Task.Delay(2);
    }
});
for (var i = 0; i < 1000; i++)
{
    var e = new BenchEvidenceRecorded { Actor = "bench", Sequence = i };
    sent[e.EventId] = watch.Elapsed;
    await bus.Publish(e, cancellation);
    await Task.Delay(10, cancellation);
}

await Task.Delay(TimeSpan.FromSeconds(2), cancellation);
await stopPolling.CancelAsync();
await polling;
var latencies = new List<double>();
foreach (var (eventId, at) in sent)
{
    var entry = await client.GetEntryByEventIdAsync(new GetEntryByEventIdRequest { EventId = eventId.ToString() }, auditor);
    var covered = checkpoints.First(c => c.Size > entry.Index).At;
    latencies.Add((covered - at).TotalMilliseconds);
}

Report("event published -> covered by a signed checkpoint, p50 ms", Percentile(latencies, 0.50));
Report("event published -> covered by a signed checkpoint, p99 ms", Percentile(latencies, 0.99));
await bus.StopAsync(cancellation);
await ledger.StopAsync();

// --- Proof latency at proofLeaves leaves, loaded straight into the tables (the same rows the sequencer writes).
var (proofLedger, proofDatabase, _) = await StartLedgerAsync("proofs");
await proofLedger.StopAsync();
clock.Restart();
await BulkLoadAsync(proofDatabase, proofLeaves);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loaded {proofLeaves} leaves in {clock.Elapsed.TotalSeconds:0.0} s"));
await proofLedger.StartAsync(cancellation);
using var proofChannel = GrpcChannel.ForAddress(proofLedger.GrpcAddress);
var proofs = new LedgerService.LedgerServiceClient(proofChannel);
var random = new Random(7);
var inclusion = new List<double>();
var consistency = new List<double>();
var floor = new List<double>();
for (var i = 0; i < 5500; i++)
{
    var started = Stopwatch.GetTimestamp();
    await proofs.GetInclusionProofAsync(new GetInclusionProofRequest { Index = random.NextInt64(proofLeaves), TreeSize = proofLeaves }, auditor);
    var inclusionMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    started = Stopwatch.GetTimestamp();
    await proofs.GetConsistencyProofAsync(new GetConsistencyProofRequest { OldSize = random.NextInt64(1, proofLeaves), NewSize = proofLeaves }, auditor);
    var consistencyMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    // The floor, interleaved so that it meets the same noise: an authenticated call that touches no database.
    started = Stopwatch.GetTimestamp();
    await proofs.GetVerifierKeyAsync(new GetVerifierKeyRequest(), auditor);
    var floorMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    if (i >= 500) // the first calls warm up connections, JIT and caches
    {
        inclusion.Add(inclusionMs);
        consistency.Add(consistencyMs);
        floor.Add(floorMs);
    }
}

Report($"inclusion proof at {proofLeaves} leaves, p50 ms", Percentile(inclusion, 0.50));
Report($"inclusion proof at {proofLeaves} leaves, p99 ms", Percentile(inclusion, 0.99));
Report($"consistency proof at {proofLeaves} leaves, p50 ms", Percentile(consistency, 0.50));
Report($"consistency proof at {proofLeaves} leaves, p99 ms", Percentile(consistency, 0.99));
Report("floor: GetVerifierKey (gRPC + auth, no database), p50 ms", Percentile(floor, 0.50));
Report("floor: GetVerifierKey (gRPC + auth, no database), p99 ms", Percentile(floor, 0.99));

async Task<(ServiceProcess Ledger, string Database, string Broker)> StartLedgerAsync(string name)
{
    var tenant = await servers.CreateTenantAsync($"ledger_{name}", cancellation);
    var (database, broker) = (tenant.DatabaseConnectionString, tenant.BrokerConnectionString);
    var ledger = servers.Service("ledger", new ServiceProjects.ModelOps_Ledger(), tenant)
        .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
        .WithEnvironment("Ledger__Origin", "bench.modelops/ledger")
        .WithEnvironment("Ledger__SigningKeyPath", Path.Combine(servers.StateDirectory, $"{name}.key"))
        .WithEnvironment("Logging__LogLevel__Default", "Warning");
    await ledger.StartAsync(cancellation);
    return (ledger, database, broker);
}

static async Task<long> TreeSizeAsync(string database)
{
    await using var connection = new NpgsqlConnection(database);
    await connection.OpenAsync();
    await using var command = new NpgsqlCommand("SELECT size FROM ledger_tree WHERE id = 1", connection);
    return (long)(await command.ExecuteScalarAsync())!;
}

static async Task BulkLoadAsync(string database, int leaves)
{
    await using var connection = new NpgsqlConnection(database);
    await connection.OpenAsync();
    var tree = new CompactRange();
    await using (var entries = await connection.BeginBinaryImportAsync(
        "COPY ledger_entries (event_id, idx, event_type, actor, occurred_at, data, leaf_hash, sequenced_at) FROM STDIN (FORMAT BINARY)"))
    await using (var nodes = await new NpgsqlConnection(database).OpenAndImportAsync(
        "COPY ledger_nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)"))
    {
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < leaves; i++)
        {
            var id = Guid.CreateVersion7();
            var data = Encoding.UTF8.GetBytes($$$"""{"actor":"bench","eventId":"{{{id}}}","eventType":"bench.Loaded","occurredAt":"2026-11-23T00:00:00.0000000Z","payload":{"i":{{{i}}}},"subjects":{}}""");
            var leaf = MerkleTree.LeafHash(data);
            await entries.StartRowAsync();
            await entries.WriteAsync(id, NpgsqlDbType.Uuid);
            await entries.WriteAsync((long)i, NpgsqlDbType.Bigint);
            await entries.WriteAsync("bench.Loaded", NpgsqlDbType.Text);
            await entries.WriteAsync("bench", NpgsqlDbType.Text);
            await entries.WriteAsync(now, NpgsqlDbType.TimestampTz);
            await entries.WriteAsync(data, NpgsqlDbType.Bytea);
            await entries.WriteAsync(leaf, NpgsqlDbType.Bytea);
            await entries.WriteAsync(now, NpgsqlDbType.TimestampTz);
            foreach (var (node, hash) in tree.Append(leaf))
            {
                await nodes.StartRowAsync();
                await nodes.WriteAsync((short)node.Level, NpgsqlDbType.Smallint);
                await nodes.WriteAsync(node.Index, NpgsqlDbType.Bigint);
                await nodes.WriteAsync(hash, NpgsqlDbType.Bytea);
            }
        }

        await entries.CompleteAsync();
        await nodes.CompleteAsync();
    }

    await using var head = new NpgsqlCommand("UPDATE ledger_tree SET size = $1, root = $2 WHERE id = 1", connection);
    head.Parameters.Add(new NpgsqlParameter { Value = (long)leaves });
    head.Parameters.Add(new NpgsqlParameter { Value = tree.Root() });
    await head.ExecuteNonQueryAsync();
    // A log that grew to a million leaves has been vacuumed and checkpointed many times over; one freshly loaded has
    // not, and measuring against autovacuum and the checkpointer flushing the load would time the load, not the proofs.
    foreach (var maintenance in new[] { "VACUUM (ANALYZE)", "CHECKPOINT" })
    {
        await using var command = new NpgsqlCommand(maintenance, connection);
        await command.ExecuteNonQueryAsync();
    }
}

static double Percentile(List<double> values, double p)
{
    var sorted = values.Order().ToList();
    return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}

static void Report(string what, double value) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: {value:0.00}"));

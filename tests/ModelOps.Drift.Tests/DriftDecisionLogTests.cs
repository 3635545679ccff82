using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.Hosting.Local;
using ModelOps.Testing;
using Npgsql;

using static ModelOps.Drift.Tests.DriftTraffic;

namespace ModelOps.Drift.Tests;

/// <summary>
/// A model's decision log, through the drift service as a real process: what a policy keeps of each record with a
/// request id, as records and as columnar batches, the first of a replayed id, one per version that scored it, paged
/// newest first, readable by services, admins and auditors only, and gone once expired.
/// </summary>
public sealed class DriftDecisionLogTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private ServiceProcess _service = null!;
    private LocalTenant _environment = null!;
    private GrpcChannel _channel = null!;
    private DriftClient _pipeline = null!;
    private DriftClient _serving = null!;
    private DriftClient _auditor = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (_service, _environment, _channel) = await StartServiceAsync(infrastructure, nameof(DriftDecisionLogTests), Cancellation);
        _pipeline = new DriftClient(Invoker(_channel, _environment.Tokens, "trainer", "pipeline"));
        _serving = new DriftClient(Invoker(_channel, _environment.Tokens, "service:serving", "service"));
        _auditor = new DriftClient(Invoker(_channel, _environment.Tokens, "dpo", "auditor"));
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _service.StopAsync();
    }

    [Fact(Timeout = 180_000)]
    public async Task APolicysDecisionLogKeepsEachDecisionWithItsValuesUntilItExpires()
    {
        var model = $"loans-{Guid.NewGuid():N}"[..14];
        await SetReferenceAsync(model, "1");
        var traffic = new LoanTraffic(41);
        var before = Record(model, "1", "before", traffic.Features(false), 0.2);
        await _serving.IngestAsync([before], Cancellation);

        // A retention past ten years is refused; nothing is logged before a policy asks for it.
        var refused = await Assert.ThrowsAsync<RpcException>(() => SetLogAsync(model, 3651));
        Assert.Equal("policy.decision_log.retention_days", Violations(refused).Single().Field);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => GetAsync(_auditor, model, "before"))).StatusCode);
        Assert.Equal(30, (await SetLogAsync(model, 30)).DecisionLog.RetentionDays);

        // 300 records one by one, 200 in a columnar batch, one without a request id, and d0 sent again with other values.
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        var sent = new Dictionary<string, (Dictionary<string, Value> Features, double Score, DateTimeOffset At)>(StringComparer.Ordinal);
        var records = new List<InferenceRecord>();
        for (var i = 0; i < 300; i++)
        {
            var features = traffic.Features(false);
            var at = start.AddMilliseconds(i);
            sent[$"d{i}"] = (features, Risk(features), at);
            records.Add(Record(model, "1", $"d{i}", features, Risk(features), at));
        }

        records.Add(Record(model, "1", "", traffic.Features(false), 0.9));
        await _serving.IngestAsync(records, Cancellation);
        var replay = traffic.Features(false);
        await _serving.IngestAsync([Record(model, "1", "d0", replay, 0.99)], Cancellation);

        var batchFeatures = Enumerable.Range(0, 200).Select(_ => traffic.Features(false)).ToList();
        var batch = Batch(model, batchFeatures);
        batch.Timestamps.Clear();
        batch.Timestamps.Add(Enumerable.Range(0, 200).Select(i => start.AddSeconds(1).AddMilliseconds(i).ToUnixTimeMilliseconds()));
        batch.RequestIds.Add(Enumerable.Range(0, 200).Select(i => $"b{i}"));
        batch.Columns.Add(new BatchColumn { Name = "score", Numbers = { batchFeatures.Select(Risk) } });
        for (var i = 0; i < 200; i++)
        {
            sent[$"b{i}"] = (batchFeatures[i], Risk(batchFeatures[i]), DateTimeOffset.FromUnixTimeMilliseconds(batch.Timestamps[i]));
        }

        await IngestBatchAsync(batch);

        // Each logged decision holds the values it was sent with, its labels, its prediction and the reference's decision.
        foreach (var id in new[] { "d0", "d7", "d299", "b0", "b123" })
        {
            var decision = (await GetAsync(_auditor, model, id)).Decisions_.Single();
            var (features, score, at) = sent[id];
            Assert.Equal(("1", id, at.ToUnixTimeMilliseconds()), (decision.Version, decision.RequestId, decision.DecidedAt.ToDateTimeOffset().ToUnixTimeMilliseconds()));
            Assert.Equal(["income", "age", "debt", "tenure", "owner", "score"], decision.Columns);
            Assert.Equal(
                [features["income"].NumberValue, features["age"].NumberValue, features["debt"].NumberValue, features["tenure"].NumberValue,
                 features["owner"].BoolValue ? 1 : 0, score],
                decision.Values);
            Assert.Equal(["region"], decision.LabelColumns);
            Assert.Equal([features["region"].StringValue], decision.Labels);
            Assert.Equal((score, 0.5, score >= 0.5), (decision.Prediction, decision.Threshold, decision.Decision_));
            Assert.Equal(at.AddDays(30).ToUnixTimeMilliseconds(), decision.ExpiresAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
        }

        // A shadow version scoring the same request is logged beside it.
        await SetReferenceAsync(model, "2");
        await _serving.IngestAsync([Record(model, "2", "d7", sent["d7"].Features, 0.42, start.AddSeconds(2))], Cancellation);
        Assert.Equal([("1", sent["d7"].Score), ("2", 0.42)], (await GetAsync(_serving, model, "d7")).Decisions_.Select(d => (d.Version, d.Prediction)));

        // Records too late for their minute's window are counted as late, not profiled; their decisions are logged all the same.
        await SetReferenceAsync(model, "3", new WindowPolicy { Seconds = 60 });
        var yesterday = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeMilliseconds());
        var lateRecord = await _serving.IngestAsync([Record(model, "3", "late-1", traffic.Features(false), 0.6, yesterday)], Cancellation);
        Assert.Equal((0L, 1L), (lateRecord.Accepted, lateRecord.Late));
        var lateFeatures = traffic.Features(false);
        var lateBatch = Batch(model, [lateFeatures]);
        lateBatch.Version = "3";
        lateBatch.Timestamps[0] = yesterday.ToUnixTimeMilliseconds();
        lateBatch.RequestIds.Add("late-2");
        lateBatch.Columns.Add(new BatchColumn { Name = "score", Numbers = { 0.3 } });
        using (var call = _serving.Raw.Ingest(cancellationToken: Cancellation))
        {
            await call.RequestStream.WriteAsync(new IngestRequest { Batch = lateBatch }, Cancellation);
            await call.RequestStream.CompleteAsync();
            Assert.Equal((0L, 1L), ((await call.ResponseAsync).Accepted, (await call.ResponseAsync).Late));
        }

        var late = (await GetAsync(_auditor, model, "late-1")).Decisions_.Single();
        Assert.Equal(("3", 0.6, true, yesterday), (late.Version, late.Prediction, late.Decision_, late.DecidedAt.ToDateTimeOffset()));
        var lateFromBatch = (await GetAsync(_auditor, model, "late-2")).Decisions_.Single();
        Assert.Equal(("3", 0.3, false, lateFeatures["income"].NumberValue), (lateFromBatch.Version, lateFromBatch.Prediction, lateFromBatch.Decision_, lateFromBatch.Values[0]));

        // Version 1's 500 decisions, newest first, over pages of 150.
        var listed = new List<Decision>();
        var token = "";
        do
        {
            var page = await _auditor.Raw.ListDecisionsAsync(new ListDecisionsRequest { Model = model, Version = "1", PageSize = 150, PageToken = token }, cancellationToken: Cancellation);
            listed.AddRange(page.Decisions_);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        Assert.Equal(sent.Keys.Order(StringComparer.Ordinal), listed.Select(d => d.RequestId).Order(StringComparer.Ordinal));
        Assert.Equal(sent.OrderByDescending(s => s.Value.At).Select(s => s.Key), listed.Select(d => d.RequestId));

        // The log holds production values: a pipeline cannot read it; a bad request id is named.
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => GetAsync(_pipeline, model, "d7"))).StatusCode);
        var bad = await Assert.ThrowsAsync<RpcException>(() => GetAsync(_auditor, model, new string('x', 201)));
        Assert.Equal("request_id", Violations(bad).Single().Field);

        // A decision past its retention is not shown, and the reporter's sweep deletes it.
        await SetLogAsync(model, 1);
        await _serving.IngestAsync([Record(model, "1", "old", traffic.Features(false), 0.7, DateTimeOffset.UtcNow.AddDays(-2))], Cancellation);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => GetAsync(_auditor, model, "old"))).StatusCode);
        Assert.True(await Eventually.HoldsAsync(async () => await CountAsync(model, "old") == 0, TimeSpan.FromSeconds(30)));
        Assert.Equal(2, await CountAsync(model, "d7"));
    }

    private static InferenceRecord Record(string model, string version, string requestId, Dictionary<string, Value> features, double score, DateTimeOffset? at = null) => new()
    {
        Model = model, Version = version, RequestId = requestId, Features = { features }, Prediction = Value.ForNumber(score),
        Timestamp = Timestamp.FromDateTimeOffset(at ?? DateTimeOffset.UtcNow),
    };

    private Task<Reference> SetReferenceAsync(string model, string version, WindowPolicy? window = null)
    {
        var header = Header(model, window ?? new WindowPolicy { Records = 10_000 }, version);
        header.Columns.Add(new Column { Name = "score", Kind = ColumnKind.Numeric });
        header.PredictionColumn = "score";
        header.Task = ModelTask.BinaryClassification;
        var training = new LoanTraffic(40);
        return _pipeline.SetReferenceAsync(header, Enumerable.Range(0, 1000).Select(_ =>
        {
            var features = training.Features(shifted: false);
            features["score"] = Value.ForNumber(Risk(features));
            return new Row { Values = { features } };
        }), Cancellation);
    }

    private async Task<MonitoringPolicy> SetLogAsync(string model, int days) =>
        await _pipeline.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest
        {
            Policy = new MonitoringPolicy { Model = model, DecisionLog = new DecisionLog { RetentionDays = days } }, Reason = "answer for each decision",
        }, cancellationToken: Cancellation);

    private static async Task<Decisions> GetAsync(DriftClient client, string model, string requestId) =>
        await client.Raw.GetDecisionAsync(new GetDecisionRequest { Model = model, RequestId = requestId }, cancellationToken: Cancellation);

    private async Task IngestBatchAsync(RecordBatch batch)
    {
        using var call = _serving.Raw.Ingest(cancellationToken: Cancellation);
        await call.RequestStream.WriteAsync(new IngestRequest { Batch = batch }, Cancellation);
        await call.RequestStream.CompleteAsync();
        Assert.Equal(batch.Timestamps.Count, (await call.ResponseAsync).Accepted);
    }

    private async Task<long> CountAsync(string model, string requestId)
    {
        await using var connection = new NpgsqlConnection(_environment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM decisions WHERE model = $1 AND request_id = $2", connection)
        {
            Parameters = { new NpgsqlParameter { Value = model }, new NpgsqlParameter { Value = requestId } },
        };
        return (long)(await command.ExecuteScalarAsync(Cancellation))!;
    }
}

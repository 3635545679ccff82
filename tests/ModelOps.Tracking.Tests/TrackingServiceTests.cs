using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Testing;
using ModelOps.Tracking.V1;
using Npgsql;

namespace ModelOps.Tracking.Tests;

/// <summary>The tracking service over gRPC against real PostgreSQL, RabbitMQ and object store.</summary>
public sealed class TrackingServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private TrackingProcess _tracking = null!;
    private Metadata _pipeline = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _tracking = await TrackingProcess.StartAsync(infrastructure, nameof(TrackingServiceTests));
        _pipeline = _tracking.As("pipeline-7", "pipeline");
    }

    public ValueTask DisposeAsync() => _tracking.DisposeAsync();

    private TrackingService.TrackingServiceClient Client => _tracking.Client;

    [Fact]
    public async Task ARunLogsReadsBackAndIsSealedWhenItEnds()
    {
        var experiment = await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"credit-{Guid.NewGuid():N}", Tags = { ["team"] = "risk" } }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(experiment, await Client.GetExperimentAsync(new GetExperimentRequest { Name = experiment.Name }, _pipeline, cancellationToken: Cancellation));

        var run = await Client.StartRunAsync(new StartRunRequest
        {
            ExperimentId = experiment.ExperimentId,
            RunName = "gbm-1",
            Provenance = new Provenance { GitSha = "0123abcd", Seeds = { ["numpy"] = 7 }, EntryPoint = "python train.py" },
        }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(RunStatus.Running, run.Status);
        Assert.Equal("pipeline-7", run.Author);
        Assert.Matches("^[0-9a-f]{32}$", run.RunId);

        var batch = new LogBatchRequest
        {
            RunId = run.RunId,
            Params = { new Param { Key = "lr", Value = "0.1" }, new Param { Key = "depth", Value = "6" } },
            Tags = { new RunTag { Key = "stage", Value = "dev" } },
            Inputs = { new DatasetInput { DatasetId = "loans", Hash = "sha256:ab", SnapshotAt = Timestamp.FromDateTime(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)), Context = "training" } },
        };
        batch.Metrics.Add(Enumerable.Range(0, 1000).Select(i => new Metric { Key = "loss", Value = 1.0 / (i + 1), Step = i, Timestamp = 1_700_000_000_000 + i }));
        await Client.LogBatchAsync(batch, _pipeline, cancellationToken: Cancellation);
        // Re-logging a param with the same value is accepted; NaN is a value like any other.
        await Client.LogBatchAsync(new LogBatchRequest
        {
            RunId = run.RunId,
            Params = { new Param { Key = "lr", Value = "0.1" } },
            Metrics = { new Metric { Key = "auc", Value = double.NaN, Step = 0, Timestamp = 1 }, new Metric { Key = "auc", Value = 0.81, Step = 1, Timestamp = 2 } },
        }, _pipeline, cancellationToken: Cancellation);

        var read = await Client.GetRunAsync(new GetRunRequest { RunId = run.RunId }, _tracking.As("auditor", "auditor"), cancellationToken: Cancellation);
        Assert.Equal("0.1", read.Params["lr"]);
        Assert.Equal("dev", read.Tags["stage"]);
        Assert.Equal(0.81, read.LatestMetrics.Single(m => m.Key == "auc").Value);
        Assert.Equal(1.0 / 1000, read.LatestMetrics.Single(m => m.Key == "loss").Value);
        Assert.Equal("loans", read.Inputs.Single().DatasetId);

        var history = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = run.RunId, MetricKey = "loss" }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(1000, history.TotalPoints);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => 1.0 / (i + 1)), history.Metrics.Select(m => m.Value));
        var chart = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = run.RunId, MetricKey = "loss", MaxPoints = 100 }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(100, chart.Metrics.Count);
        Assert.Equal([0L, 999L], new[] { chart.Metrics[0].Step, chart.Metrics[^1].Step });
        var window = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = run.RunId, MetricKey = "loss", MinStep = 10, MaxStep = 19 }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(Enumerable.Range(10, 10).Select(i => (long)i), window.Metrics.Select(m => m.Step));

        var ended = await Client.EndRunAsync(new EndRunRequest { RunId = run.RunId, Status = RunStatus.Finished }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(RunStatus.Finished, ended.Status);
        Assert.Matches("^[0-9a-f]{64}$", ended.RecordSha256);

        // An ended run accepts nothing new.
        var late = await Assert.ThrowsAsync<RpcException>(() => Client.LogBatchAsync(
            new LogBatchRequest { RunId = run.RunId, Metrics = { new Metric { Key = "loss", Value = 0, Step = 1000 } } }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, late.StatusCode);
        var again = await Assert.ThrowsAsync<RpcException>(() => Client.EndRunAsync(new EndRunRequest { RunId = run.RunId, Status = RunStatus.Failed }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, again.StatusCode);

        var bundle = await Client.GetReproBundleAsync(new GetReproBundleRequest { RunId = run.RunId }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal("python train.py --depth=6 --lr=0.1 --seed.numpy=7", bundle.Command);
        Assert.Equal(["loans@2026-01-01T00:00:00.000Z"], bundle.Datasets);
        Assert.Equal(["container_digest"], bundle.Missing);

        // The outbox holds RunStarted and RunFinished carrying the same hash.
        await using var connection = new NpgsqlConnection(_tracking.Environment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var events = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE payload::text LIKE '%' || $1 || '%'", connection);
        events.Parameters.Add(new NpgsqlParameter { Value = ended.RecordSha256 });
        Assert.Equal(1L, await events.ExecuteScalarAsync(Cancellation));
    }

    [Fact]
    public async Task ProvenanceListsMissingMandatoryFieldsAndIsWriteOnce()
    {
        var run = await StartAsync();
        var report = await Client.GetProvenanceAsync(new GetProvenanceRequest { RunId = run.RunId }, _pipeline, cancellationToken: Cancellation);
        Assert.Contains("git_sha", report.Missing);
        Assert.Contains("ended_at", report.Missing);
        Assert.DoesNotContain("started_at", report.Missing);

        report = await Client.SetProvenanceAsync(new SetProvenanceRequest { RunId = run.RunId, Provenance = new Provenance { GitSha = "abc", FeatureGroups = { "income" } } }, _pipeline, cancellationToken: Cancellation);
        Assert.DoesNotContain("git_sha", report.Missing);
        Assert.DoesNotContain("feature_groups", report.Missing);
        Assert.Equal(["git_sha", "feature_groups", "started_at"], report.Present);

        var changed = await Assert.ThrowsAsync<RpcException>(() => Client.SetProvenanceAsync(
            new SetProvenanceRequest { RunId = run.RunId, Provenance = new Provenance { GitSha = "def" } }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("provenance.git_sha", Violations(changed).Single().Field);
    }

    [Fact]
    public async Task BadBatchesAreRejectedWithTheFieldsAndWriteNothing()
    {
        var run = await StartAsync();
        await Client.LogBatchAsync(new LogBatchRequest { RunId = run.RunId, Params = { new Param { Key = "lr", Value = "0.1" } } }, _pipeline, cancellationToken: Cancellation);

        var bad = new LogBatchRequest
        {
            RunId = run.RunId,
            Metrics = { new Metric { Key = "ok", Value = 1 }, new Metric { Key = "", Value = 1 }, new Metric { Key = "loss", Value = 1, Step = -1 } },
            Params = { new Param { Key = new string('k', 251), Value = "x" }, new Param { Key = "big", Value = new string('v', 6001) } },
        };
        var error = await Assert.ThrowsAsync<RpcException>(() => Client.LogBatchAsync(bad, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(["metrics[1].key", "metrics[2].step", "params[0].key", "params[1].value"], Violations(error).Select(v => v.Field));

        var relogged = await Assert.ThrowsAsync<RpcException>(() => Client.LogBatchAsync(new LogBatchRequest
        {
            RunId = run.RunId,
            Metrics = { new Metric { Key = "written", Value = 1 } },
            Params = { new Param { Key = "lr", Value = "0.2" } },
        }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("params[0].value", Violations(relogged).Single().Field);

        var oversized = new LogBatchRequest { RunId = run.RunId };
        oversized.Metrics.Add(Enumerable.Range(0, 1001).Select(i => new Metric { Key = "m", Value = i, Step = i }));
        Assert.Equal("metrics", Violations(await Assert.ThrowsAsync<RpcException>(() => Client.LogBatchAsync(oversized, _pipeline, cancellationToken: Cancellation).ResponseAsync)).Single().Field);

        var read = await Client.GetRunAsync(new GetRunRequest { RunId = run.RunId }, _pipeline, cancellationToken: Cancellation);
        Assert.Empty(read.LatestMetrics);
        Assert.Equal("0.1", read.Params["lr"]);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => Client.GetRunAsync(new GetRunRequest { RunId = Guid.NewGuid().ToString("N") }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var reader = await Assert.ThrowsAsync<RpcException>(() => Client.LogBatchAsync(new LogBatchRequest { RunId = run.RunId }, _tracking.As("rita", "reviewer"), cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, reader.StatusCode);
    }

    [Fact]
    public async Task SearchFiltersWithOrOrdersAndPages()
    {
        var experiment = await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"search-{Guid.NewGuid():N}" }, _pipeline, cancellationToken: Cancellation);
        var aucs = new[] { 0.6, 0.7, 0.8, 0.9, double.NaN };
        var runs = new List<Run>();
        for (var i = 0; i < aucs.Length; i++)
        {
            var run = await StartAsync(experiment.ExperimentId);
            await Client.LogBatchAsync(new LogBatchRequest
            {
                RunId = run.RunId,
                Metrics = { new Metric { Key = "auc", Value = aucs[i] } },
                Params = { new Param { Key = "model", Value = i % 2 == 0 ? "gbm" : "lr" } },
            }, _pipeline, cancellationToken: Cancellation);
            runs.Add(run);
        }

        async Task<List<string>> SearchAsync(string filter, params string[] orderBy)
        {
            var request = new SearchRunsRequest { ExperimentIds = { experiment.ExperimentId }, Filter = filter, OrderBy = { orderBy }, PageSize = 2 };
            var found = new List<string>();
            do
            {
                var page = await Client.SearchRunsAsync(request, _pipeline, cancellationToken: Cancellation);
                found.AddRange(page.Runs.Select(r => r.RunId));
                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0);
            return found;
        }

        // NaN satisfies no comparison, and sorts last.
        Assert.Equal([runs[3].RunId, runs[2].RunId], await SearchAsync("metrics.auc >= 0.75", "metrics.auc DESC"));
        // Comparisons on the ordering metric move into its join: both of them, and only at the top of an AND.
        Assert.Equal([runs[2].RunId, runs[1].RunId], await SearchAsync("metrics.auc > 0.65 AND metrics.auc < 0.85", "metrics.auc DESC"));
        Assert.Equal([runs[2].RunId], await SearchAsync("metrics.auc > 0.65 AND params.model = 'gbm' AND metrics.auc != 0.9", "metrics.auc DESC"));
        Assert.Equal([runs[3].RunId, runs[0].RunId], await SearchAsync("(metrics.auc > 0.85 OR metrics.auc < 0.65) AND metrics.auc >= 0", "metrics.auc DESC"));
        Assert.Equal([runs[0].RunId, runs[2].RunId, runs[3].RunId], await SearchAsync("params.model = 'gbm' AND metrics.auc < 0.65 OR metrics.auc > 0.75", "metrics.auc"));
        Assert.Equal(runs.Select(r => r.RunId).Reverse(), await SearchAsync(""));
        Assert.Equal([runs[3].RunId, runs[2].RunId, runs[1].RunId, runs[0].RunId, runs[4].RunId], await SearchAsync("", "metrics.auc DESC"));

        await Client.DeleteRunAsync(new DeleteRunRequest { RunId = runs[3].RunId }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal([runs[2].RunId], await SearchAsync("metrics.auc >= 0.75"));

        var error = await Assert.ThrowsAsync<RpcException>(() => Client.SearchRunsAsync(
            new SearchRunsRequest { ExperimentIds = { experiment.ExperimentId }, Filter = "metrics.auc >= AND" }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        var violation = Violations(error).Single();
        Assert.Equal("filter", violation.Field);
        Assert.Contains("at position 15: expected a number", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetriedWritesWithTheirIdempotencyKeysAreAppliedOnceAndTheRunSaysWhichArrived()
    {
        // A StartRun whose answer was lost, sent again with the same key: the same run, not a second one.
        var experiment = (await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"e-{Guid.NewGuid():N}" }, _pipeline, cancellationToken: Cancellation)).ExperimentId;
        var start = new StartRunRequest { ExperimentId = experiment, ClientRequestId = $"job-{Guid.NewGuid():N}" };
        var first = await Client.StartRunAsync(start, _pipeline, cancellationToken: Cancellation);
        var again = await Client.StartRunAsync(start, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(first.RunId, again.RunId);
        var runs = await Client.SearchRunsAsync(new SearchRunsRequest { ExperimentIds = { experiment } }, _pipeline, cancellationToken: Cancellation);
        Assert.Single(runs.Runs);

        // A batch sent twice is written once.
        var batch = new LogBatchRequest { RunId = first.RunId, BatchId = "epoch-1", Metrics = { new Metric { Key = "loss", Value = 0.5, Step = 1, Timestamp = 1_700_000_000_000 } } };
        Assert.False((await Client.LogBatchAsync(batch, _pipeline, cancellationToken: Cancellation)).Duplicate);
        Assert.True((await Client.LogBatchAsync(batch, _pipeline, cancellationToken: Cancellation)).Duplicate);

        // A stream cut after some messages: the client sends them all again, and each is written once; the run lists
        // which batches arrived, so a client can also ask instead of resending.
        async Task StreamAsync(int count)
        {
            using var stream = Client.LogMetrics(_pipeline, cancellationToken: Cancellation);
            for (var i = 0; i < count; i++)
            {
                await stream.RequestStream.WriteAsync(new LogMetricsRequest
                {
                    RunId = first.RunId, BatchId = $"stream-{i:D2}",
                    Metrics = { Enumerable.Range(0, 10).Select(j => new Metric { Key = "loss", Value = j, Step = 100 + (i * 10) + j, Timestamp = 1_700_000_000_000 }) },
                }, Cancellation);
            }

            await stream.RequestStream.CompleteAsync();
            await stream.ResponseAsync;
        }

        await StreamAsync(3);
        await StreamAsync(5);
        var applied = await Client.ListAppliedBatchesAsync(new ListAppliedBatchesRequest { RunId = first.RunId }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(["epoch-1", "stream-00", "stream-01", "stream-02", "stream-03", "stream-04"], applied.Batches.Select(b => b.BatchId));
        Assert.All(applied.Batches.Where(b => b.BatchId.StartsWith("stream-", StringComparison.Ordinal)), b => Assert.Equal(10, b.Metrics));
        var history = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = first.RunId, MetricKey = "loss" }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(1 + 50, history.Metrics.Count);
    }

    [Fact]
    public async Task ProvenanceTooLargeForTheLedgerIsRefusedAtItsSource()
    {
        var experiment = (await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"e-{Guid.NewGuid():N}" }, _pipeline, cancellationToken: Cancellation)).ExperimentId;
        var provenance = new Provenance { GitSha = "0123abcd" };
        provenance.FeatureGroups.Add(Enumerable.Range(0, 14_000).Select(i => $"{i}{new string('g', 1000)}"));
        var error = await Assert.ThrowsAsync<RpcException>(() => Client.StartRunAsync(
            new StartRunRequest { ExperimentId = experiment, Provenance = provenance }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Contains(Violations(error), v => v.Field.StartsWith("provenance.feature_groups", StringComparison.Ordinal));
        var runs = await Client.SearchRunsAsync(new SearchRunsRequest { ExperimentIds = { experiment } }, _pipeline, cancellationToken: Cancellation);
        Assert.Empty(runs.Runs);
    }

    private async Task<Run> StartAsync(string? experimentId = null)
    {
        experimentId ??= (await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"e-{Guid.NewGuid():N}" }, _pipeline, cancellationToken: Cancellation)).ExperimentId;
        return await Client.StartRunAsync(new StartRunRequest { ExperimentId = experimentId }, _pipeline, cancellationToken: Cancellation);
    }

    private static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException exception)
    {
        Assert.Equal(StatusCode.InvalidArgument, exception.StatusCode);
        return exception.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations
               ?? throw new Xunit.Sdk.XunitException($"No field violations in {exception.Status}");
    }
}

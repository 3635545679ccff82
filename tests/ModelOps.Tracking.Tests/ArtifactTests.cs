extern alias service;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Minio;
using Minio.DataModel.Args;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Testing;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;
using Npgsql;
using ServiceRun = service::ModelOps.Tracking.V1.Run;
using ServiceRunRecord = service::ModelOps.Tracking.Domain.RunRecord;

namespace ModelOps.Tracking.Tests;

/// <summary>Artifacts, LogMetrics and the .NET run scope against a real service, PostgreSQL and object store.</summary>
public sealed class ArtifactTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private const long Limit = 20 << 20;
    private TrackingProcess _tracking = null!;
    private Metadata _pipeline = null!;
    private TrackingClient _sdk = null!;
    private IMinioClient _minio = null!;
    private string _bucket = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    private TrackingService.TrackingServiceClient Client => _tracking.Client;

    public async ValueTask InitializeAsync()
    {
        _tracking = await TrackingProcess.StartAsync(infrastructure, nameof(ArtifactTests),
            new Dictionary<string, string> { ["Tracking:MaxArtifactBytes"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        _pipeline = _tracking.As("pipeline-9", "pipeline");
        _sdk = new TrackingClient(_tracking.Channel, _pipeline);
        var store = ObjectStoreConnection.Parse(_tracking.Environment.ObjectStoreConnectionString);
        _minio = store.CreateClient();
        _bucket = store.Bucket;
    }

    public ValueTask DisposeAsync() => _tracking.DisposeAsync();

    [Fact(Timeout = 180_000)]
    public async Task ArtifactsStreamBothWaysAreStoredOnceAndSealedIntoTheRun()
    {
        var run = await StartAsync();
        var content = RandomNumberGenerator.GetBytes(12 << 20); // crosses the 5 MiB upload parts and 8 MiB download ranges
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));

        var artifact = await _sdk.UploadArtifactAsync(run.RunId, "model/weights.bin", new MemoryStream(content), "application/x-weights", Cancellation);
        Assert.Equal((sha256, (long)content.Length, "application/x-weights", "pipeline-9"), (artifact.Sha256, artifact.Size, artifact.ContentType, artifact.CreatedBy));
        Assert.Equal($"s3://{_bucket}/blobs/sha256/{sha256[..2]}/{sha256}", artifact.Uri);

        var copy = new MemoryStream();
        var downloaded = await _sdk.DownloadArtifactAsync(run.RunId, "model/weights.bin", copy, Cancellation);
        Assert.Equal(artifact, downloaded);
        Assert.True(content.AsSpan().SequenceEqual(copy.ToArray()));

        // Not declared (a non-seekable source): the service hashes it alone and stores it through a staging key.
        var small = Encoding.UTF8.GetBytes("{\"auc\": 0.81}");
        var report = await _sdk.UploadArtifactAsync(run.RunId, "reports/metrics.json", new NonSeekable(small), "application/json", Cancellation);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(small)), report.Sha256);
        // The same bytes again: a retried upload is accepted and changes nothing; another run's identical file shares the blob.
        Assert.Equal(artifact.CreatedAt, (await _sdk.UploadArtifactAsync(run.RunId, "model/weights.bin", new MemoryStream(content), "application/x-weights", Cancellation)).CreatedAt);
        var other = await StartAsync();
        Assert.Equal(artifact.Uri, (await _sdk.UploadArtifactAsync(other.RunId, "w.bin", new NonSeekable(content), null, Cancellation)).Uri);
        var empty = await _sdk.UploadArtifactAsync(other.RunId, "empty", new MemoryStream(), null, Cancellation);
        Assert.Equal(("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0L), (empty.Sha256, empty.Size));
        Assert.Empty((await DownloadAsync(other.RunId, "empty")).ToArray());

        var objects = await ListKeysAsync();
        Assert.Equal(3, objects.Count(k => k.StartsWith("blobs/sha256/", StringComparison.Ordinal)));
        Assert.DoesNotContain(objects, k => k.StartsWith("staging/", StringComparison.Ordinal));

        // Other content under a taken path is refused, naming the path.
        var taken = await Assert.ThrowsAsync<RpcException>(() => _sdk.UploadArtifactAsync(run.RunId, "model/weights.bin", new MemoryStream(small), null, Cancellation));
        Assert.Equal("header.path", Violations(taken).Single().Field);

        // Listing by prefix, paged.
        await _sdk.UploadArtifactAsync(run.RunId, "model/config.yaml", new MemoryStream(small), null, Cancellation);
        var first = await Client.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId, PathPrefix = "model/", PageSize = 1 }, _pipeline, cancellationToken: Cancellation);
        var second = await Client.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId, PathPrefix = "model/", PageSize = 1, PageToken = first.NextPageToken }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(["model/config.yaml", "model/weights.bin"], first.Artifacts.Concat(second.Artifacts).Select(a => a.Path));
        Assert.Equal("", second.NextPageToken);
        Assert.Equal(3, (await Client.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId }, _pipeline, cancellationToken: Cancellation)).Artifacts.Count);
        Assert.Equal(report, await Client.GetArtifactAsync(new GetArtifactRequest { RunId = run.RunId, Path = "reports/metrics.json" }, _tracking.As("auditor", "auditor"), cancellationToken: Cancellation));

        // The final record commits to the artifact list: recomputed here from the rows' definition.
        var ended = await Client.EndRunAsync(new EndRunRequest { RunId = run.RunId, Status = RunStatus.Finished }, _pipeline, cancellationToken: Cancellation);
        var lines = string.Concat(new[] { ("model/config.yaml", Convert.ToHexStringLower(SHA256.HashData(small)), small.Length), ("model/weights.bin", sha256, content.Length), ("reports/metrics.json", report.Sha256, small.Length) }
            .Select(a => $"{a.Item1}\t{a.Item2}\t{a.Item3}\n"));
        var artifactsSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(lines)));
        var emptyHistory = Convert.ToHexStringLower(SHA256.HashData([]));
        Assert.Equal(ended.RecordSha256, ServiceRunRecord.Sha256(ServiceRun.Parser.ParseFrom(ended.ToByteArray()), emptyHistory, artifactsSha256));

        var late = await Assert.ThrowsAsync<RpcException>(() => _sdk.UploadArtifactAsync(run.RunId, "late.txt", new MemoryStream(small), null, Cancellation));
        Assert.Equal(StatusCode.FailedPrecondition, late.StatusCode);

        // ArtifactLogged went through the outbox with the run, path and hash.
        await using var connection = new NpgsqlConnection(_tracking.Environment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var events = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE message_type LIKE '%ArtifactLogged%' AND payload::text LIKE '%' || $1 || '%'", connection);
        events.Parameters.Add(new NpgsqlParameter { Value = sha256 });
        Assert.Equal(2L, await events.ExecuteScalarAsync(Cancellation));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("../outside")]
    [InlineData("model/../../outside")]
    [InlineData("/etc/passwd")]
    [InlineData("C:/windows")]
    [InlineData("model//x")]
    [InlineData("model\\x")]
    [InlineData("./x")]
    [InlineData("")]
    public async Task PathsThatEscapeTheirRunAreRefused(string path)
    {
        var run = await StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => _sdk.UploadArtifactAsync(run.RunId, path, new MemoryStream([1, 2, 3]), null, Cancellation));
        Assert.Equal("header.path", Violations(error).Single().Field);
        Assert.Empty((await Client.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId }, _pipeline, cancellationToken: Cancellation)).Artifacts);
    }

    [Fact(Timeout = 180_000)]
    public async Task ContentThatDoesNotMatchItsDeclarationIsNeitherStoredNorRecorded()
    {
        var run = await StartAsync();
        var content = RandomNumberGenerator.GetBytes(6 << 20);
        var wrong = Convert.ToHexStringLower(SHA256.HashData("something else"u8));

        var mismatch = await Assert.ThrowsAsync<RpcException>(() => UploadRawAsync(new ArtifactHeader { RunId = run.RunId, Path = "m.bin", Sha256 = wrong }, content));
        Assert.Equal("header.sha256", Violations(mismatch).Single().Field);
        Assert.False(await ExistsAsync($"blobs/sha256/{wrong[..2]}/{wrong}"));

        var shortSize = await Assert.ThrowsAsync<RpcException>(() => UploadRawAsync(new ArtifactHeader { RunId = run.RunId, Path = "m.bin", Size = content.Length + 1 }, content));
        Assert.Equal("header.size", Violations(shortSize).Single().Field);
        var longSize = await Assert.ThrowsAsync<RpcException>(() => UploadRawAsync(new ArtifactHeader { RunId = run.RunId, Path = "m.bin", Size = 10 }, content));
        Assert.Equal("header.size", Violations(longSize).Single().Field);
        var tooLarge = await Assert.ThrowsAsync<RpcException>(() => UploadRawAsync(new ArtifactHeader { RunId = run.RunId, Path = "big.bin" }, new byte[Limit + 1]));
        Assert.Equal("chunk", Violations(tooLarge).Single().Field);
        var declaredTooLarge = await Assert.ThrowsAsync<RpcException>(() => UploadRawAsync(new ArtifactHeader { RunId = run.RunId, Path = "big.bin", Size = Limit + 1 }, []));
        Assert.Equal("header.size", Violations(declaredTooLarge).Single().Field);
        var badHash = await Assert.ThrowsAsync<RpcException>(() => UploadRawAsync(new ArtifactHeader { RunId = run.RunId, Path = "m.bin", Sha256 = "xyz" }, content));
        Assert.Equal("header.sha256", Violations(badHash).Single().Field);

        using (var noHeader = Client.UploadArtifact(_pipeline, cancellationToken: Cancellation))
        {
            if (await noHeader.TryWriteAsync(new UploadArtifactRequest { Chunk = ByteString.CopyFromUtf8("data") }, Cancellation))
            {
                await noHeader.TryCompleteAsync();
            }

            Assert.Equal("header", Violations(await Assert.ThrowsAsync<RpcException>(() => noHeader.ResponseAsync)).Single().Field);
        }

        Assert.Empty((await Client.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId }, _pipeline, cancellationToken: Cancellation)).Artifacts);
        Assert.DoesNotContain(await ListKeysAsync(), k => k.StartsWith("staging/", StringComparison.Ordinal));

        var unknown = await Assert.ThrowsAsync<RpcException>(() => _sdk.UploadArtifactAsync(new string('a', 32), "x", new MemoryStream([1]), null, Cancellation));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var reader = new TrackingClient(_tracking.Channel, _tracking.As("auditor", "auditor"));
        var denied = await Assert.ThrowsAsync<RpcException>(() => reader.UploadArtifactAsync(run.RunId, "x", new MemoryStream([1]), null, Cancellation));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var missing = await Assert.ThrowsAsync<RpcException>(() => Client.GetArtifactAsync(new GetArtifactRequest { RunId = run.RunId, Path = "nothing" }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        var badPrefix = await Assert.ThrowsAsync<RpcException>(() => Client.ListArtifactsAsync(new ListArtifactsRequest { RunId = run.RunId, PathPrefix = "../" }, _pipeline, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("path_prefix", Violations(badPrefix).Single().Field);
    }

    [Fact(Timeout = 180_000)]
    public async Task ADownloadOfAlteredContentEndsInDataLoss()
    {
        var run = await StartAsync();
        var content = RandomNumberGenerator.GetBytes(3 << 20);
        var artifact = await _sdk.UploadArtifactAsync(run.RunId, "model.bin", new MemoryStream(content), null, Cancellation);

        var altered = content.ToArray();
        altered[12345] ^= 0xFF;
        await _minio.PutObjectAsync(new PutObjectArgs().WithBucket(_bucket).WithObject($"blobs/sha256/{artifact.Sha256[..2]}/{artifact.Sha256}")
            .WithStreamData(new MemoryStream(altered)).WithObjectSize(altered.Length), Cancellation);

        var error = await Assert.ThrowsAsync<RpcException>(() => DownloadAsync(run.RunId, "model.bin"));
        Assert.Equal(StatusCode.DataLoss, error.StatusCode);
        Assert.Contains(artifact.Sha256, error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task LogMetricsWritesEachMessageAndSaysHowFarItGotWhenOneIsBad()
    {
        var run = await StartAsync();
        using (var call = Client.LogMetrics(_pipeline, cancellationToken: Cancellation))
        {
            for (var message = 0; message < 5; message++)
            {
                await call.RequestStream.WriteAsync(Message(run.RunId, message * 1000), Cancellation);
            }

            await call.RequestStream.CompleteAsync();
            var response = await call.ResponseAsync;
            Assert.Equal((5000L, 5L), (response.AcceptedMetrics, response.Messages));
        }

        var history = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = run.RunId, MetricKey = "loss" }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(Enumerable.Range(0, 5000).Select(i => (long)i), history.Metrics.Select(m => m.Step));

        var other = await StartAsync();
        using var failing = Client.LogMetrics(_pipeline, cancellationToken: Cancellation);
        var bad = Message(other.RunId, 2000);
        bad.Metrics[3].Key = "";
        var open = true;
        foreach (var message in new[] { Message(other.RunId, 0), Message(other.RunId, 1000), bad, Message(other.RunId, 3000) })
        {
            open = open && await failing.TryWriteAsync(message, Cancellation);
        }

        if (open)
        {
            await failing.TryCompleteAsync();
        }

        var error = await Assert.ThrowsAsync<RpcException>(() => failing.ResponseAsync);
        Assert.Equal("messages[2].metrics[3].key", Violations(error).Single().Field);
        Assert.Equal("2000", error.Trailers.GetValue(service::ModelOps.Tracking.Grpc.TrackingService.AcceptedMetricsTrailer));
        var written = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = other.RunId, MetricKey = "loss" }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(2000, written.TotalPoints);
    }

    [Fact(Timeout = 180_000)]
    public async Task ARunScopeBatchesMetricsAndEndsFinishedOnlyWhenCompleted()
    {
        var experiment = (await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"scope-{Guid.NewGuid():N}" }, _pipeline, cancellationToken: Cancellation)).ExperimentId;
        Run finished;
        await using (var run = await _sdk.StartRunAsync(experiment, "sdk", provenance: new Provenance { GitSha = "abc" }, cancellationToken: Cancellation))
        {
            await run.LogParamsAsync(new Dictionary<string, string> { ["lr"] = "0.05", ["depth"] = "4" }, Cancellation);
            await run.SetTagAsync("team", "risk", Cancellation);
            for (var step = 0; step < 2500; step++)
            {
                run.LogMetric("loss", 1.0 / (step + 1), step);
            }

            var file = Path.Combine(Path.GetTempPath(), $"card-{Guid.NewGuid():N}.md");
            await File.WriteAllTextAsync(file, "# Model card", Cancellation);
            await run.LogArtifactAsync(file, "docs/card.md", "text/markdown", Cancellation);
            File.Delete(file);
            run.Complete();
            finished = run.Run;
        }

        var read = await Client.GetRunAsync(new GetRunRequest { RunId = finished.RunId }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(RunStatus.Finished, read.Status);
        Assert.Equal(("0.05", "risk"), (read.Params["lr"], read.Tags["team"]));
        var history = await Client.GetMetricHistoryAsync(new GetMetricHistoryRequest { RunId = finished.RunId, MetricKey = "loss" }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(2500, history.TotalPoints);
        Assert.Equal("# Model card", Encoding.UTF8.GetString((await DownloadAsync(finished.RunId, "docs/card.md")).ToArray()));

        // An exception escaping the scope: the run ends FAILED, with the buffered metrics still sent.
        string failedId = "";
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            await using var run = await _sdk.StartRunAsync(experiment, "crashes", cancellationToken: Cancellation);
            failedId = run.RunId;
            run.LogMetric("loss", 0.5, 0);
            throw new TimeoutException("the feature store did not answer");
        });
        var failed = await Client.GetRunAsync(new GetRunRequest { RunId = failedId }, _pipeline, cancellationToken: Cancellation);
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.Equal(0.5, failed.LatestMetrics.Single().Value);
        Assert.Contains("without Complete()", failed.Tags["modelops.error"], StringComparison.Ordinal);

        // RunAsync records the exception itself.
        await Assert.ThrowsAsync<InvalidOperationException>(() => _sdk.RunAsync(experiment, _ => throw new InvalidOperationException("diverged"), cancellationToken: Cancellation));
        var search = await Client.SearchRunsAsync(new SearchRunsRequest { ExperimentIds = { experiment }, Filter = "attributes.status = 'FAILED' AND tags.`modelops.error` LIKE '%diverged%'" }, _pipeline, cancellationToken: Cancellation);
        Assert.Single(search.Runs);
    }

    [Fact(Timeout = 180_000)]
    public async Task TheCliListsSearchesShowsAndMovesArtifacts()
    {
        var name = $"cli-{Guid.NewGuid():N}";
        var experiment = (await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = name }, _pipeline, cancellationToken: Cancellation)).ExperimentId;
        var runs = new List<string>();
        foreach (var lr in new[] { "0.1", "0.2" })
        {
            var run = await Client.StartRunAsync(new StartRunRequest { ExperimentId = experiment, RunName = $"lr-{lr}" }, _pipeline, cancellationToken: Cancellation);
            await Client.LogBatchAsync(new LogBatchRequest { RunId = run.RunId, Params = { new Param { Key = "lr", Value = lr } }, Metrics = { new Metric { Key = "auc", Value = double.Parse(lr, System.Globalization.CultureInfo.InvariantCulture) + 0.72 } } }, _pipeline, cancellationToken: Cancellation);
            runs.Add(run.RunId);
        }

        var connection = new[] { "--tracking", _tracking.Channel.Target.StartsWith("http", StringComparison.Ordinal) ? _tracking.Channel.Target : $"http://{_tracking.Channel.Target}", "--token", _tracking.Environment.Tokens.CreateToken("cli-user", ["pipeline"]) };
        var (exit, output, _) = await CliAsync(["experiments", "list", "--name-contains", name, .. connection]);
        Assert.Equal(0, exit);
        Assert.Matches($@"^ID\s+NAME\s+STAGE\s+CREATED\s+BY\r?\n{experiment}\s+{name}\s+Active\s+", output);

        (exit, output, _) = await CliAsync(["runs", "search", "-e", name, "-f", "params.lr = '0.2' OR metrics.auc < 0", "--json", .. connection]);
        Assert.Equal(0, exit);
        Assert.Equal([runs[1]], System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray().Select(r => r.GetProperty("runId").GetString()));
        (exit, output, _) = await CliAsync(["runs", "list", "-e", experiment, "--order-by", "metrics.auc DESC", .. connection]);
        Assert.Equal(0, exit);
        Assert.True(output.IndexOf("lr-0.2", StringComparison.Ordinal) < output.IndexOf("lr-0.1", StringComparison.Ordinal), output);
        Assert.Contains("auc", output.Split('\n')[0], StringComparison.Ordinal);

        var (bad, _, problem) = await CliAsync(["runs", "search", "-e", name, "-f", "metrics.auc >", .. connection]);
        Assert.Equal(2, bad);
        Assert.Contains("filter: at position", problem, StringComparison.Ordinal);

        // --token takes a file as well as a value, and a refusal shows its reason code.
        var tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, connection[^1] + "\n", Cancellation);
        try
        {
            (bad, _, problem) = await CliAsync(["runs", "show", new string('0', 32), "--tracking", connection[1], "--token", tokenFile]);
            Assert.Equal(2, bad);
            Assert.Contains("NotFound (RUN_NOT_FOUND)", problem, StringComparison.Ordinal);

            // A token another stack issued (a second stack on this machine): the refusal names the token's file, its
            // issuer and the address that refused it, and says what to do; an expired one says it expired.
            static string Jwt(string payload) => $"{Base64Url.EncodeToString("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8)}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload))}.c2lnbmF0dXJl";
            var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
            await File.WriteAllTextAsync(tokenFile, Jwt($"{{\"iss\":\"http://127.0.0.1:7999/other-stack\",\"exp\":{future},\"role\":\"pipeline\"}}"), Cancellation);
            (bad, _, problem) = await CliAsync(["runs", "show", runs[0], "--tracking", connection[1], "--token", tokenFile]);
            Assert.Equal(2, bad);
            Assert.Contains($"hint: the tracking service at {connection[1]} refused the token from --token file {Path.GetFullPath(tokenFile)}, " +
                            "which was issued by http://127.0.0.1:7999/other-stack for pipeline.", problem, StringComparison.Ordinal);
            Assert.Contains("this may be the other one's", problem, StringComparison.Ordinal);
            await File.WriteAllTextAsync(tokenFile, Jwt("{\"iss\":\"http://127.0.0.1:7999/other-stack\",\"exp\":1700000000}"), Cancellation);
            (bad, _, problem) = await CliAsync(["runs", "show", runs[0], "--tracking", connection[1], "--token", tokenFile]);
            Assert.Contains("hint: it expired at 2023-11-14 22:13:20Z", problem, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(tokenFile);
        }

        var directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"cli-{Guid.NewGuid():N}"));
        try
        {
            var file = Path.Combine(directory.FullName, "card.md");
            await File.WriteAllTextAsync(file, "# Card\nauc 0.8\n", Cancellation);
            (exit, output, _) = await CliAsync(["artifacts", "upload", runs[0], file, "--path", "docs/card.md", "--content-type", "text/markdown", .. connection]);
            Assert.Equal(0, exit);
            Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file, Cancellation))), output, StringComparison.Ordinal);
            (exit, output, _) = await CliAsync(["artifacts", "list", runs[0], "--prefix", "docs/", "--json", .. connection]);
            Assert.Equal("docs/card.md", System.Text.Json.JsonDocument.Parse(output).RootElement[0].GetProperty("path").GetString());
            var copy = Path.Combine(directory.FullName, "copy.md");
            (exit, output, _) = await CliAsync(["artifacts", "download", runs[0], "docs/card.md", "-o", copy, .. connection]);
            Assert.Equal(0, exit);
            Assert.Equal(await File.ReadAllTextAsync(file, Cancellation), await File.ReadAllTextAsync(copy, Cancellation));
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        (exit, output, _) = await CliAsync(["runs", "show", runs[0], .. connection]);
        Assert.Equal(0, exit);
        Assert.Contains("provenance lacks: git_sha", output, StringComparison.Ordinal);
        Assert.Matches(@"params\n  lr\s+0\.1", output.Replace("\r", "", StringComparison.Ordinal));
        // 0.2 + 0.72 is 0.9199999999999999 as a double: shown for reading as 0.92, kept exactly in --json.
        (exit, output, _) = await CliAsync(["runs", "show", runs[1], .. connection]);
        Assert.Equal(0, exit);
        Assert.Matches(@"metrics\n  auc\s+0\.92\s", output.Replace("\r", "", StringComparison.Ordinal));
    }

    private static async Task<(int Exit, string Output, string Error)> CliAsync(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await ModelOps.Cli.ModelOpsCli.RunAsync(args, output, error, Cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    private static LogMetricsRequest Message(string runId, int firstStep) =>
        new() { RunId = runId, Metrics = { Enumerable.Range(firstStep, 1000).Select(s => new Metric { Key = "loss", Value = s, Step = s, Timestamp = 1_700_000_000_000 + s }) } };

    private async Task<Run> StartAsync()
    {
        var experiment = await Client.CreateExperimentAsync(new CreateExperimentRequest { Name = $"a-{Guid.NewGuid():N}" }, _pipeline, cancellationToken: Cancellation);
        return await Client.StartRunAsync(new StartRunRequest { ExperimentId = experiment.ExperimentId }, _pipeline, cancellationToken: Cancellation);
    }

    private async Task<Artifact> UploadRawAsync(ArtifactHeader header, byte[] content)
    {
        using var call = Client.UploadArtifact(_pipeline, cancellationToken: Cancellation);
        var open = await call.TryWriteAsync(new UploadArtifactRequest { Header = header }, Cancellation);
        for (var offset = 0; open && offset < content.Length; offset += TrackingClient.ChunkBytes)
        {
            var length = Math.Min(TrackingClient.ChunkBytes, content.Length - offset);
            open = await call.TryWriteAsync(new UploadArtifactRequest { Chunk = ByteString.CopyFrom(content, offset, length) }, Cancellation);
        }

        if (open)
        {
            await call.TryCompleteAsync();
        }

        return await call.ResponseAsync;
    }

    private async Task<MemoryStream> DownloadAsync(string runId, string path)
    {
        var copy = new MemoryStream();
        await _sdk.DownloadArtifactAsync(runId, path, copy, Cancellation);
        return copy;
    }

    // The bucket's keys, from the S3 ListObjects API over plain HTTP (the local store checks no credentials); the SDK's
    // listing parses the local store's answer as empty.
    private async Task<List<string>> ListKeysAsync()
    {
        var endpoint = ObjectStoreConnection.Parse(_tracking.Environment.ObjectStoreConnectionString).Endpoint;
        using var http = new HttpClient();
        var xml = System.Xml.Linq.XDocument.Parse(await http.GetStringAsync(new Uri(endpoint, $"/{_bucket}?max-keys=1000"), Cancellation));
        return xml.Descendants().Where(e => e.Name.LocalName == "Key").Select(e => e.Value).ToList();
    }

    private async Task<bool> ExistsAsync(string key)
    {
        try
        {
            await _minio.StatObjectAsync(new StatObjectArgs().WithBucket(_bucket).WithObject(key), Cancellation);
            return true;
        }
        catch (Minio.Exceptions.ObjectNotFoundException)
        {
            return false;
        }
    }

    private static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException exception)
    {
        Assert.True(exception.StatusCode == StatusCode.InvalidArgument, $"{exception.Status} {exception.Status.DebugException}");
        return exception.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations
               ?? throw new Xunit.Sdk.XunitException($"No field violations in {exception.Status}");
    }

    /// <summary>A stream that cannot seek, so the client cannot hash it before sending.</summary>
    private sealed class NonSeekable(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;
    }
}

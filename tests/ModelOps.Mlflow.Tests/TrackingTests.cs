using ModelOps.Tracking.V1;

namespace ModelOps.Mlflow.Tests;

[CollectionDefinition("mlflow")]
public sealed class MlflowCollection : ICollectionFixture<MlflowStack>;

/// <summary>
/// The tracking subset of MLflow's REST API, driven with the request shapes of MLflow's Python, Java and R clients
/// (the wire specification's golden examples), and read back through tracking's own gRPC API.
/// </summary>
[Collection("mlflow")]
public sealed class TrackingTests(MlflowStack stack)
{
    private readonly MlflowHttp _trainer = stack.As("trainer", "pipeline");

    [Fact]
    public async Task The_python_flow_lands_in_tracking_field_by_field()
    {
        // set_experiment: get-by-name answers RESOURCE_DOES_NOT_EXIST (the client branches on it), then create.
        var missing = await _trainer.GetAsync("experiments/get-by-name?experiment_name=py-flow");
        Assert.Equal((404, "RESOURCE_DOES_NOT_EXIST"), (missing.Status, missing.ErrorCode));
        var created = await _trainer.PostAsync("experiments/create", """{"name": "py-flow"}""");
        Assert.Equal(200, created.Status);
        var experimentId = created["experiment_id"].GetValue<string>();
        var again = await _trainer.PostAsync("experiments/create", """{"name": "py-flow"}""");
        Assert.Equal((400, "RESOURCE_ALREADY_EXISTS"), (again.Status, again.ErrorCode));
        var experiment = (await _trainer.GetAsync($"experiments/get?experiment_id={experimentId}"))["experiment"];
        Assert.Equal("py-flow", experiment["name"]!.GetValue<string>());
        Assert.Equal($"mlflow-artifacts:/{experimentId}", experiment["artifact_location"]!.GetValue<string>());
        Assert.Equal("active", experiment["lifecycle_stage"]!.GetValue<string>());

        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var run = await _trainer.PostAsync("runs/create", $$"""
            {"experiment_id": "{{experimentId}}", "user_id": "alice", "run_name": "r1", "start_time": {{start}},
             "tags": [{"key": "mlflow.user", "value": "alice"}, {"key": "mlflow.source.name", "value": "train.py"},
                      {"key": "mlflow.source.type", "value": "LOCAL"}, {"key": "mlflow.source.git.commit", "value": "9f1c2b7d0e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"},
                      {"key": "mlflow.runName", "value": "r1"}]}
            """);
        Assert.Equal(200, run.Status);
        var info = run["run"]["info"];
        var runId = info["run_id"]!.GetValue<string>();
        Assert.Matches("^[0-9a-f]{32}$", runId);
        Assert.Equal(runId, info["run_uuid"]!.GetValue<string>());
        Assert.Equal(("r1", "RUNNING", experimentId), (info["run_name"]!.GetValue<string>(), info["status"]!.GetValue<string>(), info["experiment_id"]!.GetValue<string>()));
        Assert.Equal($"mlflow-artifacts:/{experimentId}/{runId}/artifacts", info["artifact_uri"]!.GetValue<string>());
        Assert.Equal(System.Text.Json.JsonValueKind.Number, info["start_time"]!.GetValueKind());

        var id = $"\"run_id\": \"{runId}\", \"run_uuid\": \"{runId}\"";
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-parameter", $$"""{{{id}}, "key": "lr", "value": "0.1"}""")).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-metric", $$"""{{{id}}, "key": "loss", "value": 0.5, "timestamp": {{start + 1}}, "step": 3}""")).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-batch", $$"""
            {"run_id": "{{runId}}", "metrics": [{"key": "loss", "value": "NaN", "timestamp": {{start + 2}}, "step": 4},
                                                {"key": "auc", "value": 0.91, "timestamp": {{start + 2}}, "step": 4}],
             "params": [{"key": "depth", "value": "6"}], "tags": [{"key": "team", "value": "risk"}]}
            """)).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/set-tag", $$"""{{{id}}, "key": "stage", "value": "dev"}""")).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-inputs", $$"""
            {"run_id": "{{runId}}", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
              "dataset": {"name": "loans", "digest": "d41d8cd9", "source_type": "local", "source": "{\"uri\": \"s3://data/loans.parquet\"}",
                          "schema": "{}", "profile": "{}"} }]}
            """)).Status);

        var read = (await _trainer.GetAsync($"runs/get?run_id={runId}"))["run"];
        var history = await _trainer.GetAsync($"metrics/get-history?run_id={runId}&run_uuid={runId}&metric_key=loss&max_results=25000");
        Assert.Equal(["3:0.5", "4:NaN"], history["metrics"].AsArray().Select(m => $"{m!["step"]}:{m["value"]}"));
        Assert.Null(history.Body!["next_page_token"]);

        var ended = await _trainer.PostAsync("runs/update", $$"""{{{id}}, "status": "FINISHED", "end_time": {{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}""");
        Assert.Equal("FINISHED", ended["run_info"]["status"]!.GetValue<string>());
        // The Python client retries a POST whose answer was lost: the same end again is answered, not refused.
        var replay = await _trainer.PostAsync("runs/update", $$"""{{{id}}, "status": "FINISHED"}""");
        Assert.Equal(200, replay.Status);

        // The run as tracking holds it, through its own gRPC API.
        var tracked = await stack.Tracking("auditor-1", "auditor").GetRunAsync(new GetRunRequest { RunId = runId }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(("r1", RunStatus.Finished, "trainer"), (tracked.RunName, tracked.Status, tracked.Author));
        Assert.Equal(new Dictionary<string, string> { ["lr"] = "0.1", ["depth"] = "6" }, tracked.Params);
        Assert.Equal("risk", tracked.Tags["team"]);
        Assert.Equal("dev", tracked.Tags["stage"]);
        Assert.Equal("train.py", tracked.Tags["mlflow.source.name"]);
        Assert.Equal("9f1c2b7d0e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c", tracked.Provenance.GitSha);
        Assert.Equal("train.py", tracked.Provenance.EntryPoint);
        var input = Assert.Single(tracked.Inputs);
        Assert.Equal(("loans", "d41d8cd9", "training"), (input.DatasetId, input.Hash, input.Context));
        var trackedHistory = await stack.Tracking("auditor-1", "auditor").GetMetricHistoryAsync(
            new GetMetricHistoryRequest { RunId = runId, MetricKey = "loss" }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal([(3L, start + 1), (4L, start + 2)], trackedHistory.Metrics.Select(m => (m.Step, m.Timestamp)));
        Assert.True(double.IsNaN(trackedHistory.Metrics[1].Value));

        // The façade's view of the same run: every field the clients parse.
        Assert.Equal(tracked.LatestMetrics.Count, read["data"]!["metrics"]!.AsArray().Count);
        Assert.Equal("NaN", read["data"]!["metrics"]!.AsArray().Single(m => m!["key"]!.GetValue<string>() == "loss")!["value"]!.GetValue<string>());
        Assert.Equal(["depth=6", "lr=0.1"], read["data"]!["params"]!.AsArray().Select(p => $"{p!["key"]}={p["value"]}"));
        Assert.Equal("training", read["inputs"]!["dataset_inputs"]![0]!["tags"]![0]!["value"]!.GetValue<string>());
        Assert.Equal("trainer", read["info"]!["user_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Java_and_R_dialects_are_read_as_the_python_one()
    {
        var runId = await StartRunAsync(_trainer, "dialects");
        // Java: int64s as strings. R: every scalar a string, Infinity as a string.
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-batch", $$"""
            {"run_id": "{{runId}}", "run_uuid": "{{runId}}", "metrics": [{"key": "java", "value": 0.5, "timestamp": "1764590000123", "step": "3"}]}
            """)).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-batch", $$"""
            {"run_id": "{{runId}}", "metrics": [{"key": "r", "value": "Infinity", "timestamp": "1764590000123", "step": "3"},
                                                {"key": "r2", "value": "0.25", "timestamp": "1764590000124", "step": "0"}], "params": [], "tags": []}
            """)).Status);
        // An old client's double-encoded body, and a body without Content-Type.
        var encoded = System.Text.Json.JsonSerializer.Serialize($$"""{"run_id": "{{runId}}", "key": "enc", "value": "1"}""");
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-parameter", encoded)).Status);
        Assert.Equal(200, (await _trainer.SendAsync(HttpMethod.Post, "runs/set-tag", $$"""{"run_id": "{{runId}}", "key": "plain", "value": "x", "unknown_field": 1}""", "text/plain")).Status);

        var metrics = (await _trainer.GetAsync($"runs/get?run_id={runId}"))["run"]["data"]!["metrics"]!.AsArray()
            .ToDictionary(m => m!["key"]!.GetValue<string>(), m => m!);
        Assert.Equal(System.Text.Json.JsonValueKind.Number, metrics["java"]["timestamp"]!.GetValueKind());
        Assert.Equal(1764590000123, metrics["java"]["timestamp"]!.GetValue<long>());
        Assert.Equal(3, metrics["java"]["step"]!.GetValue<long>());
        Assert.Equal("Infinity", metrics["r"]["value"]!.GetValue<string>());
        Assert.Equal(0.25, metrics["r2"]["value"]!.GetValue<double>());

        // A value that is no number is refused, naming the field.
        var bad = await _trainer.PostAsync("runs/log-metric", $$"""{"run_id": "{{runId}}", "key": "m", "value": "abc", "timestamp": 1}""");
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (bad.Status, bad.ErrorCode));
        Assert.Contains("value", bad.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replays_write_once_and_refusals_are_400s()
    {
        var runId = await StartRunAsync(_trainer, "replays");
        var batch = $$"""{"run_id": "{{runId}}", "metrics": [{"key": "loss", "value": 0.3, "timestamp": 1764590000000, "step": 1}], "params": [{"key": "lr", "value": "0.1"}]}""";
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-batch", batch)).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-batch", batch)).Status);
        var metric = $$"""{"run_id": "{{runId}}", "key": "loss", "value": 0.2, "timestamp": 1764590000001, "step": 2}""";
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-metric", metric)).Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-metric", metric)).Status);
        var history = await _trainer.GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss");
        Assert.Equal([1L, 2L], history["metrics"].AsArray().Select(m => m!["step"]!.GetValue<long>()));

        // A param changed: MLflow's 400, with the key.
        var changed = await _trainer.PostAsync("runs/log-parameter", $$"""{"run_id": "{{runId}}", "key": "lr", "value": "0.2"}""");
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (changed.Status, changed.ErrorCode));
        // A value over tracking's bound: 400 naming the field and the limit, never truncated.
        var longValue = new string('x', 6001);
        var tooLong = await _trainer.PostAsync("runs/log-parameter", $$"""{"run_id": "{{runId}}", "key": "notes", "value": "{{longValue}}"}""");
        Assert.Equal(400, tooLong.Status);
        Assert.Contains("6000", tooLong.Text, StringComparison.Ordinal);
        // MLflow's log-batch bounds.
        var metrics = string.Join(",", Enumerable.Range(0, 1001).Select(i => $$"""{"key": "m{{i}}", "value": 1, "timestamp": 1764590000000}"""));
        var overBatch = await _trainer.PostAsync("runs/log-batch", $$"""{"run_id": "{{runId}}", "metrics": [{{metrics}}]}""");
        Assert.Equal(400, overBatch.Status);
        Assert.Contains("at most 1000 metrics", overBatch.Text, StringComparison.Ordinal);
        // Tags in ModelOps' namespace are the server's.
        var reserved = await _trainer.PostAsync("runs/set-tag", $$"""{"run_id": "{{runId}}", "key": "modelops.x", "value": "1"}""");
        Assert.Equal(400, reserved.Status);
        // delete-tag: 404 for a tag the run lacks, 400 for one it has (tags are evidence).
        Assert.Equal(200, (await _trainer.PostAsync("runs/set-tag", $$"""{"run_id": "{{runId}}", "key": "keep", "value": "1"}""")).Status);
        var absent = await _trainer.SendAsync(HttpMethod.Delete, "runs/delete-tag", $$"""{"run_id": "{{runId}}", "key": "nope"}""");
        Assert.Equal((404, "RESOURCE_DOES_NOT_EXIST"), (absent.Status, absent.ErrorCode));
        var kept = await _trainer.PostAsync("runs/delete-tag", $$"""{"run_id": "{{runId}}", "key": "keep"}""");
        Assert.Equal(400, kept.Status);

        // A retried runs/create returns the run the first one started.
        var create = """{"experiment_id": "0", "start_time": 1764590000000, "tags": [{"key": "mlflow.runName", "value": "ghost"}]}""";
        var first = (await _trainer.PostAsync("runs/create", create))["run"]["info"]["run_id"]!.GetValue<string>();
        var second = (await _trainer.PostAsync("runs/create", create))["run"]["info"]["run_id"]!.GetValue<string>();
        Assert.Equal(first, second);

        // Ended runs are sealed: no resume, no writes, no other end.
        Assert.Equal(200, (await _trainer.PostAsync("runs/update", $$"""{"run_id": "{{runId}}", "status": "KILLED"}""")).Status);
        var resume = await _trainer.PostAsync("runs/update", $$"""{"run_id": "{{runId}}", "status": "RUNNING"}""");
        Assert.Equal(400, resume.Status);
        Assert.Contains("sealed", resume.Text, StringComparison.Ordinal);
        var late = await _trainer.PostAsync("runs/log-metric", $$"""{"run_id": "{{runId}}", "key": "late", "value": 1, "timestamp": 1764590000001}""");
        Assert.Equal(400, late.Status);
    }

    [Fact]
    public async Task Metric_history_pages_read_every_point_once_in_order()
    {
        var runId = await StartRunAsync(_trainer, "history-pages");
        int[] steps = [1, 1, 1, 2, 3, 3, 4];
        var metrics = string.Join(",", steps.Select((step, i) => $$"""{"key": "loss", "value": {{i}}, "timestamp": {{1764590000000 + i}}, "step": {{step}}}"""));
        Assert.Equal(200, (await _trainer.PostAsync("runs/log-batch", $$"""{"run_id": "{{runId}}", "metrics": [{{metrics}}]}""")).Status);
        foreach (var size in new[] { 1, 2, 3, 7, 8 })
        {
            var read = new List<string>();
            string? token = null;
            do
            {
                var page = await _trainer.GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss&max_results={size}" + (token is null ? "" : $"&page_token={Uri.EscapeDataString(token)}"));
                read.AddRange(page["metrics"].AsArray().Select(m => $"{m!["step"]}:{m["value"]}"));
                token = page.Body!["next_page_token"]?.GetValue<string>();
            }
            while (token is not null && read.Count < 100);

            Assert.Equal(steps.Select((step, i) => $"{step}:{i}"), read);
        }

        var forged = await _trainer.GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss&page_token=bm9wZQ==");
        Assert.Equal(400, forged.Status);
    }

    [Fact]
    public async Task The_default_experiment_is_zero()
    {
        var run = await _trainer.PostAsync("runs/create", """{"start_time": 1764590000001, "tags": [{"key": "mlflow.runName", "value": "in-default"}]}""");
        Assert.Equal("0", run["run"]["info"]["experiment_id"]!.GetValue<string>());
        var experiment = (await _trainer.GetAsync("experiments/get?experiment_id=0"))["experiment"];
        Assert.Equal(("0", "Default"), (experiment["experiment_id"]!.GetValue<string>(), experiment["name"]!.GetValue<string>()));
        var byName = (await _trainer.GetAsync("experiments/get-by-name?experiment_name=Default"))["experiment"];
        Assert.Equal("0", byName["experiment_id"]!.GetValue<string>());
        var listed = await _trainer.GetAsync("experiments/list?view_type=ACTIVE_ONLY");
        Assert.Contains(listed["experiments"].AsArray(), e => e!["experiment_id"]!.GetValue<string>() == "0");
    }

    [Fact]
    public async Task Search_speaks_mlflows_filter_grammar()
    {
        var experiment = (await _trainer.PostAsync("experiments/create", """{"name": "search-grammar", "tags": [{"key": "team", "value": "risk"}]}"""))["experiment_id"].GetValue<string>();
        var runs = new List<string>();
        foreach (var (name, loss) in new[] { ("a", 0.9), ("b", 0.4), ("c", 0.1) })
        {
            var runId = (await _trainer.PostAsync("runs/create", $$"""{"experiment_id": "{{experiment}}", "run_name": "{{name}}", "start_time": {{1764590000000 + runs.Count}}}"""))["run"]["info"]["run_id"]!.GetValue<string>();
            await _trainer.PostAsync("runs/log-batch", $$"""
                {"run_id": "{{runId}}", "metrics": [{"key": "f1-score", "value": {{loss}}, "timestamp": 1764590000000}], "params": [{"key": "model", "value": "gbm-{{name}}"}]}
                """);
            runs.Add(runId);
        }

        async Task<List<string>> Names(string filter, string orderBy = "\"metrics.`f1-score` ASC\"")
        {
            var found = await _trainer.PostAsync("runs/search", $$"""{"experiment_ids": ["{{experiment}}"], "filter": {{System.Text.Json.JsonSerializer.Serialize(filter)}}, "order_by": [{{orderBy}}], "max_results": 2, "page_token": ""}""");
            Assert.Equal(200, found.Status);
            return [.. found["runs"].AsArray().Select(r => r!["info"]!["run_name"]!.GetValue<string>())];
        }

        Assert.Equal(["c", "b"], await Names("metrics.\"f1-score\" < 0.5"));
        Assert.Equal(["b"], await Names("metric.`f1-score` > 0.2 and params.model LIKE 'gbm-%' AND run_name != 'a'"));
        Assert.Equal(["c", "a"], await Names($"attributes.run_id IN ('{runs[0]}', '{runs[2]}')"));
        Assert.Equal(["a", "b"], await Names("status = 'RUNNING' AND user_id = 'trainer'", "\"attributes.start_time ASC\""));
        var orClause = await _trainer.PostAsync("runs/search", $$"""{"experiment_ids": ["{{experiment}}"], "filter": "metrics.x > 1 OR metrics.y > 1"}""");
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (orClause.Status, orClause.ErrorCode));
        var tooMany = await _trainer.PostAsync("runs/search", $$"""{"experiment_ids": ["{{experiment}}"], "max_results": 50001}""");
        Assert.Equal(400, tooMany.Status);

        // Paging: the token of the first page reads the rest.
        var page = await _trainer.PostAsync("runs/search", $$"""{"experiment_ids": ["{{experiment}}"], "max_results": 2}""");
        var next = await _trainer.PostAsync("runs/search", $$"""{"experiment_ids": ["{{experiment}}"], "max_results": 2, "page_token": "{{page["next_page_token"].GetValue<string>()}}"}""");
        Assert.Single(next["runs"].AsArray());
        Assert.Null(next.Body!["next_page_token"]);

        var experiments = await _trainer.PostAsync("experiments/search", """{"filter": "tags.team = 'risk' AND name LIKE 'search-%'", "max_results": 10}""");
        Assert.Equal(["search-grammar"], experiments["experiments"].AsArray().Select(e => e!["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Every_failure_is_an_mlflow_error_envelope()
    {
        var unknown = await _trainer.GetAsync("no/such/endpoint");
        Assert.Equal((404, "ENDPOINT_NOT_FOUND"), (unknown.Status, unknown.ErrorCode));
        var wrongMethod = await _trainer.GetAsync("runs/create");
        Assert.Equal((404, "ENDPOINT_NOT_FOUND"), (wrongMethod.Status, wrongMethod.ErrorCode));
        var malformed = await _trainer.PostAsync("experiments/create", "{\"name\": ");
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (malformed.Status, malformed.ErrorCode));
        var missingRun = await _trainer.GetAsync("runs/get?run_id=0123456789abcdef0123456789abcdef");
        Assert.Equal((404, "RESOURCE_DOES_NOT_EXIST"), (missingRun.Status, missingRun.ErrorCode));
        var missingField = await _trainer.PostAsync("runs/log-metric", """{"key": "x", "value": 1, "timestamp": 1}""");
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (missingField.Status, missingField.ErrorCode));
        Assert.Contains("run_id", missingField.Text, StringComparison.Ordinal);

        var anonymous = await stack.As(null).GetAsync("experiments/list");
        Assert.Equal((401, "UNAUTHENTICATED"), (anonymous.Status, anonymous.ErrorCode));
        var basic = stack.As(null);
        basic.Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("alice:secret"u8.ToArray()));
        var refused = await basic.GetAsync("experiments/list");
        Assert.Equal(401, refused.Status);
        Assert.Contains("MLFLOW_TRACKING_TOKEN", refused.Text, StringComparison.Ordinal);
        // A reader cannot write: 403, which no client retries.
        var reader = await stack.As("reader", "auditor").PostAsync("experiments/create", """{"name": "not-mine"}""");
        Assert.Equal((403, "PERMISSION_DENIED"), (reader.Status, reader.ErrorCode));

        var version = await stack.As(null).Http.GetStringAsync("/version", TestContext.Current.CancellationToken);
        Assert.True(Version.Parse(version) < new Version(3, 4));
    }

    /// <summary>Starts a run in a new experiment named <paramref name="name"/>; returns its id.</summary>
    public static async Task<string> StartRunAsync(MlflowHttp client, string name)
    {
        var experiment = (await client.PostAsync("experiments/create", $$"""{"name": "{{name}}"}"""))["experiment_id"].GetValue<string>();
        var run = await client.PostAsync("runs/create", $$"""{"experiment_id": "{{experiment}}", "start_time": {{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}""");
        return run["run"]["info"]["run_id"]!.GetValue<string>();
    }
}

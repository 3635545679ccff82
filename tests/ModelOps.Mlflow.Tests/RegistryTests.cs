using System.Text;
using ModelOps.Registry.V1;

namespace ModelOps.Mlflow.Tests;

/// <summary>
/// The artifact proxy and the model registry through MLflow's REST API: a model logged as MLflow 2.x logs it (one PUT
/// per file), registered from its directory, and promoted to Production with transition-stage, which needs a second
/// principal and passes the registry's gates as ModelOps' own clients do.
/// </summary>
[Collection("mlflow")]
public sealed class RegistryTests(MlflowStack stack)
{
    private static readonly byte[] Pickle = [.. Enumerable.Range(0, 300_000).Select(i => (byte)(i * 31 % 251))];

    private readonly MlflowHttp _trainer = stack.As("trainer", "pipeline");
    private readonly MlflowHttp _reviewer = stack.As("rita", "reviewer");

    [Fact]
    public async Task The_artifact_proxy_stores_write_once_files_and_lists_them_as_mlflow_does()
    {
        var runId = await TrackingTests.StartRunAsync(_trainer, "artifact-proxy");
        var root = await RootAsync(runId);
        Assert.Equal(200, (await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/report.html", "<p>ok</p>"u8.ToArray(), "text/html")).Status);
        Assert.Equal(200, (await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/empty.txt", [], "text/plain")).Status);
        Assert.Equal(200, (await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/model/weights.bin", Pickle, "application/octet-stream")).Status);
        // The same bytes again are a retry; other bytes at the same path are a conflict, never a 5xx.
        Assert.Equal(200, (await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/report.html", "<p>ok</p>"u8.ToArray(), "text/html")).Status);
        var conflict = await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/report.html", "<p>changed</p>"u8.ToArray(), "text/html");
        Assert.Equal((409, "RESOURCE_CONFLICT"), (conflict.Status, conflict.ErrorCode));
        foreach (var hostile in new[] { "../escape.txt", "model/../../x", "model/%2e%2e%2fx", "model/..%2Fx" })
        {
            var refused = await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/{hostile}", [1], "application/octet-stream");
            Assert.True(refused.Status is 400 or 404, $"{hostile}: {refused.Status}");
        }

        // A file over tracking's bound is refused, with the bound, whether its size is declared or streamed.
        var tooBig = await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/big.bin", new byte[MlflowStack.MaxArtifactBytes + 1], "application/octet-stream");
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (tooBig.Status, tooBig.ErrorCode));
        Assert.Contains(MlflowStack.MaxArtifactBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), tooBig.Text, StringComparison.Ordinal);
        using (var streamed = new HttpRequestMessage(HttpMethod.Put, $"{root}/big-streamed.bin") { Content = new StreamContent(new UnsizedStream(new byte[3 * MlflowStack.MaxArtifactBytes])) })
        {
            using var response = await _trainer.Http.SendAsync(streamed, TestContext.Current.CancellationToken);
            Assert.Equal(400, (int)response.StatusCode);
        }

        var download = await _trainer.Http.GetAsync($"{root}/model/weights.bin", TestContext.Current.CancellationToken);
        Assert.Equal(Pickle, await download.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
        var missing = await _trainer.GetAsync($"{root}/nope.bin");
        Assert.Equal(404, missing.Status);

        // The proxy lists basenames; a file or a missing directory lists as empty.
        var listing = await _trainer.GetAsync($"/api/2.0/mlflow-artifacts/artifacts?path={Uri.EscapeDataString(ProxyPath(root))}");
        Assert.Equal(["model:dir", "empty.txt:0", "report.html:9"], listing["files"].AsArray().Select(f => $"{f!["path"]}:{(f["is_dir"]!.GetValue<bool>() ? "dir" : f["file_size"]!.ToString())}"));
        var ofFile = await _trainer.GetAsync($"/api/2.0/mlflow-artifacts/artifacts?path={Uri.EscapeDataString(ProxyPath(root) + "/report.html")}");
        Assert.Empty(ofFile["files"].AsArray());
        // The run listing (npm, R, Java) gives run-relative paths.
        var runListing = await _trainer.GetAsync($"artifacts/list?run_id={runId}&path=model");
        Assert.Equal(["model/weights.bin"], runListing["files"].AsArray().Select(f => f!["path"]!.GetValue<string>()));
        Assert.StartsWith("mlflow-artifacts:/", runListing["root_uri"].GetValue<string>(), StringComparison.Ordinal);
        var deleted = await _trainer.SendAsync(HttpMethod.Delete, $"{root}/report.html", null);
        Assert.Equal(403, deleted.Status);
        var multipart = await _trainer.PostAsync($"/api/2.0/mlflow-artifacts/mpu/create/{ProxyPath(root)}/big.bin", """{"path": "big.bin", "num_parts": 3}""");
        Assert.Equal(501, multipart.Status);
        Assert.StartsWith("Multipart upload is not supported for the current artifact repository", multipart.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Production_through_transition_stage_needs_a_second_principal_and_the_gates()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // An MLflow 2.x run: provenance from its system tags and its dataset, the model as a directory of files.
        var experiment = (await _trainer.PostAsync("experiments/create", """{"name": "churn-training"}"""))["experiment_id"].GetValue<string>();
        var runId = (await _trainer.PostAsync("runs/create", $$"""
            {"experiment_id": "{{experiment}}", "run_name": "churn-gbm", "start_time": 1764590000000,
             "tags": [{"key": "mlflow.source.git.commit", "value": "0123456789abcdef0123456789abcdef01234567"}, {"key": "mlflow.source.name", "value": "train.py"}]}
            """))["run"]["info"]["run_id"]!.GetValue<string>();
        await _trainer.PostAsync("runs/log-inputs", $$"""{"run_id": "{{runId}}", "datasets": [{"dataset": {"name": "churn-2026-11", "digest": "5d41402a", "source_type": "s3", "source": "s3://data/churn"} }]}""");
        await _trainer.PostAsync("runs/log-metric", $$"""{"run_id": "{{runId}}", "key": "auc", "value": 0.87, "timestamp": 1764590000100}""");
        var root = await RootAsync(runId);
        await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/model/MLmodel", Encoding.UTF8.GetBytes($"artifact_path: model\nrun_id: {runId}\nflavors:\n  sklearn: {{}}\n"), "text/plain");
        await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/model/model.pkl", Pickle, "application/octet-stream");

        // Registering a running run's model is refused with the way forward.
        var early = await _trainer.PostAsync("model-versions/create", $$"""{"name": "churn", "source": "{{root.Replace("/api/2.0/mlflow-artifacts/artifacts/", "mlflow-artifacts:/", StringComparison.Ordinal)}}/model", "run_id": "{{runId}}"}""");
        Assert.Equal(400, early.Status);
        Assert.Equal(200, (await _trainer.PostAsync("runs/update", $$"""{"run_id": "{{runId}}", "status": "FINISHED", "end_time": {{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}""")).Status);

        Assert.Equal(200, (await _trainer.PostAsync("registered-models/create", """{"name": "churn", "description": "Churn risk", "tags": [{"key": "risk_tier", "value": "low"}]}""")).Status);
        var exists = await _trainer.PostAsync("registered-models/create", """{"name": "churn"}""");
        Assert.Equal((400, "RESOURCE_ALREADY_EXISTS"), (exists.Status, exists.ErrorCode));
        var source = $"mlflow-artifacts:/{experiment}/{runId}/artifacts/model";
        var create = $$"""{"name": "churn", "source": "{{source}}", "run_id": "{{runId}}"}""";
        var version = (await _trainer.PostAsync("model-versions/create", create))["model_version"];
        Assert.Equal(("1", "READY", "None", source), (version["version"]!.GetValue<string>(), version["status"]!.GetValue<string>(),
            version["current_stage"]!.GetValue<string>(), version["source"]!.GetValue<string>()));
        // A retried create returns the same version.
        Assert.Equal("1", (await _trainer.PostAsync("model-versions/create", create))["model_version"]["version"].GetValue<string>());

        // The requester's transition waits for a second principal: 409 with the request id, the same on every repeat.
        var transition = """{"name": "churn", "version": "1", "stage": "production", "archive_existing_versions": false}""";
        var pending = await _trainer.PostAsync("model-versions/transition-stage", transition);
        Assert.Equal((409, "INVALID_STATE_TRANSITION"), (pending.Status, pending.ErrorCode));
        var requestId = pending["transition_request_id"].GetValue<string>();
        Assert.Contains(requestId, pending.Text, StringComparison.Ordinal);
        Assert.Contains("second principal", pending.Text, StringComparison.Ordinal);
        Assert.Equal(1, pending["approvals_required"].GetValue<int>());
        Assert.Equal(requestId, (await _trainer.PostAsync("model-versions/transition-stage", transition))["transition_request_id"].GetValue<string>());
        // Reads never show the pending move.
        var latest = await _trainer.PostAsync("registered-models/get-latest-versions", """{"name": "churn", "stages": ["Production"]}""");
        Assert.Empty(latest["model_versions"].AsArray());
        var model = (await _reviewer.GetAsync("registered-models/get?name=churn"))["registered_model"];
        Assert.Equal("None", model["latest_versions"]![0]!["current_stage"]!.GetValue<string>());

        // The requester cannot approve their own request through the Databricks-style endpoint either.
        var selfApproval = await _trainer.PostAsync("transition-requests/approve", """{"name": "churn", "version": "1", "stage": "Production"}""");
        Assert.Equal((403, "PERMISSION_DENIED"), (selfApproval.Status, selfApproval.ErrorCode));
        var requests = await _reviewer.GetAsync("transition-requests/list?name=churn&version=1");
        Assert.Equal(requestId, requests["requests"][0]!["id"]!.GetValue<string>());

        // A reviewer repeating the call approves it; every gate passes, and the registry applies the move.
        var applied = await _reviewer.PostAsync("model-versions/transition-stage", transition);
        Assert.Equal(200, applied.Status);
        Assert.Equal("Production", applied["model_version"]["current_stage"].GetValue<string>());
        var decided = await stack.Registry("auditor-1", "auditor").GetPromotionRequestAsync(new GetPromotionRequestRequest { RequestId = requestId }, cancellationToken: cancellationToken);
        Assert.Equal(RequestState.Approved, decided.State);
        Assert.Equal(("trainer", "rita"), (decided.Requester, Assert.Single(decided.Approvals).Reviewer));
        Assert.All(decided.Gates, g => Assert.Equal(GateStatus.Pass, g.Status));
        Assert.Contains(decided.Gates, g => g.Kind == "provenance");
        var registered = await stack.Registry("auditor-1", "auditor").GetModelVersionAsync(new GetModelVersionRequest { Model = "churn", Version = 1 }, cancellationToken: cancellationToken);
        Assert.Equal((Stage.Production, "model/modelops-manifest.json"), (registered.Stage, registered.ArtifactPath));

        // Serving reads: latest Production (POST, and GET as the Python client's fallback), download URI, then the files.
        latest = await _trainer.GetAsync("registered-models/get-latest-versions?name=churn&stages=Production");
        Assert.Equal("1", latest["model_versions"][0]!["version"]!.GetValue<string>());
        var uri = (await _trainer.GetAsync("model-versions/get-download-uri?name=churn&version=1"))["artifact_uri"].GetValue<string>();
        Assert.Equal(source, uri);
        var files = await _trainer.GetAsync($"/api/2.0/mlflow-artifacts/artifacts?path={Uri.EscapeDataString(uri["mlflow-artifacts:/".Length..])}");
        Assert.Equal(["MLmodel", "model.pkl", "modelops-manifest.json"], files["files"].AsArray().Select(f => f!["path"]!.GetValue<string>()));
        var pickle = await _trainer.Http.GetByteArrayAsync($"/api/2.0/mlflow-artifacts/artifacts/{uri["mlflow-artifacts:/".Length..]}/model.pkl", cancellationToken);
        Assert.Equal(Pickle, pickle);

        // A governed alias follows the same protocol.
        var alias = """{"name": "churn", "alias": "champion", "version": "1"}""";
        var aliasPending = await _trainer.PostAsync("registered-models/alias", alias);
        Assert.Equal((409, "INVALID_STATE_TRANSITION"), (aliasPending.Status, aliasPending.ErrorCode));
        var notYet = await _trainer.GetAsync("registered-models/alias?name=churn&alias=champion");
        Assert.Equal(400, notYet.Status);
        Assert.Equal(200, (await _reviewer.PostAsync("registered-models/alias", alias)).Status);
        Assert.Equal("1", (await _trainer.GetAsync("registered-models/alias?name=churn&alias=champion"))["model_version"]["version"].GetValue<string>());
        var search = await _trainer.GetAsync("model-versions/search?filter=" + Uri.EscapeDataString($"run_id = '{runId}'"));
        Assert.Equal(["champion"], search["model_versions"][0]!["aliases"]!.AsArray().Select(a => a!.GetValue<string>()));
        var models = await _trainer.GetAsync("registered-models/search?filter=" + Uri.EscapeDataString("name LIKE 'chu%' AND tag.`mlflow.prompt.is_prompt` != 'true'"));
        Assert.Equal(["churn"], models["registered_models"].AsArray().Select(m => m!["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task An_mlflow_3_logged_model_is_logged_finalised_found_and_registered()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // What MLflow 3's log_model sends inside a run (the wire specification's 3.x sequence).
        var experiment = (await _trainer.PostAsync("experiments/create", """{"name": "churn-3x"}"""))["experiment_id"].GetValue<string>();
        var sourceRun = (await _trainer.PostAsync("runs/create", $$"""{"experiment_id": "{{experiment}}", "run_name": "train-3x", "start_time": 1764590000000}"""))["run"]["info"]["run_id"]!.GetValue<string>();
        await _trainer.PostAsync("runs/log-inputs", $$"""{"run_id": "{{sourceRun}}", "datasets": [{"dataset": {"name": "churn-2026-12", "digest": "7f3a", "source_type": "s3", "source": "s3://data/churn"} }]}""");
        var created = await _trainer.PostAsync("logged-models", $$"""
            {"experiment_id": "{{experiment}}", "name": "model", "model_type": "sklearn", "source_run_id": "{{sourceRun}}",
             "params": [{"key": "max_depth", "value": "6"}],
             "tags": [{"key": "mlflow.user", "value": "alice"}, {"key": "mlflow.source.git.commit", "value": "89abcdef0123456789abcdef0123456789abcdef"}]}
            """);
        Assert.Equal(200, created.Status);
        var info = created["model"]["info"];
        var modelId = info["model_id"]!.GetValue<string>();
        Assert.Matches("^m-[0-9a-f]{32}$", modelId);
        Assert.Equal(("LOGGED_MODEL_PENDING", sourceRun, "sklearn"), (info["status"]!.GetValue<string>(), info["source_run_id"]!.GetValue<string>(), info["model_type"]!.GetValue<string>()));
        var uri = info["artifact_uri"]!.GetValue<string>();
        Assert.Equal($"mlflow-artifacts:/{experiment}/models/{modelId}/artifacts", uri);
        Assert.Equal(200, (await _trainer.PostAsync("runs/outputs", $$"""{"run_id": "{{sourceRun}}", "models": [{"model_id": "{{modelId}}", "step": 0}]}""")).Status);

        var root = "/api/2.0/mlflow-artifacts/artifacts/" + uri["mlflow-artifacts:/".Length..];
        Assert.Equal(200, (await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/MLmodel", "artifact_path: model\nflavors: {}\n"u8.ToArray(), "text/plain")).Status);
        Assert.Equal(200, (await _trainer.SendBytesAsync(HttpMethod.Put, $"{root}/model.pkl", Pickle, "application/octet-stream")).Status);
        var ready = await _trainer.SendAsync(HttpMethod.Patch, $"logged-models/{modelId}", $$"""{"model_id": "{{modelId}}", "status": "LOGGED_MODEL_READY"}""");
        Assert.Equal("LOGGED_MODEL_READY", ready["model"]["info"]["status"].GetValue<string>());
        Assert.Equal(200, (await _trainer.SendAsync(HttpMethod.Patch, $"logged-models/{modelId}", """{"status": "LOGGED_MODEL_READY"}""")).Status);
        Assert.Equal(404, (await _trainer.GetAsync("logged-models/m-0123456789abcdef0123456789abcdef")).Status);

        // Found as register_model("runs:/…/model") finds it; the source run shows it as an output; runs searches leave it out.
        var found = await _trainer.PostAsync("logged-models/search", $$"""{"experiment_ids": ["{{experiment}}"], "filter": "name = 'model'", "max_results": 50}""");
        Assert.Equal([modelId], found["models"].AsArray().Select(m => m!["info"]!["model_id"]!.GetValue<string>()));
        Assert.Equal("6", found["models"][0]!["data"]!["params"]![0]!["value"]!.GetValue<string>());
        var source = (await _trainer.GetAsync($"runs/get?run_id={sourceRun}"))["run"];
        Assert.Equal(modelId, source["outputs"]!["model_outputs"]![0]!["model_id"]!.GetValue<string>());
        var runs = await _trainer.PostAsync("runs/search", $$"""{"experiment_ids": ["{{experiment}}"]}""");
        Assert.Equal([sourceRun], runs["runs"].AsArray().Select(r => r!["info"]!["run_id"]!.GetValue<string>()));

        // Registered from models:/m-…: the version pins the model's manifest, and downloads from the model's root.
        await _trainer.PostAsync("registered-models/create", """{"name": "churn-3x", "tags": [{"key": "risk_tier", "value": "low"}]}""");
        var version = (await _trainer.PostAsync("model-versions/create", $$"""{"name": "churn-3x", "source": "models:/{{modelId}}", "run_id": "{{sourceRun}}", "model_id": "{{modelId}}"}"""))["model_version"];
        Assert.Equal(($"models:/{modelId}", modelId, sourceRun), (version["source"]!.GetValue<string>(), version["model_id"]!.GetValue<string>(), version["run_id"]!.GetValue<string>()));
        Assert.Equal(uri, (await _trainer.GetAsync("model-versions/get-download-uri?name=churn-3x&version=1"))["artifact_uri"].GetValue<string>());
        var registered = await stack.Registry("auditor-1", "auditor").GetModelVersionAsync(new GetModelVersionRequest { Model = "churn-3x", Version = 1 }, cancellationToken: cancellationToken);
        Assert.Equal("modelops-manifest.json", registered.ArtifactPath);
        // The model's run carries the provenance its source run had: the gates see the data it was trained on.
        var provenance = await stack.Tracking("auditor-1", "auditor").GetProvenanceAsync(new ModelOps.Tracking.V1.GetProvenanceRequest { RunId = registered.RunId }, cancellationToken: cancellationToken);
        Assert.Contains("git_sha", provenance.Present);
        Assert.Contains("dataset_hash", provenance.Present);
        var pickle = await _trainer.Http.GetByteArrayAsync($"{root}/model.pkl", cancellationToken);
        Assert.Equal(Pickle, pickle);
    }

    private async Task<string> RootAsync(string runId)
    {
        var uri = (await _trainer.GetAsync($"runs/get?run_id={runId}"))["run"]["info"]["artifact_uri"]!.GetValue<string>();
        return "/api/2.0/mlflow-artifacts/artifacts/" + uri["mlflow-artifacts:/".Length..];
    }

    private static string ProxyPath(string root) => root["/api/2.0/mlflow-artifacts/artifacts/".Length..];

    /// <summary>A stream whose length is unknown, so that HTTP sends it chunked, without a Content-Length.</summary>
    private sealed class UnsizedStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}

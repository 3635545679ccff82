extern alias mlflow;
using System.Text;
using Google.Rpc;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using mlflow::ModelOps.Mlflow.Artifacts;
using mlflow::ModelOps.Mlflow.Registry;
using mlflow::ModelOps.Mlflow.Tracking;
using mlflow::ModelOps.Mlflow.Wire;

namespace ModelOps.Unit.Tests;

/// <summary>The MLflow façade's wire rules, without servers: the clients' JSON dialects, the filter grammar, paths and errors.</summary>
public sealed class MlflowWireTests
{
    [Fact]
    public async Task Every_clients_json_dialect_reads_the_same()
    {
        // Python: numbers and "NaN"; Java: int64s as strings; R: every scalar a string.
        var python = await ReadAsync<LogBatchIn>("POST", """{"run_id": "r", "metrics": [{"key": "loss", "value": "NaN", "timestamp": 1764590000123, "step": 3}]}""");
        var java = await ReadAsync<LogBatchIn>("POST", """{"run_id": "r", "metrics": [{"key": "loss", "value": 0.5, "timestamp": "1764590000123", "step": "3"}]}""");
        var r = await ReadAsync<LogBatchIn>("POST", """{"run_id": "r", "metrics": [{"key": "loss", "value": "Infinity", "timestamp": "1764590000123", "step": "3"}], "params": [], "tags": []}""");
        Assert.True(double.IsNaN(python.Metrics![0].Value!.Value));
        Assert.Equal((0.5, 1764590000123L, 3L), (java.Metrics![0].Value!.Value, java.Metrics[0].Timestamp!.Value, java.Metrics[0].Step!.Value));
        Assert.Equal(double.PositiveInfinity, r.Metrics![0].Value);

        // R's quoted bools, a number where an id string is expected, unknown fields, a double-encoded body, an empty one.
        var registry = await ReadAsync<RegistryIn>("POST", """{"name": "m", "version": 3, "archive_existing_versions": "FALSE", "something_new": {"x": 1}}""");
        Assert.Equal(("3", false), (registry.Version, registry.ArchiveExistingVersions));
        var encoded = await ReadAsync<RunKeyValueIn>("POST", System.Text.Json.JsonSerializer.Serialize("""{"run_id": "r", "key": "k", "value": "v"}"""));
        Assert.Equal(("r", "k", "v"), (encoded.RunId, encoded.Key, encoded.Value));
        Assert.Null((await ReadAsync<RunKeyValueIn>("POST", "")).RunId);

        // GET: the query string; a key given twice is a list, once is a one-item list where a list is expected.
        var latest = await ReadAsync<RegistryIn>("GET", "", "?name=m&stages=Staging&stages=Production");
        Assert.Equal(["Staging", "Production"], latest.Stages);
        var one = await ReadAsync<RegistryIn>("GET", "", "?name=m&stages=Production");
        Assert.Equal(["Production"], one.Stages);
        // DELETE carries its fields in a JSON body, or else in the query string.
        Assert.Equal("champion", (await ReadAsync<RegistryIn>("DELETE", """{"name": "m", "alias": "champion"}""")).Alias);
        Assert.Equal("champion", (await ReadAsync<RegistryIn>("DELETE", "", "?name=m&alias=champion")).Alias);
    }

    [Theory]
    [InlineData("""{"run_id": "r", "metrics": [{"key": "m", "value": "abc", "timestamp": 1}]}""", "$.metrics[0].value")]
    [InlineData("""{"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": "5.0"}]}""", "$.metrics[0].timestamp")]
    [InlineData("""{"run_id": "r", "metrics": 7}""", "$.metrics")]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"run_id": """, "not valid JSON")]
    public async Task A_malformed_body_is_a_400_naming_where(string body, string where)
    {
        var error = await Assert.ThrowsAsync<MlflowError>(() => ReadAsync<LogBatchIn>("POST", body));
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (error.Status, error.Code));
        Assert.Contains(where, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_over_the_bound_is_refused_unread()
    {
        var body = "{\"run_id\": \"" + new string('x', MlflowJson.MaxBodyBytes) + "\"}";
        var error = await Assert.ThrowsAsync<MlflowError>(() => ReadAsync<LogBatchIn>("POST", body));
        Assert.Contains($"over {MlflowJson.MaxBodyBytes} bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Responses_write_ids_as_strings_int64s_as_numbers_and_nan_as_a_string()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(
            new { run_id = "abc", metrics = new[] { new Metric("loss", double.NaN, 1764590000123, 3), new Metric("acc", double.NegativeInfinity, 1, 0) }, next_page_token = (string?)null },
            MlflowJson.Options);
        Assert.Equal("""{"run_id":"abc","metrics":[{"key":"loss","value":"NaN","timestamp":1764590000123,"step":3},{"key":"acc","value":"-Infinity","timestamp":1,"step":0}]}""", json);
    }

    [Theory]
    [InlineData("metrics.\"f1-score\" < 0.5", "metrics.`f1-score` < 0.5")]
    [InlineData("metric.`val loss` >= -1e-3 and params.model LIKE 'gbm%'", "metrics.`val loss` >= -0.001 AND params.`model` LIKE 'gbm%'")]
    [InlineData("tags.`mlflow.user` = 'alice' AND status != \"FAILED\"", "tags.`mlflow.user` = 'alice' AND attributes.status != 'FAILED'")]
    [InlineData("user_id = 'o''brien' and created > 1700000000000", "attributes.author = 'o''brien' AND attributes.start_time > 1700000000000")]
    [InlineData("attributes.run_id IN ('a', 'b')", "(attributes.run_id = 'a' OR attributes.run_id = 'b')")]
    [InlineData("run.run_id NOT IN ('a','b')", "(attributes.run_id != 'a' AND attributes.run_id != 'b')")]
    [InlineData("parameters.`a``b` ilike '%X%'", "params.`a``b` ILIKE '%X%'")]
    [InlineData("  ", "")]
    public void Run_filters_are_translated_into_trackings_language(string filter, string expected) =>
        Assert.Equal(expected, RunSearch.Filter(filter));

    [Theory]
    [InlineData("metrics.a > 1 OR metrics.b > 1", "expected AND")]
    [InlineData("(metrics.a > 1)", "identifier")]
    [InlineData("metrics.a > 1; DROP TABLE runs", "one statement")]
    [InlineData("metrics.a >", "expected a value")]
    [InlineData("tags.x = 'open", "never closed")]
    [InlineData("params.x IN ('a')", "run_id only")]
    [InlineData("datasets.name = 'x'", "datasets")]
    [InlineData("artifact_uri = 'x'", "Invalid attribute key")]
    [InlineData("foo.bar = 1", "Invalid entity type")]
    [InlineData("metrics.a == 1", "expected a number or a quoted string")]
    public void Bad_run_filters_are_400s(string filter, string why)
    {
        var error = Assert.Throws<MlflowError>(() => RunSearch.Filter(filter));
        Assert.Equal(400, error.Status);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Logged_model_filters_become_filters_of_their_runs()
    {
        var clauses = MlflowFilter.Parse("name = 'model' AND model_id IN ('m-0123456789abcdef0123456789abcdef') AND status = 'LOGGED_MODEL_READY' AND metrics.auc > 0.8")
            .Select(LoggedModels.ToRunClause);
        Assert.Equal(
            "attributes.run_name = 'model' AND (attributes.run_id = '0123456789abcdef0123456789abcdef') AND attributes.status = 'FINISHED' AND metrics.`auc` > 0.8",
            RunSearch.Render(clauses));
        Assert.Equal("tags.`modelops.logged_model.source_run` = 'r'", RunSearch.Render(MlflowFilter.Parse("source_run_id = 'r'").Select(LoggedModels.ToRunClause)));
        Assert.Equal(400, Assert.Throws<MlflowError>(() => LoggedModels.ToRunClause(MlflowFilter.Parse("artifact_uri = 'x'")[0])).Status);
    }

    [Fact]
    public void A_filter_is_bounded_before_it_is_parsed()
    {
        var error = Assert.Throws<MlflowError>(() => MlflowFilter.Parse(new string('(', MlflowFilter.MaxLength + 1)));
        Assert.Contains($"at most {MlflowFilter.MaxLength}", error.Message, StringComparison.Ordinal);
        var clauses = string.Join(" AND ", Enumerable.Range(0, MlflowFilter.MaxClauses + 1).Select(i => $"metrics.m{i} > 0"));
        Assert.Contains("more than", Assert.Throws<MlflowError>(() => MlflowFilter.Parse(clauses)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clauses_match_as_mlflows_server_matches()
    {
        var clauses = MlflowFilter.Parse("name LIKE 'churn_%' AND tags.`mlflow.prompt.is_prompt` != 'true' AND creation_time >= 10");
        Assert.True(clauses[0].Matches("churn_v2"));
        Assert.False(clauses[0].Matches("Churn_v2"));
        Assert.True(MlflowFilter.Parse("name ILIKE 'CHURN%'")[0].Matches("churn"));
        // A model without the prompt tag passes the 3.x client's prompt filter; one tagged true does not.
        Assert.True(clauses[1].Matches(null));
        Assert.False(clauses[1].Matches("true"));
        Assert.True(clauses[2].Matches(10L));
        Assert.False(clauses[2].Matches(null));
        Assert.Equal((new FilterKey("metric", "val loss"), true), MlflowFilter.ParseOrder("metrics.`val loss` DESC"));
        Assert.Equal((new FilterKey("attribute", "name"), false), MlflowFilter.ParseOrder("name"));
    }

    [Theory]
    [InlineData("1/0123456789abcdef0123456789abcdef/artifacts/model/model.pkl", "0123456789abcdef0123456789abcdef", "model/model.pkl")]
    [InlineData("0/abc/artifacts/a/b/c.txt", "abc", "a/b/c.txt")]
    [InlineData("1/models/m-0123456789abcdef0123456789abcdef/artifacts/MLmodel", "0123456789abcdef0123456789abcdef", "MLmodel")]
    [InlineData("1/models/m-0123456789ABCDEF0123456789abcdef/artifacts/MLmodel", null, null)]
    [InlineData("1/models/m-0123456789abcdef0123456789abcdef/artifacts", null, null)]
    [InlineData("0/abc/artifacts/../x", null, null)]
    [InlineData("0/abc/artifacts/a/./x", null, null)]
    [InlineData("0/abc/artifacts/a//x", null, null)]
    [InlineData("0/abc/artifacts/a%2F..%2Fx", null, null)]
    [InlineData("0/abc/artifacts/a\\x", null, null)]
    [InlineData("/0/abc/artifacts/x", null, null)]
    [InlineData("0/abc/models/x", null, null)]
    [InlineData("0/abc/artifacts", null, null)]
    public void Artifact_paths_are_checked_before_use(string path, string? run, string? relative)
    {
        var parsed = ArtifactPath.TryParse(path, allowRoot: false);
        Assert.Equal((run, relative), (parsed?.RunId, parsed?.Path));
    }

    [Theory]
    [InlineData("mlflow-artifacts:/1/abc/artifacts/model", null, "abc", "model")]
    [InlineData("mlflow-artifacts://host:5000/1/abc/artifacts/model/MLmodel", "abc", "abc", "model/MLmodel")]
    [InlineData("runs:/abc/model", "", "abc", "model")]
    [InlineData("models:/m-0123456789abcdef0123456789abcdef", "fedcba98765432100123456789abcdef", "0123456789abcdef0123456789abcdef", "")]
    public void Version_sources_name_a_run_and_its_artifact(string source, string? runId, string run, string path) =>
        Assert.Equal((run, path), RegistryMapping.ParseSource(source, runId));

    [Theory]
    [InlineData("models:/m-0123/artifacts", null, "Unsupported model version source")]
    [InlineData("models:/churn/1", null, "Unsupported model version source")]
    [InlineData("s3://bucket/model", null, "Unsupported model version source")]
    [InlineData("mlflow-artifacts:/1/abc/artifacts/../x", null, "Unsupported model version source")]
    [InlineData("runs:/abc/model", "def", "run_id is def")]
    [InlineData("", null, "source")]
    public void Other_sources_are_refused(string source, string? runId, string why) =>
        Assert.Contains(why, Assert.Throws<MlflowError>(() => RegistryMapping.ParseSource(source, runId)).Message, StringComparison.Ordinal);

    [Fact]
    public void Service_statuses_become_mlflow_codes_and_never_leak_exception_text()
    {
        var refusal = new Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = "The request has invalid fields." };
        refusal.Details.Add(Google.Protobuf.WellKnownTypes.Any.Pack(new BadRequest
        {
            FieldViolations = { new BadRequest.Types.FieldViolation { Field = "params[0].value", Description = "at most 6000 characters" } },
        }));
        var invalid = MlflowError.FromRpc(refusal.ToRpcException());
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), (invalid.Status, invalid.Code));
        Assert.Contains("params[0].value: at most 6000 characters", invalid.Message, StringComparison.Ordinal);
        Assert.Equal((404, "RESOURCE_DOES_NOT_EXIST"), Of(StatusCode.NotFound));
        Assert.Equal((400, "RESOURCE_ALREADY_EXISTS"), Of(StatusCode.AlreadyExists));
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), Of(StatusCode.FailedPrecondition));
        Assert.Equal((400, "INVALID_PARAMETER_VALUE"), Of(StatusCode.ResourceExhausted));
        Assert.Equal((403, "PERMISSION_DENIED"), Of(StatusCode.PermissionDenied));
        Assert.Equal((401, "UNAUTHENTICATED"), Of(StatusCode.Unauthenticated));
        Assert.Equal((503, "TEMPORARILY_UNAVAILABLE"), Of(StatusCode.Unavailable));
        Assert.Equal((504, "DEADLINE_EXCEEDED"), Of(StatusCode.DeadlineExceeded));
        var status = new Google.Rpc.Status { Code = (int)StatusCode.Internal, Message = "NullReferenceException at Foo.Bar" };
        status.Details.Add(Google.Protobuf.WellKnownTypes.Any.Pack(new ErrorInfo { Reason = "INTERNAL", Metadata = { ["correlation_id"] = "c-42" } }));
        var defect = MlflowError.FromRpc(status.ToRpcException());
        Assert.Equal((500, "INTERNAL_ERROR"), (defect.Status, defect.Code));
        Assert.Equal("Internal error; correlation id c-42 (quote it when reporting the problem).", defect.Message);
        Assert.Equal("""{"error_code":"INVALID_STATE_TRANSITION","message":"m","transition_request_id":"tr-1"}""",
            new MlflowError("INVALID_STATE_TRANSITION", 409, "m", new() { ["transition_request_id"] = "tr-1" }).ToJson().ToJsonString());

        static (int, string) Of(StatusCode code)
        {
            var error = MlflowError.FromRpc(new RpcException(new Grpc.Core.Status(code, "x")));
            return (error.Status, error.Code);
        }
    }

    [Fact]
    public void Pages_the_facade_cuts_itself_carry_an_offset_and_refuse_a_forged_token()
    {
        var (first, token) = Paging.Slice(Enumerable.Range(0, 5), null, 2);
        var (second, next) = Paging.Slice(Enumerable.Range(0, 5), token, 2);
        var (last, end) = Paging.Slice(Enumerable.Range(0, 5), next, 2);
        Assert.Equal([[0, 1], [2, 3], [4]], new[] { first, second, last });
        Assert.Null(end);
        Assert.Empty(Paging.Slice(Enumerable.Range(0, 5), "", 10).Items.Except(Enumerable.Range(0, 5)));
        Assert.Equal(400, Assert.Throws<MlflowError>(() => Paging.Offset("not-a-token")).Status);
        Assert.Equal(400, Assert.Throws<MlflowError>(() => Paging.MaxResults(50_001, 1000, 50_000)).Status);
        Assert.Equal(400, Assert.Throws<MlflowError>(() => Paging.MaxResults(0, 1000, 50_000)).Status);
    }

    [Fact]
    public void A_manifest_lists_every_file_of_the_model_directory_in_order()
    {
        var files = new[]
        {
            new mlflow::ModelOps.Tracking.V1.Artifact { Path = "model/model.pkl", Sha256 = "bb", Size = 2 },
            new mlflow::ModelOps.Tracking.V1.Artifact { Path = "model/MLmodel", Sha256 = "aa", Size = 1 },
            new mlflow::ModelOps.Tracking.V1.Artifact { Path = "model/modelops-manifest.json", Sha256 = "cc", Size = 3 },
            new mlflow::ModelOps.Tracking.V1.Artifact { Path = "other/x", Sha256 = "dd", Size = 4 },
        };
        Assert.Equal("""{"format":"modelops.mlflow-model-manifest/v1","files":[{"path":"MLmodel","sha256":"aa","size":1},{"path":"model.pkl","sha256":"bb","size":2}]}""",
            Encoding.UTF8.GetString(ModelManifest.Build(files, "model")));
        Assert.Equal("model", ModelManifest.DirectoryOf("model/modelops-manifest.json"));
        Assert.Equal("", ModelManifest.DirectoryOf("modelops-manifest.json"));
        Assert.Null(ModelManifest.DirectoryOf("model/model.pkl"));
    }

    private static async Task<T> ReadAsync<T>(string method, string body, string query = "") where T : new()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.QueryString = new QueryString(query.Length > 0 ? query : null);
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));
        return await MlflowJson.ReadAsync<T>(context.Request, CancellationToken.None);
    }
}

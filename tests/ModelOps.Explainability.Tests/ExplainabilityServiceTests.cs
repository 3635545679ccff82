using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Explainability.V1;
using ModelOps.Registry.Client;
using ModelOps.Registry.V1;
using ModelOps.Testing;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Explainability.Tests;

/// <summary>
/// The explainability service as a process beside tracking, the registry, drift and the ledger: SHAP values of a
/// registered XGBoost model equal to XGBoost's own, reason codes with the model's dictionary, datasets streamed in
/// batches, importance reports and their pages, the attribution-stability gate, every refusal, and attribution drift in
/// production windows.
/// </summary>
public sealed partial class ExplainabilityServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    // A hand-written LightGBM model on the same features that looks only at f5, f6 and f7.
    private const string OtherDrivers = """
        tree
        version=v4
        num_class=1
        num_tree_per_iteration=1
        label_index=0
        max_feature_idx=7
        objective=binary sigmoid:1
        feature_names=f0 f1 f2 f3 f4 f5 f6 f7
        feature_infos=none
        tree_sizes=1

        Tree=0
        num_leaves=4
        num_cat=0
        split_feature=5 6 7
        split_gain=1 1 1
        threshold=0 0 0
        decision_type=10 10 10
        left_child=1 -1 -2
        right_child=2 -3 -4
        leaf_value=-1 0.5 1 2
        leaf_weight=1 1 1 1
        leaf_count=25 25 25 25
        internal_value=0 0 0
        internal_weight=0 0 0
        internal_count=100 50 50
        is_linear=0
        shrinkage=1


        end of trees

        """;

    private static readonly JsonElement Fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "xgboost.json"))).RootElement;
    private static readonly double[][] FixtureRows = [.. Fixture.GetProperty("rows").EnumerateArray()
        .Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? double.NaN : v.GetDouble()).ToArray())];
    private static readonly double[][] Contribs = [.. Fixture.GetProperty("contribs").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];

    private TestStack _stack = null!;
    private ExplainabilityService.ExplainabilityServiceClient _explain = null!;
    private TrackingClient _trainer = null!;
    private RegistryClient _pipeline = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _stack = await TestStack.CreateAsync(infrastructure, "explainability");
        await _stack.StartAsync("ledger", new ServiceProjects.ModelOps_Ledger(), settings: new Dictionary<string, string>
        {
            ["Ledger:SigningKeyPath"] = Path.Combine(infrastructure.Context.DirectoryFor(_stack.Shared.Name), "signing.key"),
        });
        await _stack.StartAsync("tracking", new ServiceProjects.ModelOps_Tracking());
        await _stack.StartAsync("drift", new ServiceProjects.ModelOps_Drift(), ["tracking"], new Dictionary<string, string> { ["Drift:ReportEvery"] = "00:00:00.500" });
        await _stack.StartAsync("explainability", new ServiceProjects.ModelOps_Explainability(), ["tracking", "drift"]);
        await _stack.StartAsync("registry", new ServiceProjects.ModelOps_Registry(), ["tracking", "ledger", "explainability"],
            new Dictionary<string, string> { ["ConnectionStrings:artifacts"] = _stack.Shared.ObjectStoreConnectionString });
        await _stack.ReferAsync("explainability", "registry");
        var pipeline = _stack.As("trainer", ["pipeline"]);
        _explain = new ExplainabilityService.ExplainabilityServiceClient(_stack.Invoker("explainability", pipeline));
        _trainer = new TrackingClient(_stack.Invoker("tracking", pipeline));
        _pipeline = new RegistryClient(_stack.Invoker("registry", pipeline));
    }

    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact(Timeout = 180_000)]
    public async Task ARegisteredXGBoostModelIsExplainedAsXGBoostExplainsItWithReasonCodesFromItsDictionary()
    {
        var model = $"credit-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.json", Encoding.UTF8.GetBytes(Fixture.GetProperty("model").GetString()!)), ("eval.csv", Csv(ids: true)));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.json", RiskTier.Low, cancellationToken: Cancellation);
        var reference = new ModelRef { Model = model, Version = version.Version };

        var described = await _explain.DescribeModelAsync(new DescribeModelRequest { Model = reference }, cancellationToken: Cancellation);
        Assert.Equal(("xgboost-json", "binary:logistic", 120, "logistic", version.ArtifactSha256), (described.Format, described.Objective, described.Trees, described.Output, described.ArtifactSha256));
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"f{i}"), described.Features);
        Assert.Equal(Contribs[0][8], described.BaseValue, 1e-5);

        await _explain.SetFeatureDictionaryAsync(new SetFeatureDictionaryRequest
        {
            Model = model,
            Entries = { new FeatureEntry { Feature = "f0", DisplayName = "Debt to income", Description = "monthly debt payments over monthly income" } },
        }, cancellationToken: Cancellation);

        // Every fixture row by position, and the same rows by name (a missing value left out, or NaN).
        var request = new ExplainRequest { Model = reference, TopK = 3 };
        request.Rows.Add(FixtureRows.Select((row, r) => new Row { Id = $"app-{r}", Values = { row } }));
        var byName = new ExplainRequest { Model = reference, TopK = 3 };
        byName.Rows.Add(FixtureRows.Take(10).Select(row => new Row
        {
            Named = { row.Select((v, f) => (v, f)).Where(x => !double.IsNaN(x.v) || x.f % 2 == 0).ToDictionary(x => $"f{x.f}", x => x.v) },
        }));
        var explained = await _explain.ExplainAsync(request, cancellationToken: Cancellation);
        var named = await _explain.ExplainAsync(byName, cancellationToken: Cancellation);
        Assert.Equal(0.5, explained.Threshold);
        for (var r = 0; r < FixtureRows.Length; r++)
        {
            var row = explained.Rows[r];
            Assert.Equal($"app-{r}", row.Id);
            for (var f = 0; f < 8; f++)
            {
                Assert.True(Math.Abs(Contribs[r][f] - row.Attributions[f]) <= 1e-5, $"row {r} feature {f}: {row.Attributions[f]} vs XGBoost {Contribs[r][f]}");
                if (r < 10)
                {
                    Assert.Equal(row.Attributions[f], named.Rows[r].Attributions[f]);
                }
            }

            Assert.Equal(row.Margin, row.BaseValue + row.Attributions.Sum(), 1e-9);
            Assert.Equal(row.Prediction >= 0.5, row.Decision);
            // Reason codes: the features that pushed toward the decision, strongest first.
            var expected = Enumerable.Range(0, 8).Where(f => row.Decision ? row.Attributions[f] > 0 : row.Attributions[f] < 0)
                .OrderByDescending(f => Math.Abs(row.Attributions[f])).Take(3).Select(f => $"f{f}");
            Assert.Equal(expected, row.Reasons.Select(c => c.Feature));
        }

        var declined = explained.Rows.First(r => r.Reasons.Any(c => c.Feature == "f0"));
        var code = declined.Reasons.Single(c => c.Feature == "f0");
        Assert.Equal(("Debt to income", "monthly debt payments over monthly income"), (code.DisplayName, code.Description));
        Assert.Equal(FixtureRows[declined.Row][0], code.HasValue ? code.Value : double.NaN);

        var page = await _explain.RenderExplanationAsync(new ExplainRequest { Model = reference, Rows = { request.Rows[(int)declined.Row] } }, cancellationToken: Cancellation);
        Assert.Contains("Debt to income", page.Html, StringComparison.Ordinal);
        Assert.Contains("<svg", page.Html, StringComparison.Ordinal);
        Assert.Contains($"app-{declined.Row}", page.Html, StringComparison.Ordinal);

        // The dataset streamed in batches: the same explanations, ids from its column.
        using var call = _explain.ExplainDataset(new ExplainDatasetRequest
        {
            Model = reference, Dataset = new Dataset { RunId = runId, ArtifactPath = "eval.csv", IdColumn = "id" }, BatchSize = 25, TopK = 3,
        }, cancellationToken: Cancellation);
        var batches = new List<ExplainBatch>();
        await foreach (var batch in call.ResponseStream.ReadAllAsync(Cancellation))
        {
            batches.Add(batch);
        }

        Assert.Equal([25, 25, 10], batches.Select(b => b.Rows.Count));
        Assert.NotNull(batches[0].Model);
        Assert.Equal(explained.Rows, batches.SelectMany(b => b.Rows));
    }

    [Fact(Timeout = 180_000)]
    public async Task TheAttributionStabilityGateComparesTopFeaturesWithTheIncumbentsOnTheSameData()
    {
        var model = $"scoring-{Guid.NewGuid():N}"[..20];
        var xgboost = Encoding.UTF8.GetBytes(Fixture.GetProperty("model").GetString()!);
        var data = await RunWithAsync(("eval.csv", Csv(ids: false)));
        var first = await _pipeline.RegisterVersionAsync(model, await RunWithAsync(("model.json", xgboost)), "model.json", RiskTier.Low, cancellationToken: Cancellation);
        var retrained = await _pipeline.RegisterVersionAsync(model, await RunWithAsync(("model.json", xgboost)), "model.json", cancellationToken: Cancellation);
        var different = await _pipeline.RegisterVersionAsync(model, await RunWithAsync(("model.txt", Encoding.UTF8.GetBytes(OtherDrivers))), "model.txt", cancellationToken: Cancellation);
        var admin = new RegistryService.RegistryServiceClient(_stack.Invoker("registry", _stack.As("root", ["admin"])));
        await admin.SetPolicyAsync(new SetPolicyRequest
        {
            Model = model, Reason = "what drives a score stays what drove it",
            Policy = new Policy
            {
                Rules =
                {
                    new PromotionRule
                    {
                        Stages = { Stage.Production },
                        Gates =
                        {
                            new Gate
                            {
                                Name = "stability",
                                Remote = new RemoteGate
                                {
                                    Service = "explainability", Gate = "explainability.attribution_stability", Parameters = { ["min_overlap"] = "0.6", ["k"] = "3" },
                                },
                            },
                        },
                    },
                },
            },
        }, cancellationToken: Cancellation);

        // The first version has no incumbent to differ from.
        var request = await _pipeline.RequestPromotionAsync(model, first.Version, Stage.Production, "first scoring model", Cancellation);
        Assert.Equal((RequestState.Approved, GateStatus.Pass), (request.State, Stability(request).Status));

        // A version whose drivers differ: pending until both are measured on the same data, then blocked.
        request = await _pipeline.RequestPromotionAsync(model, different.Version, Stage.Production, "a new model", Cancellation);
        Assert.Equal(GateStatus.Pending, Stability(request).Status);
        var dataset = new Dataset { RunId = data, ArtifactPath = "eval.csv" };
        var incumbent = await _explain.ComputeImportanceAsync(new ComputeImportanceRequest { Model = new ModelRef { Model = model, Version = first.Version }, Dataset = dataset },
            cancellationToken: Cancellation);
        var candidate = await _explain.ComputeImportanceAsync(new ComputeImportanceRequest { Model = new ModelRef { Model = model, Version = different.Version }, Dataset = dataset },
            cancellationToken: Cancellation);
        Assert.Equal(["f5", "f6", "f7"], candidate.Features.Take(3).Select(f => f.Feature).Order());
        Assert.All(candidate.Features.Skip(3), f => Assert.Equal(0, f.MeanAbs));
        Assert.Equal(1, incumbent.Weights.Values.Sum(), 1e-12);
        request = await _pipeline.Raw.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = request.RequestId }, cancellationToken: Cancellation);
        var blocked = Stability(request);
        Assert.Equal(GateStatus.Fail, blocked.Status);
        Assert.Equal((first.Version.ToString(CultureInfo.InvariantCulture), candidate.Id, incumbent.Id, incumbent.DatasetSha256, "0"),
            (blocked.Evidence["incumbent"], blocked.Evidence["candidate_report"], blocked.Evidence["incumbent_report"], blocked.Evidence["dataset_sha256"], blocked.Evidence["overlap"]));

        // The same model retrained: the same drivers pass.
        await _explain.ComputeImportanceAsync(new ComputeImportanceRequest { Model = new ModelRef { Model = model, Version = retrained.Version }, Dataset = dataset },
            cancellationToken: Cancellation);
        request = await _pipeline.RequestPromotionAsync(model, retrained.Version, Stage.Production, "retrained", Cancellation);
        Assert.Equal((RequestState.Approved, GateStatus.Pass, "1"), (request.State, Stability(request).Status, Stability(request).Evidence["overlap"]));

        // The report's page and listing.
        var page = await _explain.RenderImportanceAsync(new GetImportanceRequest { Id = incumbent.Id }, cancellationToken: Cancellation);
        Assert.Contains("<svg", page.Html, StringComparison.Ordinal);
        Assert.Contains("beeswarm", page.Html, StringComparison.Ordinal);
        var listed = await _explain.ListImportanceAsync(new ListImportanceRequest { Model = model, Version = first.Version }, cancellationToken: Cancellation);
        Assert.Equal([incumbent.Id], listed.Reports.Select(r => r.Id));
        Assert.Empty(listed.Reports[0].Beeswarm);
        Assert.Equal(60, incumbent.Beeswarm[0].Attributions.Count);
    }

    [Fact(Timeout = 180_000)]
    public async Task BadRowsAndModelsAreRefusedNamingTheRowAndColumnAndNothingIsStored()
    {
        var model = $"refusals-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.json", Encoding.UTF8.GetBytes(Fixture.GetProperty("model").GetString()!)), ("model.bin", "not a model"u8.ToArray()),
            ("eval.csv", Csv(ids: false)), ("short.csv", Encoding.UTF8.GetBytes("f0,f1\n1,2\n")), ("words.csv", Words()));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.json", RiskTier.Low, cancellationToken: Cancellation);
        var binary = await _pipeline.RegisterVersionAsync(model, runId, "model.bin", RiskTier.Low, cancellationToken: Cancellation);
        var reference = new ModelRef { Model = model, Version = version.Version };
        // The explainability database only: the ledger is still taking the registrations' events.
        var before = (await _stack.TotalRowsAsync())["explainability"];

        async Task<(StatusCode Status, string Field, string Description)> Refusal(Func<Task> call)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(call);
            var violation = refused.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations.FirstOrDefault();
            return (refused.StatusCode, violation?.Field ?? "", violation?.Description ?? refused.Status.Detail);
        }

        Task Explain(params Row[] rows) => _explain.ExplainAsync(new ExplainRequest { Model = reference, Rows = { rows } }, cancellationToken: Cancellation).ResponseAsync;
        Task Importance(string path) => _explain.ComputeImportanceAsync(new ComputeImportanceRequest { Model = reference, Dataset = new Dataset { RunId = runId, ArtifactPath = path } },
            cancellationToken: Cancellation).ResponseAsync;

        var wrongCount = await Refusal(() => Explain(new Row { Values = { FixtureRows[0] } }, new Row { Values = { 1, 2, 3 } }));
        Assert.Equal((StatusCode.InvalidArgument, "rows[1].values"), (wrongCount.Status, wrongCount.Field));
        Assert.StartsWith("has 3 values; the model has 8 features ('f0', 'f1'", wrongCount.Description, StringComparison.Ordinal);
        var unknown = await Refusal(() => Explain(new Row { Named = { ["f0"] = 1, ["income"] = 2 } }));
        Assert.Equal((StatusCode.InvalidArgument, "rows[0].named[income]"), (unknown.Status, unknown.Field));
        Assert.Equal((StatusCode.InvalidArgument, "rows"), Head(await Refusal(() => Explain([.. Enumerable.Range(0, 1001).Select(_ => new Row { Values = { FixtureRows[1] } })]))));
        Assert.Equal((StatusCode.InvalidArgument, "rows"), Head(await Refusal(() => Explain())));
        Assert.Equal((StatusCode.InvalidArgument, "top_k"), Head(await Refusal(() =>
            _explain.ExplainAsync(new ExplainRequest { Model = reference, TopK = 51, Rows = { new Row { Values = { FixtureRows[1] } } } }, cancellationToken: Cancellation).ResponseAsync)));
        Assert.Equal((StatusCode.InvalidArgument, "model.version"), Head(await Refusal(() =>
            _explain.ExplainAsync(new ExplainRequest { Model = new ModelRef { Model = model }, Rows = { new Row() } }, cancellationToken: Cancellation).ResponseAsync)));
        Assert.Equal(StatusCode.NotFound, (await Refusal(() =>
            _explain.DescribeModelAsync(new DescribeModelRequest { Model = new ModelRef { Model = model, Version = 99 } }, cancellationToken: Cancellation).ResponseAsync)).Status);

        var unsupported = await Refusal(() => _explain.DescribeModelAsync(new DescribeModelRequest { Model = new ModelRef { Model = model, Version = binary.Version } },
            cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, unsupported.Status);
        Assert.Contains("supported: XGBoost JSON", unsupported.Description, StringComparison.Ordinal);

        var missingColumn = await Refusal(() => Importance("short.csv"));
        Assert.Equal((StatusCode.InvalidArgument, "dataset.artifact_path"), Head(missingColumn));
        Assert.Contains("has no column 'f2'", missingColumn.Description, StringComparison.Ordinal);
        var words = await Refusal(() => Importance("words.csv"));
        Assert.Contains("line 2, column 'f0': 'lots' is not a number", words.Description, StringComparison.Ordinal);
        Assert.Equal(StatusCode.NotFound, (await Refusal(() => Importance("absent.csv"))).Status);
        Assert.Equal(before, (await _stack.TotalRowsAsync())["explainability"]);

        // NaN is missing: the same attributions as the row with the value left out.
        var withNaN = await _explain.ExplainAsync(new ExplainRequest { Model = reference, Rows = { new Row { Named = { ["f0"] = double.NaN, ["f1"] = 0.5 } }, new Row { Named = { ["f1"] = 0.5 } } } },
            cancellationToken: Cancellation);
        Assert.Equal(withNaN.Rows[0].Attributions, withNaN.Rows[1].Attributions);
    }

    private static (StatusCode, string) Head((StatusCode Status, string Field, string Description) refusal) => (refusal.Status, refusal.Field);

    private static GateResult Stability(PromotionRequest request) => request.Gates.Single(g => g.Name == "stability");

    // The fixture's rows as a CSV with a column per feature (an empty cell for a missing value), an id column first.
    private static byte[] Csv(bool ids)
    {
        var csv = new StringBuilder(ids ? "id," : "").Append(string.Join(",", Enumerable.Range(0, 8).Select(i => $"f{i}"))).Append('\n');
        for (var r = 0; r < FixtureRows.Length; r++)
        {
            csv.Append(ids ? $"app-{r}," : "").Append(string.Join(",", FixtureRows[r].Select(v => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        }

        return Encoding.UTF8.GetBytes(csv.ToString());
    }

    // The dataset with "lots" for f0 in its first row (line 2).
    private static byte[] Words()
    {
        var lines = Encoding.UTF8.GetString(Csv(ids: false)).Split('\n');
        lines[1] = "lots" + lines[1][lines[1].IndexOf(',', StringComparison.Ordinal)..];
        return Encoding.UTF8.GetBytes(string.Join('\n', lines));
    }

    private async Task<string> RunWithAsync(params (string Path, byte[] Content)[] files)
    {
        var experiment = await _trainer.Raw.CreateExperimentAsync(new CreateExperimentRequest { Name = $"x-{Guid.NewGuid():N}" }, cancellationToken: Cancellation);
        await using var run = await _trainer.StartRunAsync(experiment.ExperimentId, cancellationToken: Cancellation);
        foreach (var (path, content) in files)
        {
            await _trainer.UploadArtifactAsync(run.RunId, path, new MemoryStream(content), Path.GetExtension(path) switch { ".json" => "application/json", ".zip" => "application/zip", _ => "text/csv" }, Cancellation);
        }

        run.Complete();
        return run.RunId;
    }
}

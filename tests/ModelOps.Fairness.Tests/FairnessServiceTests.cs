using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Rpc;
using Grpc.Core;
using Minio.DataModel.Args;
using ModelOps.Fairness.V1;
using ModelOps.Ledger.V1;
using ModelOps.Registry.Client;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Testing;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Fairness.Tests;

/// <summary>
/// The fairness service as a process beside tracking, drift, the registry and the ledger: reports of a run's dataset
/// artifact, the registry's fairness gates on them, mitigations, every refusal leaving nothing stored, and production
/// windows judged from drift's counts per group.
/// </summary>
public sealed partial class FairnessServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private TestStack _stack = null!;
    private FairnessService.FairnessServiceClient _fairness = null!;
    private TrackingClient _trainer = null!;
    private RegistryClient _pipeline = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _stack = await TestStack.CreateAsync(infrastructure, "fairness");
        await _stack.StartAsync("ledger", new ServiceProjects.ModelOps_Ledger(), settings: new Dictionary<string, string>
        {
            ["Ledger:SigningKeyPath"] = Path.Combine(infrastructure.Context.DirectoryFor(_stack.Shared.Name), "signing.key"),
        });
        await _stack.StartAsync("tracking", new ServiceProjects.ModelOps_Tracking());
        await _stack.StartAsync("fairness", new ServiceProjects.ModelOps_Fairness(), ["tracking"]);
        await _stack.StartAsync("drift", new ServiceProjects.ModelOps_Drift(), ["tracking"], new Dictionary<string, string> { ["Drift:ReportEvery"] = "00:00:00.500" });
        await _stack.StartAsync("registry", new ServiceProjects.ModelOps_Registry(), ["tracking", "ledger", "fairness"],
            new Dictionary<string, string> { ["ConnectionStrings:artifacts"] = _stack.Shared.ObjectStoreConnectionString });
        var pipeline = _stack.As("trainer", ["pipeline"]);
        _fairness = new FairnessService.FairnessServiceClient(_stack.Invoker("fairness", pipeline));
        _trainer = new TrackingClient(_stack.Invoker("tracking", pipeline));
        _pipeline = new RegistryClient(_stack.Invoker("registry", pipeline));
    }

    public ValueTask DisposeAsync() => _stack.DisposeAsync();

    [Fact(Timeout = 180_000)]
    public async Task ABiasedModelIsBlockedByTheFairnessGateAndItsMitigatedSuccessorPasses()
    {
        var model = $"credit-{Guid.NewGuid():N}"[..20];
        var applicants = CreditData.Generate(4000, bias: 0.12, seed: 11);
        var firstRun = await RunWithAsync(("model.bin", "weights v1"u8.ToArray()), ("eval.csv", CreditData.Csv(applicants)));
        var first = await _pipeline.RegisterVersionAsync(model, firstRun, "model.bin", RiskTier.Low, cancellationToken: Cancellation);
        var admin = new RegistryService.RegistryServiceClient(_stack.Invoker("registry", _stack.As("root", ["admin"])));
        await admin.SetPolicyAsync(new SetPolicyRequest
        {
            Model = model, Reason = "the four-fifths rule between the sexes",
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
                                Name = "parity",
                                Remote = new RemoteGate { Service = "fairness", Gate = "fairness.demographic_parity_ratio", Parameters = { ["min"] = "0.8", ["grouping"] = "sex" } },
                            },
                            new Gate { Name = "review", Approval = new ApprovalGate { Required = 1 } },
                        },
                    },
                },
            },
        }, cancellationToken: Cancellation);

        // Before any report the gate waits for evidence.
        var request = await _pipeline.RequestPromotionAsync(model, first.Version, Stage.Production, "first credit model", Cancellation);
        Assert.Equal(GateStatus.Pending, Parity(request).Status);
        Assert.Contains($"has no fairness report of a dataset of its own run {firstRun} yet", Parity(request).Reason, StringComparison.Ordinal);

        // A fair report of other data cannot stand in for the candidate's own.
        var otherRun = await RunWithAsync(("eval.csv", CreditData.Csv(CreditData.Generate(4000, bias: 0, seed: 12))));
        await _fairness.EvaluateDatasetAsync(new EvaluateDatasetRequest { Model = model, Version = "1", Dataset = Dataset(otherRun, "eval.csv", score: true) },
            cancellationToken: Cancellation);
        request = await _pipeline.Raw.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = request.RequestId }, cancellationToken: Cancellation);
        Assert.Equal(GateStatus.Pending, Parity(request).Status);

        var report = await _fairness.EvaluateDatasetAsync(new EvaluateDatasetRequest
        {
            Model = model, Version = "1", Dataset = Dataset(firstRun, "eval.csv", score: true),
            Settings = new Settings { Privileged = { ["sex"] = "M" }, Seed = 5 },
        }, cancellationToken: Cancellation);
        Assert.Equal(4000, report.Rows);
        Assert.Equal(["sex", "age_band", "sex × age_band"], report.Groupings.Select(g => g.Name));
        var sex = report.Groupings[0];
        Assert.Equal(("sex=M", true), (sex.Privileged, sex.PrivilegedNamed));
        var ratio = sex.Disparities.Single(d => d.Name == "demographic_parity_ratio");
        Assert.True(ratio.Value < 0.8 && ratio.Lower <= ratio.Value && ratio.Value <= ratio.Upper, $"{ratio}");
        Assert.Equal(200, ratio.Resamples);
        Assert.Equal(["sex=F", "sex=M"], ratio.Groups);
        Assert.Contains(report.Groupings[1].Groups, g => g.Label == "age_band=(missing)" && g.Values.Single().Missing);

        request = await _pipeline.Raw.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = request.RequestId }, cancellationToken: Cancellation);
        var blocked = Parity(request);
        Assert.Equal(GateStatus.Fail, blocked.Status);
        Assert.StartsWith("demographic_parity_ratio of sex is 0.", blocked.Reason, StringComparison.Ordinal);
        Assert.Equal((report.Id, ratio.Value.ToString("R", CultureInfo.InvariantCulture), "sex=F vs sex=M", "sex"),
            (blocked.Evidence["report_id"], blocked.Evidence["value"], blocked.Evidence["groups"], blocked.Evidence["grouping"]));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"[{ratio.Lower:R}, {ratio.Upper:R}]"), blocked.Evidence["interval"]);

        // The mitigation: per-group thresholds for demographic parity, and the trade-off on the same data.
        var mitigation = await _fairness.MitigateAsync(new MitigateRequest
        {
            Model = model, Version = "1", Dataset = Dataset(firstRun, "eval.csv", score: true), Method = MitigationMethod.Thresholds,
            Constraint = Constraint.DemographicParity, Tolerance = 0.02,
        }.WithSensitive("sex"), cancellationToken: Cancellation);
        Assert.True(mitigation.Before.DisparityValue > 0.1 && mitigation.After.DisparityValue <= 0.02 + 1e-12, $"{mitigation.Before} → {mitigation.After}");
        Assert.True(mitigation.After.HasAccuracy && mitigation.Before.HasAccuracy);
        Assert.Equal(mitigation.ArtifactSha256, (await _fairness.GetMitigationAsync(new GetMitigationRequest { Id = mitigation.Id }, cancellationToken: Cancellation)).ArtifactSha256);
        var thresholds = JsonDocument.Parse(mitigation.Artifact.Memory).RootElement.GetProperty("groups").EnumerateArray()
            .ToDictionary(g => g.GetProperty("group").GetProperty("sex").GetString()!, g => g.GetProperty("threshold").GetDouble());

        // The pipeline applies the artifact, logs it beside its new model, and the new version passes.
        var mitigatedCsv = CreditData.Csv(applicants, a => a.Score >= thresholds[a.Sex] ? 1 : 0);
        var secondRun = await RunWithAsync(("model.bin", "weights v2"u8.ToArray()), ("eval.csv", mitigatedCsv), ("fairness-thresholds.json", mitigation.Artifact.ToByteArray()));
        var logged = await _trainer.Raw.GetArtifactAsync(new GetArtifactRequest { RunId = secondRun, Path = "fairness-thresholds.json" }, cancellationToken: Cancellation);
        Assert.Equal(mitigation.ArtifactSha256, logged.Sha256);
        var second = await _pipeline.RegisterVersionAsync(model, secondRun, "model.bin", cancellationToken: Cancellation);
        var secondReport = await _fairness.EvaluateDatasetAsync(new EvaluateDatasetRequest
        {
            Model = model, Version = "2", Dataset = Dataset(secondRun, "eval.csv", score: false), Settings = new Settings { Privileged = { ["sex"] = "M" } },
        }, cancellationToken: Cancellation);
        Assert.True(secondReport.Groupings[0].Disparities.Single(d => d.Name == "demographic_parity_ratio").Value >= 0.8);
        request = await _pipeline.RequestPromotionAsync(model, second.Version, Stage.Production, "mitigated", Cancellation);
        Assert.Equal(GateStatus.Pass, Parity(request).Status);
        var reviewer = new RegistryService.RegistryServiceClient(_stack.Invoker("registry", _stack.As("rita", ["reviewer"])));
        request = await reviewer.ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = request.RequestId, Comment = "parity restored" }, cancellationToken: Cancellation);
        Assert.Equal(RequestState.Approved, request.State);

        // The page shows the groups; the gauges chart the disparities; the ledger holds every report and the mitigation.
        var page = (await _fairness.RenderReportAsync(new GetReportRequest { Id = report.Id }, cancellationToken: Cancellation)).Html;
        Assert.Contains("sex=F", page, StringComparison.Ordinal);
        Assert.Contains("<svg", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", page, StringComparison.Ordinal);
        var document = System.Xml.Linq.XDocument.Load(System.Xml.XmlReader.Create(new StringReader(page), new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Ignore }));
        Assert.Equal(4, document.Descendants("section").Count());
        using var http = new HttpClient();
        var metrics = "";
        Assert.True(await Eventually.HoldsAsync(async () =>
            (metrics = await http.GetStringAsync($"{_stack.HttpAddress("fairness")}/metrics", Cancellation)).Contains($"model=\"{model}\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20)));
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("modelops_fairness_disparity{", StringComparison.Ordinal) && l.Contains("grouping=\"sex\"", StringComparison.Ordinal) &&
            l.Contains("metric=\"demographic_parity_ratio\"", StringComparison.Ordinal) && l.Contains($"model=\"{model}\"", StringComparison.Ordinal));
        var ledger = new LedgerService.LedgerServiceClient(_stack.Invoker("ledger", _stack.As("audrey", ["auditor"])));
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var entries = (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 },
                cancellationToken: Cancellation)).Entries.Select(e => e.EventType).ToList();
            return entries.Count(e => e.EndsWith(".FairnessEvaluated", StringComparison.Ordinal)) == 3 &&
                   entries.Any(e => e.EndsWith(".MitigationComputed", StringComparison.Ordinal));
        }, TimeSpan.FromSeconds(30)));
    }

    [Fact(Timeout = 120_000)]
    public async Task BadDatasetsAreRefusedNamingTheColumnAndRowAndNothingIsStored()
    {
        var csv = new StringBuilder("sex,region,label,score\n");
        for (var i = 0; i < 50; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{(i % 2 == 0 ? "F" : "M")},north,{i % 3 % 2},0.{i % 10}\n");
        }

        var good = csv.ToString();
        var runId = await RunWithAsync(
            ("eval.csv", Encoding.UTF8.GetBytes(good)),
            ("maybe.csv", Encoding.UTF8.GetBytes(good.Replace("F,north,0,", "F,north,maybe,", StringComparison.Ordinal))),
            ("wide.csv", Encoding.UTF8.GetBytes(good.Replace("M,north,1,0.1", "M,north,1,1.5", StringComparison.Ordinal))),
            ("empty.csv", "sex,region,label,score\n"u8.ToArray()),
            ("ragged.csv", "sex,region,label,score\nF,north,1\n"u8.ToArray()));
        var before = await _stack.TotalRowsAsync();

        async Task<(StatusCode Status, string Field, string Description)> Refusal(EvaluateDatasetRequest request)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => _fairness.EvaluateDatasetAsync(request, cancellationToken: Cancellation).ResponseAsync);
            var violation = refused.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations.FirstOrDefault();
            return (refused.StatusCode, violation?.Field ?? "", violation?.Description ?? refused.Status.Detail);
        }

        EvaluateDatasetRequest Request(string path, string label = "label", string score = "score", params string[] sensitive) => new()
        {
            Model = "scoring", Version = "1",
            Dataset = new Dataset { RunId = runId, ArtifactPath = path, LabelColumn = label, ScoreColumn = score, SensitiveColumns = { sensitive.Length > 0 ? sensitive : ["sex"] } },
        };

        Assert.Equal((StatusCode.InvalidArgument, "dataset.label_column"), Head(await Refusal(Request("eval.csv", label: "outcome"))));
        Assert.Contains("has no column 'outcome'", (await Refusal(Request("eval.csv", label: "outcome"))).Description, StringComparison.Ordinal);
        Assert.Equal((StatusCode.InvalidArgument, "dataset.label_column", "'maybe.csv': line 2: the label 'maybe' is not binary (0/1 or true/false)"),
            await Refusal(Request("maybe.csv")));
        Assert.Equal((StatusCode.InvalidArgument, "dataset.score_column", "'wide.csv': line 3: the score 1.5 is outside [0, 1]"), await Refusal(Request("wide.csv")));
        Assert.Equal((StatusCode.InvalidArgument, "dataset.sensitive_columns[0]",
            "'eval.csv': column 'region' holds the value 'north' in every row: a single group cannot be compared"), await Refusal(Request("eval.csv", sensitive: "region")));
        Assert.Equal((StatusCode.InvalidArgument, "dataset.artifact_path", "'empty.csv': the dataset has a header but no rows"), await Refusal(Request("empty.csv")));
        Assert.Equal((StatusCode.InvalidArgument, "dataset.artifact_path"), Head(await Refusal(Request("ragged.csv"))));
        Assert.Equal((StatusCode.InvalidArgument, "dataset.sensitive_columns[1]"), Head(await Refusal(Request("eval.csv", sensitive: ["sex", "sex"]))));
        Assert.Equal(StatusCode.NotFound, (await Refusal(Request("missing.csv"))).Status);
        var privileged = Request("eval.csv");
        privileged.Settings = new Settings { Privileged = { ["sex"] = "X" } };
        Assert.Equal((StatusCode.InvalidArgument, "settings.privileged[sex]", "no row has 'sex' = 'X'"), await Refusal(privileged));
        var both = Request("eval.csv");
        both.Dataset.PredictionColumn = "label";
        Assert.Equal((StatusCode.InvalidArgument, "dataset.score_column"), Head(await Refusal(both)));
        var resamples = Request("eval.csv");
        resamples.Settings = new Settings { Resamples = 1_000_000 };
        Assert.Equal((StatusCode.InvalidArgument, "settings.resamples"), Head(await Refusal(resamples)));

        // Bytes changed behind tracking's back are refused before they are parsed.
        var record = await _trainer.Raw.GetArtifactAsync(new GetArtifactRequest { RunId = runId, Path = "eval.csv" }, cancellationToken: Cancellation);
        var store = ObjectStoreConnection.Parse(_stack.Shared.ObjectStoreConnectionString);
        var tampered = Encoding.UTF8.GetBytes(good.Replace("F,", "M,", StringComparison.Ordinal));
        await store.CreateClient().PutObjectAsync(new PutObjectArgs().WithBucket(store.Bucket).WithObject(record.Uri[$"s3://{store.Bucket}/".Length..])
            .WithStreamData(new MemoryStream(tampered)).WithObjectSize(tampered.Length), Cancellation);
        var altered = await Assert.ThrowsAsync<RpcException>(() => _fairness.EvaluateDatasetAsync(Request("eval.csv"), cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, altered.StatusCode);
        Assert.Equal("ARTIFACT_ALTERED", altered.GetRpcStatus()!.GetDetail<ErrorInfo>().Reason);

        var mitigation = await Assert.ThrowsAsync<RpcException>(() => _fairness.MitigateAsync(new MitigateRequest
        {
            Model = "scoring", Version = "1", Method = MitigationMethod.Thresholds,
            Dataset = new Dataset { RunId = runId, ArtifactPath = "eval.csv", LabelColumn = "label", PredictionColumn = "label", SensitiveColumns = { "sex" } },
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("dataset.score_column", mitigation.GetRpcStatus()!.GetDetail<BadRequest>().FieldViolations[0].Field);
        Assert.Equal(before["fairness"], (await _stack.TotalRowsAsync())["fairness"]);
    }

    [Fact(Timeout = 120_000)]
    public async Task AParquetDatasetGivesTheReportOfTheSameRowsAsCsv()
    {
        var applicants = CreditData.Generate(600, bias: 0.1, seed: 3);
        var schema = new Parquet.Schema.ParquetSchema(
            new Parquet.Schema.DataField<string>("sex"), new Parquet.Schema.DataField<string>("age_band"),
            new Parquet.Schema.DataField<bool>("label"), new Parquet.Schema.DataField<double>("score"));
        using var parquet = new MemoryStream();
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(schema, parquet, cancellationToken: Cancellation))
        {
            using var group = writer.CreateRowGroup();
            var fields = schema.GetDataFields();
            await group.WriteAsync(fields[0], applicants.Select(a => a.Sex).ToArray());
            await group.WriteAsync(fields[1], applicants.Select(a => a.AgeBand).ToArray());
            await group.WriteAsync<bool>(fields[2], applicants.Select(a => a.Label == 1).ToArray().AsMemory(), cancellationToken: Cancellation);
            await group.WriteAsync<double>(fields[3], applicants.Select(a => a.Score).ToArray().AsMemory(), cancellationToken: Cancellation);
        }

        var runId = await RunWithAsync(("eval.parquet", parquet.ToArray()), ("eval.csv", CreditData.Csv(applicants)));
        FairnessReport Strip(FairnessReport report)
        {
            var copy = report.Clone();
            copy.Id = copy.Dataset.ArtifactPath = copy.DatasetSha256 = "";
            copy.CreatedAt = null;
            return copy;
        }

        var fromParquet = await _fairness.EvaluateDatasetAsync(new EvaluateDatasetRequest { Model = "scoring", Version = "7", Dataset = Dataset(runId, "eval.parquet", score: true) },
            cancellationToken: Cancellation);
        var fromCsv = await _fairness.EvaluateDatasetAsync(new EvaluateDatasetRequest { Model = "scoring", Version = "7", Dataset = Dataset(runId, "eval.csv", score: true) },
            cancellationToken: Cancellation);
        Assert.Equal(Strip(fromCsv), Strip(fromParquet));
        var listed = await _fairness.ListReportsAsync(new ListReportsRequest { Model = "scoring", Version = "7" }, cancellationToken: Cancellation);
        Assert.Equal([fromCsv.Id, fromParquet.Id], listed.Reports.Select(r => r.Id));
        Assert.All(listed.Reports, r => Assert.All(r.Groupings, g => Assert.Empty(g.Groups)));
    }

    private static (StatusCode, string) Head((StatusCode Status, string Field, string Description) refusal) => (refusal.Status, refusal.Field);

    private static GateResult Parity(PromotionRequest request) => request.Gates.Single(g => g.Name == "parity");

    private static Dataset Dataset(string runId, string path, bool score) => new()
    {
        RunId = runId, ArtifactPath = path, LabelColumn = "label", ScoreColumn = score ? "score" : "", PredictionColumn = score ? "" : "prediction",
        SensitiveColumns = { "sex", "age_band" },
    };

    private async Task<string> RunWithAsync(params (string Path, byte[] Content)[] files)
    {
        var experiment = await _trainer.Raw.CreateExperimentAsync(new CreateExperimentRequest { Name = $"f-{Guid.NewGuid():N}" }, cancellationToken: Cancellation);
        await using var run = await _trainer.StartRunAsync(experiment.ExperimentId, cancellationToken: Cancellation);
        foreach (var (path, content) in files)
        {
            await _trainer.UploadArtifactAsync(run.RunId, path, new MemoryStream(content), path.EndsWith(".json", StringComparison.Ordinal) ? "application/json" : "text/csv", Cancellation);
        }

        run.Complete();
        return run.RunId;
    }
}

/// <summary>Request helpers.</summary>
internal static class Requests
{
    /// <summary>The request with its dataset's sensitive columns replaced.</summary>
    public static MitigateRequest WithSensitive(this MitigateRequest request, params string[] columns)
    {
        request.Dataset.SensitiveColumns.Clear();
        request.Dataset.SensitiveColumns.Add(columns);
        return request;
    }
}

using System.Globalization;
using System.Text;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Explainability.V1;
using ModelOps.Registry.V1;
using ModelOps.Testing.Onnx;

namespace ModelOps.Explainability.Tests;

public sealed partial class ExplainabilityServiceTests
{
    private static readonly string[] ApplicantFeatures = ["income", "debt", "age", "tenure", "utilisation"];

    [Fact(Timeout = 180_000)]
    public async Task AnOnnxClassifierIsExplainedExactlyAgainstItsBackgroundRows()
    {
        // A small network classifier as an ONNX file: one [N, 1] input per feature, probabilities [N, 2] out.
        var network = OnnxNetwork.Random(ApplicantFeatures.Length, hidden: 6, seed: 21, probability: true);
        var background = Table(60, ApplicantFeatures.Length, seed: 22);
        var model = $"onnx-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.onnx", network.ToOnnx(names: ApplicantFeatures, perFeature: true, twoColumns: true)),
            ("background.csv", Encoding.UTF8.GetBytes(Csv(ApplicantFeatures, background))));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.onnx", RiskTier.Low, cancellationToken: Cancellation);
        var reference = new ModelRef { Model = model, Version = version.Version };
        var backgroundSet = new Dataset { RunId = runId, ArtifactPath = "background.csv" };

        var described = await _explain.DescribeModelAsync(new DescribeModelRequest { Model = reference }, cancellationToken: Cancellation);
        Assert.Equal(("onnx", "probabilities[:, 1]", "identity", true, false, 0), (described.Format, described.Objective, described.Output, described.NeedsBackground, described.HasBaseValue, described.Trees));
        Assert.Equal(ApplicantFeatures, described.Features);

        var rows = Table(8, ApplicantFeatures.Length, seed: 23);
        var request = new ExplainRequest { Model = reference };
        request.Rows.Add(rows.Select((row, r) => new Row { Id = $"app-{r}", Values = { row } }));
        var refused = await Assert.ThrowsAsync<RpcException>(() => _explain.ExplainAsync(request, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal((StatusCode.FailedPrecondition, "BACKGROUND_REQUIRED"), (refused.StatusCode, refused.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason));
        Assert.Contains("model-agnostically", refused.Status.Detail, StringComparison.Ordinal);

        // With background rows: every coalition of the 5 features, the base value their mean probability, and each
        // row's attributions adding up to the network's own probability (computed here in double precision).
        request.Background = backgroundSet;
        var explained = await _explain.ExplainAsync(request, cancellationToken: Cancellation);
        Assert.Equal(("exact_interventional", 60, 30, 0UL), (explained.Model.Method, explained.Model.BackgroundRows, explained.Model.Coalitions, explained.Model.Seed));
        Assert.Equal(background.Average(b => network.Forward(b)), explained.Model.BaseValue, 1e-5);
        Assert.Equal(0.5, explained.Threshold);
        for (var r = 0; r < rows.Length; r++)
        {
            var row = explained.Rows[r];
            Assert.Equal(network.Forward(rows[r]), row.Margin, 1e-5);
            Assert.Equal((row.Margin, row.Prediction >= 0.5), (row.Prediction, row.Decision));
            Assert.Equal(row.Margin, explained.Model.BaseValue + row.Attributions.Sum(), 1e-9);
            Assert.Empty(row.AttributionErrors);
            Assert.All(row.Reasons, reason => Assert.True(row.Decision ? reason.Attribution > 0 : reason.Attribution < 0));
        }

        var report = await _explain.ComputeImportanceAsync(new ComputeImportanceRequest { Model = reference, Dataset = backgroundSet }, cancellationToken: Cancellation);
        Assert.Equal((60L, explained.Model.BaseValue), (report.Rows, report.BaseValue));
        Assert.Equal(ApplicantFeatures.Order(), report.Features.Select(f => f.Feature).Order());
    }

    [Fact(Timeout = 180_000)]
    public async Task KernelShapAnswersWithStandardErrorsAndARequestBeyondTheEvaluationBoundIsRefusedBeforeAnyWork()
    {
        // 13 features: above the exact limit, so Kernel SHAP with its documented coalitions and seed.
        const int features = 13;
        var network = OnnxNetwork.Random(features, hidden: 4, seed: 24);
        var names = Enumerable.Range(0, features).Select(f => $"x{f}").ToArray();
        var many = Table(5000, features, seed: 25);
        var model = $"kernel-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.onnx", network.ToOnnx(names: names)), ("background.csv", Encoding.UTF8.GetBytes(Csv(names, many[..100]))),
            ("scored.csv", Encoding.UTF8.GetBytes(Csv(names, many))));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.onnx", RiskTier.Low, cancellationToken: Cancellation);
        var reference = new ModelRef { Model = model, Version = version.Version };
        var background = new Dataset { RunId = runId, ArtifactPath = "background.csv" };

        var request = new ExplainRequest { Model = reference, Background = background };
        request.Rows.Add(many.Skip(200).Take(3).Select(row => new Row { Values = { row } }));
        var explained = await _explain.ExplainAsync(request, cancellationToken: Cancellation);
        Assert.Equal(("kernel_shap", 100, 4096 + (2 * features)), (explained.Model.Method, explained.Model.BackgroundRows, explained.Model.Coalitions));
        Assert.NotEqual(0UL, explained.Model.Seed);
        Assert.False(explained.HasThreshold);
        foreach (var row in explained.Rows)
        {
            Assert.Equal(row.Margin, explained.Model.BaseValue + row.Attributions.Sum(), 1e-9);
            Assert.Equal(features, row.AttributionErrors.Count);
            Assert.All(row.AttributionErrors, error => Assert.InRange(error, 1e-12, 0.1));
        }

        var page = await _explain.RenderExplanationAsync(request, cancellationToken: Cancellation);
        Assert.Contains("Kernel SHAP estimates (4122 coalitions per row, 100 background rows, seed ", page.Html, StringComparison.Ordinal);
        Assert.Contains("± ", page.Html, StringComparison.Ordinal);

        // 5000 rows × (4122 coalitions × 100 background rows + 1) evaluations is past the bound: refused, naming it.
        var refused = await Assert.ThrowsAsync<RpcException>(() => _explain.ComputeImportanceAsync(
            new ComputeImportanceRequest { Model = reference, Dataset = new Dataset { RunId = runId, ArtifactPath = "scored.csv" }, Background = background },
            cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        var violation = Assert.Single(refused.GetRpcStatus()!.GetDetail<BadRequest>().FieldViolations);
        Assert.Equal("dataset", violation.Field);
        Assert.Contains("at most 4852 rows", violation.Description, StringComparison.Ordinal);
        var reports = await _explain.ListImportanceAsync(new ListImportanceRequest { Model = model, Version = version.Version }, cancellationToken: Cancellation);
        Assert.Empty(reports.Reports);
    }

    [Fact(Timeout = 120_000)]
    public async Task AFileOnnxRuntimeCannotLoadIsAnUnsupportedModelAndOneThatFailsOnItsRowsIsTheModelsFailure()
    {
        var model = $"broken-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.onnx", [0x08, 0x07, 0x3A, 0x40, 0x0A, 0x02]));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.onnx", RiskTier.Low, cancellationToken: Cancellation);
        var refused = await Assert.ThrowsAsync<RpcException>(() => _explain.DescribeModelAsync(
            new DescribeModelRequest { Model = new ModelRef { Model = model, Version = version.Version } }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal((StatusCode.FailedPrecondition, "UNSUPPORTED_MODEL"), (refused.StatusCode, refused.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason));
        Assert.Contains("ONNX Runtime cannot load", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("ONNX (float or double", refused.Status.Detail, StringComparison.Ordinal);

        // A model that loads but fails on a batch of rows: the model's failure, FAILED_PRECONDITION, never INTERNAL.
        var failing = $"failing-{Guid.NewGuid():N}"[..20];
        var names = new[] { "a", "b", "c" };
        var failingRun = await RunWithAsync(("model.onnx", OnnxNetwork.Random(3, hidden: 2, seed: 26).ToOnnx(names: names, failsOnBatches: true)),
            ("background.csv", Encoding.UTF8.GetBytes(Csv(names, Table(20, 3, seed: 27)))));
        var failingVersion = await _pipeline.RegisterVersionAsync(failing, failingRun, "model.onnx", RiskTier.Low, cancellationToken: Cancellation);
        var request = new ExplainRequest
        {
            Model = new ModelRef { Model = failing, Version = failingVersion.Version }, Background = new Dataset { RunId = failingRun, ArtifactPath = "background.csv" },
            Rows = { new Row { Values = { 0.1, 0.2, 0.3 } } },
        };
        var failed = await Assert.ThrowsAsync<RpcException>(() => _explain.ExplainAsync(request, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal((StatusCode.FailedPrecondition, "MODEL_FAILED"), (failed.StatusCode, failed.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason));
        Assert.Contains("ONNX Runtime failed to run the model", failed.Status.Detail, StringComparison.Ordinal);
    }

    private static double[][] Table(int rows, int features, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => Math.Round((random.NextDouble() * 4) - 2, 4)).ToArray())];
    }

    private static string Csv(IReadOnlyList<string> names, IEnumerable<double[]> rows)
    {
        var csv = new StringBuilder(string.Join(',', names)).Append('\n');
        foreach (var row in rows)
        {
            csv.Append(string.Join(',', row.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).Append('\n');
        }

        return csv.ToString();
    }
}

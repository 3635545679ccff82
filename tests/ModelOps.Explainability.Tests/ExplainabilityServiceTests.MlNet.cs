using System.Globalization;
using System.Text;
using Google.Rpc;
using Grpc.Core;
using Microsoft.ML;
using Microsoft.ML.Data;
using ModelOps.Explainability.V1;
using ModelOps.Registry.V1;

namespace ModelOps.Explainability.Tests;

public sealed partial class ExplainabilityServiceTests
{
    [Fact(Timeout = 180_000)]
    public async Task AnMlNetModelIsExplainedWithTheBackgroundRowsItsCoversAreCountedOn()
    {
        // An ML.NET pipeline as a .NET team writes it: Concatenate, then a calibrated FastTree classifier, saved as .zip.
        var random = new Random(5);
        var applicants = Enumerable.Range(0, 400).Select(_ => new Applicant
        {
            Income = random.NextDouble() < 0.1 ? float.NaN : (float)(random.NextDouble() * 10), Debt = (float)(random.NextDouble() * 5), Age = 18 + random.Next(60),
        }).ToList();
        foreach (var a in applicants)
        {
            a.Approved = (float.IsNaN(a.Income) ? 3 : a.Income) - a.Debt + (0.03 * a.Age) + random.NextDouble() > 3;
        }

        var context = new MLContext(seed: 5);
        var data = context.Data.LoadFromEnumerable(applicants);
        var trained = context.Transforms.Concatenate("Features", "Income", "Debt", "Age")
            .Append(context.BinaryClassification.Trainers.FastTree(labelColumnName: "Approved", numberOfTrees: 20, numberOfLeaves: 8, minimumExampleCountPerLeaf: 5))
            .Fit(data);
        using var zip = new MemoryStream();
        context.Model.Save(trained, data.Schema, zip);
        var scored = trained.Transform(data);
        var scores = scored.GetColumn<float>("Score").ToArray();
        var probabilities = scored.GetColumn<float>("Probability").ToArray();
        var csv = new StringBuilder("Income,Debt,Age\n");
        foreach (var a in applicants)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{(float.IsNaN(a.Income) ? "" : a.Income.ToString("R", CultureInfo.InvariantCulture))},{a.Debt.ToString("R", CultureInfo.InvariantCulture)},{a.Age}\n");
        }

        var model = $"mlnet-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.zip", zip.ToArray()), ("applicants.csv", Encoding.UTF8.GetBytes(csv.ToString())));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.zip", RiskTier.Low, cancellationToken: Cancellation);
        var reference = new ModelRef { Model = model, Version = version.Version };
        var background = new Dataset { RunId = runId, ArtifactPath = "applicants.csv" };

        var described = await _explain.DescribeModelAsync(new DescribeModelRequest { Model = reference }, cancellationToken: Cancellation);
        Assert.Equal(("mlnet-zip", "logistic", true, false), (described.Format, described.Output, described.NeedsBackground, described.HasBaseValue));
        Assert.Equal(["Income", "Debt", "Age"], described.Features);

        // Without background rows there are no covers to weigh unknown features by: refused, saying what to give.
        var rows = applicants.Take(25).Select((a, r) => new Row { Id = $"app-{r}", Values = { a.Income, a.Debt, a.Age } }).ToList();
        var refused = await Assert.ThrowsAsync<RpcException>(() => _explain.ExplainAsync(new ExplainRequest { Model = reference, Rows = { rows } }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("BACKGROUND_REQUIRED", refused.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason);
        Assert.Contains("background", refused.Status.Detail, StringComparison.Ordinal);

        // With them: the base value is their mean margin (ML.NET's mean score), and every row's attributions add up to
        // ML.NET's own score, its probability through the model's Platt calibration.
        var explained = await _explain.ExplainAsync(new ExplainRequest { Model = reference, Rows = { rows }, Background = background }, cancellationToken: Cancellation);
        Assert.Equal(version.ArtifactSha256, explained.Model.ArtifactSha256);
        Assert.True(explained.Model.HasBaseValue);
        Assert.Equal(scores.Average(s => (double)s), explained.Model.BaseValue, 1e-5);
        Assert.Equal(64, explained.Model.BackgroundSha256.Length);
        for (var r = 0; r < rows.Count; r++)
        {
            var row = explained.Rows[r];
            Assert.Equal(row.Margin, explained.Model.BaseValue + row.Attributions.Sum(), 1e-9);
            Assert.True(Math.Abs(row.Margin - scores[r]) <= 1e-5 * Math.Max(1, Math.Abs(scores[r])), $"row {r}: margin {row.Margin}, ML.NET's score {scores[r]}");
            Assert.True(Math.Abs(row.Prediction - probabilities[r]) <= 1e-5, $"row {r}: {row.Prediction}, ML.NET's probability {probabilities[r]}");
        }

        // An importance report over the same rows takes them as its background unless told otherwise, and says so.
        var report = await _explain.ComputeImportanceAsync(new ComputeImportanceRequest { Model = reference, Dataset = background }, cancellationToken: Cancellation);
        Assert.Equal(background, report.Background);
        Assert.Equal((report.DatasetSha256, explained.Model.BackgroundSha256), (report.BackgroundSha256, report.BackgroundSha256));
        Assert.Equal(explained.Model.BaseValue, report.BaseValue, 1e-12);
        Assert.Equal(400, report.Rows);
        Assert.Equal(["Age", "Debt", "Income"], report.Features.Select(f => f.Feature).Order());
    }

    private sealed class Applicant
    {
        public float Income { get; set; }
        public float Debt { get; set; }
        public float Age { get; set; }
        public bool Approved { get; set; }
    }
}

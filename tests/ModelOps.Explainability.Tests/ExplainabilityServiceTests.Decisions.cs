using System.Globalization;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Drift.Client;
using ModelOps.Explainability.V1;
using ModelOps.Registry.V1;
using ModelOps.Testing;
using DriftV1 = ModelOps.Drift.V1;

namespace ModelOps.Explainability.Tests;

/// <summary>Decisions logged by drift, explained on request: what a model decided for a request id, and why.</summary>
public sealed partial class ExplainabilityServiceTests
{
    [Fact(Timeout = 180_000)]
    public async Task ALoggedDecisionIsExplainedAsXGBoostExplainsItAndAPredictionTheModelDidNotMakeIsCaught()
    {
        var model = $"decides-{Guid.NewGuid():N}"[..20];
        var runId = await RunWithAsync(("model.json", Encoding.UTF8.GetBytes(Fixture.GetProperty("model").GetString()!)));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.json", RiskTier.High, cancellationToken: Cancellation);
        var versionName = version.Version.ToString(CultureInfo.InvariantCulture);
        var predictions = Fixture.GetProperty("predictions").EnumerateArray().Select(p => p.GetDouble()).ToArray();
        var margins = Fixture.GetProperty("margins").EnumerateArray().Select(p => p.GetDouble()).ToArray();

        // Drift logs each decision of the version: the fixture's 60 rows with XGBoost's own predictions; row 5's prediction
        // is not the model's (a serving system running something else). A shadow version outside the registry scores row 7 too.
        var drift = new DriftClient(_stack.Invoker("drift", _stack.As("trainer", ["pipeline"])));
        var serving = new DriftClient(_stack.Invoker("drift", _stack.As("service:serving", ["service"])));
        foreach (var name in new[] { versionName, "shadow" })
        {
            await drift.SetReferenceAsync(new DriftV1.ReferenceHeader
            {
                Model = model, Version = name, Window = new DriftV1.WindowPolicy { Records = 1000 }, PredictionColumn = "score", Task = DriftV1.ModelTask.BinaryClassification,
                Columns = { Features.Select(f => new DriftV1.Column { Name = f, Kind = DriftV1.ColumnKind.Numeric }).Append(new DriftV1.Column { Name = "score", Kind = DriftV1.ColumnKind.Numeric }) },
            }, Applicants(200, seed: 3, shifted: false).Select((r, i) => new DriftV1.Row { Values = { Values(r), new Dictionary<string, Value> { ["score"] = Value.ForNumber(predictions[i % 60]) } } }), Cancellation);
        }

        await drift.Raw.SetMonitoringPolicyAsync(new DriftV1.SetMonitoringPolicyRequest
        {
            Reason = "applicants may ask why", Policy = new DriftV1.MonitoringPolicy { Model = model, DecisionLog = new DriftV1.DecisionLog { RetentionDays = 365 } },
        }, cancellationToken: Cancellation);
        var start = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds());
        var records = FixtureRows.Select((row, i) => new DriftV1.InferenceRecord
        {
            Model = model, Version = versionName, RequestId = $"app-{i}", Timestamp = Timestamp.FromDateTimeOffset(start.AddSeconds(i)), Features = { Values(row) },
            Prediction = Value.ForNumber(i == 5 ? 1 - predictions[i] : predictions[i]),
        }).Append(new DriftV1.InferenceRecord
        {
            Model = model, Version = "shadow", RequestId = "app-7", Timestamp = Timestamp.FromDateTimeOffset(start), Features = { Values(FixtureRows[7]) }, Prediction = Value.ForNumber(0.5),
        }).ToList();
        Assert.Equal(61, (await serving.IngestAsync(records, Cancellation)).Accepted);

        var auditor = new ExplainabilityService.ExplainabilityServiceClient(_stack.Invoker("explainability", _stack.As("dpo", ["auditor"])));
        var dictionary = await _explain.SetFeatureDictionaryAsync(new SetFeatureDictionaryRequest
        {
            Model = model, Entries = { new FeatureEntry { Feature = "f0", DisplayName = "Income", Description = "Declared monthly income" } },
        }, cancellationToken: Cancellation);
        Assert.Single(dictionary.Entries);

        // Each logged decision: XGBoost's pred_contribs, its margin and prediction, the drift reference's threshold, and
        // reason codes that push toward the decision, by their readable names.
        for (var i = 0; i < 60; i += 6)
        {
            var answer = (await auditor.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = $"app-{i}", TopK = 3 }, cancellationToken: Cancellation))
                .Decisions.Single();
            var row = answer.Explanation;
            Assert.Equal((model, versionName, $"app-{i}", ""), (answer.Model, answer.Version, answer.RequestId, answer.Unexplained));
            Assert.Equal(start.AddSeconds(i), answer.DecidedAt.ToDateTimeOffset());
            for (var f = 0; f < 8; f++)
            {
                Assert.True(Math.Abs(Contribs[i][f] - row.Attributions[f]) <= 1e-5, $"row {i} feature {f}: {row.Attributions[f]} vs XGBoost {Contribs[i][f]}");
            }

            Assert.Equal(margins[i], row.Margin, 1e-5);
            Assert.Equal(predictions[i], row.Prediction, 1e-6);
            Assert.Equal((0.5, predictions[i] >= 0.5), (answer.Threshold, row.Decision));
            Assert.Equal(i != 5, answer.Reproduced);
            Assert.Equal(("tree_path_dependent", version.ArtifactSha256), (answer.Method, answer.ArtifactSha256));
            Assert.True(row.Reasons.Count <= 3);
            Assert.All(row.Reasons, r => Assert.True(row.Decision ? r.Attribution > 0 : r.Attribution < 0));
            Assert.All(row.Reasons.Where(r => r.Feature == "f0"), r => Assert.Equal("Income", r.DisplayName));
        }

        var altered = (await auditor.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = "app-5" }, cancellationToken: Cancellation)).Decisions.Single();
        Assert.Equal((false, 1 - predictions[5]), (altered.Reproduced, altered.LoggedPrediction));
        Assert.Equal(predictions[5], altered.Explanation.Prediction, 1e-6);

        // Request 7 was scored by both: the shadow version is not the registry's, so it is shown but not explained.
        var both = (await auditor.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = "app-7" }, cancellationToken: Cancellation)).Decisions;
        Assert.Equal([versionName, "shadow"], both.Select(d => d.Version).Order(StringComparer.Ordinal));
        var shadow = both.Single(d => d.Version == "shadow");
        Assert.Null(shadow.Explanation);
        Assert.StartsWith("the registry numbers versions", shadow.Unexplained, StringComparison.Ordinal);

        // The dossier's examples: the version's newest decisions, newest first.
        var recent = await auditor.ExplainRecentDecisionsAsync(new ExplainRecentDecisionsRequest
        {
            Model = new ModelRef { Model = model, Version = version.Version }, Count = 4,
        }, cancellationToken: Cancellation);
        Assert.Equal(["app-59", "app-58", "app-57", "app-56"], recent.Decisions.Select(d => d.RequestId));
        Assert.All(recent.Decisions, d => Assert.NotEmpty(d.Explanation.Reasons));

        // Refusals: an unknown request, a bad id, and a caller who may not see production values.
        var missing = await Assert.ThrowsAsync<RpcException>(() => auditor.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = "nobody" }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal((StatusCode.NotFound, "DECISION_NOT_FOUND"), (missing.StatusCode, missing.GetRpcStatus()!.GetDetail<ErrorInfo>().Reason));
        var bad = await Assert.ThrowsAsync<RpcException>(() => auditor.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = "", TopK = 51 }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(["request_id", "top_k"], bad.GetRpcStatus()!.GetDetail<BadRequest>().FieldViolations.Select(v => v.Field));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() =>
            _explain.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = "app-1" }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
    }
}

using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MassTransit;
using ModelOps.Hosting.Local;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Testing;
using Npgsql;

using static ModelOps.Drift.Tests.DriftTraffic;

namespace ModelOps.Drift.Tests;

/// <summary>
/// The drift service as a real process, past the features: predictions and their late labels, per-window performance,
/// concept drift on the error stream, prediction drift, watching what the registry puts in Production, and a model's
/// monitoring policy.
/// </summary>
public sealed class DriftMonitoringTests(InfrastructureFixture infrastructure, ITestOutputHelper output) : IAsyncLifetime
{
    private ServiceProcess _service = null!;
    private LocalTenant _environment = null!;
    private GrpcChannel _channel = null!;
    private DriftClient _pipeline = null!;
    private DriftClient _serving = null!;
    private DriftClient _admin = null!;
    private IBusControl? _bus;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (_service, _environment, _channel) = await StartServiceAsync(infrastructure, nameof(DriftMonitoringTests), Cancellation);
        _pipeline = new DriftClient(Invoker(_channel, _environment.Tokens, "trainer", "pipeline"));
        _serving = new DriftClient(Invoker(_channel, _environment.Tokens, "service:serving", "service"));
        _admin = new DriftClient(Invoker(_channel, _environment.Tokens, "ops", "admin"));
    }

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            await _bus.StopAsync(CancellationToken.None);
        }

        _channel.Dispose();
        await _service.StopAsync();
    }

    [Fact(Timeout = 180_000)]
    public async Task LabelsJoinTheirPredictionsIntoEachWindowsPerformanceAndAChangedConceptIsAnnounced()
    {
        var model = $"churn-{Guid.NewGuid():N}"[..13];
        var reference = await SetPredictingReferenceAsync(model, 2000, "score", ModelTask.BinaryClassification, 21, features => Risk(features));
        Assert.Equal(("score", ModelTask.BinaryClassification, 0.5), (reference.PredictionColumn, reference.Task, reference.DecisionThreshold));
        await _admin.Raw.SetWatchAsync(new SetWatchRequest { Model = model, Version = "1", Watch = true, Reason = "scored outside the registry" },
            cancellationToken: Cancellation);

        // 8000 predictions in four windows, one millisecond apart; the prediction travels in its own field.
        var traffic = new LoanTraffic(22);
        var start = DateTimeOffset.UtcNow;
        var records = Enumerable.Range(0, 8000).Select(i =>
        {
            var features = traffic.Features(shifted: false);
            return new InferenceRecord
            {
                Model = model, Version = "1", RequestId = $"q{i}", Timestamp = Timestamp.FromDateTimeOffset(start.AddMilliseconds(i)),
                Features = { features }, Prediction = Value.ForNumber(Risk(features)),
            };
        }).ToList();
        Assert.Equal(8000, (await _serving.IngestAsync(records, Cancellation)).Accepted);

        // The outcomes: drawn from the score for the first half; for the second the relation turns around (a changed
        // concept with unchanged inputs), so the model's error rate jumps.
        var outcomes = new Random(23);
        var labels = records.Select((r, i) =>
        {
            var p = r.Prediction.NumberValue;
            return outcomes.NextDouble() < (i < 4000 ? p : 1 - p);
        }).ToList();
        var first = Enumerable.Range(0, 4000).Select(i => new Label { RequestId = $"q{i}", Value = Value.ForBool(labels[i]) })
            .Concat(Enumerable.Range(0, 10).Select(i => new Label { RequestId = $"unknown-{i}", Value = Value.ForNumber(1) }))
            .Concat(Enumerable.Range(0, 5).Select(i => new Label { RequestId = $"q{i}", Value = Value.ForBool(labels[i]) }))
            .ToList();
        var answer = await _serving.IngestLabelsAsync(model, "1", first, Cancellation);
        Assert.Equal((4000L, 15L), (answer.Matched, answer.Unmatched));
        Assert.DoesNotContain("ADWIN", answer.Drifts);
        Assert.DoesNotContain("PAGE_HINKLEY", answer.Drifts);
        // The second half in 16 batches: however the labels are batched, one change is one announcement per detector.
        var matched = 0L;
        var drifted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var batch in Enumerable.Range(4000, 4000).Chunk(250))
        {
            answer = await _serving.IngestLabelsAsync(model, "1", batch.Select(i => new Label { RequestId = $"q{i}", Value = Value.ForNumber(labels[i] ? 1 : 0) }), Cancellation);
            Assert.Equal(0L, answer.Unmatched);
            matched += answer.Matched;
            drifted.UnionWith(answer.Drifts);
        }

        Assert.Equal(4000L, matched);
        Assert.Equal(["ADWIN", "DDM", "PAGE_HINKLEY"], drifted.Order());
        // Sent again, they join nothing and change nothing.
        var again = await _serving.IngestLabelsAsync(model, "1", first.Take(4000), Cancellation);
        Assert.Equal((0L, 4000L), (again.Matched, again.Unmatched));

        List<WindowReport> reports = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 4,
            TimeSpan.FromSeconds(30)));
        reports.Reverse();
        for (var w = 0; w < 4; w++)
        {
            // Each window's performance against brute force over its own 2000 (score, label) pairs.
            var pairs = Enumerable.Range(2000 * w, 2000).Select(i => (Score: records[i].Prediction.NumberValue, Label: labels[i])).ToList();
            var performance = reports[w].Performance;
            Assert.Equal((2000L, 2000L), (performance.Predictions, performance.Labelled));
            var c = performance.Classification;
            long tp = pairs.Count(p => p.Label && p.Score >= 0.5), fp = pairs.Count(p => !p.Label && p.Score >= 0.5);
            long tn = pairs.Count(p => !p.Label && p.Score < 0.5), fn = pairs.Count(p => p.Label && p.Score < 0.5);
            Assert.Equal((tp, fp, tn, fn), (c.TruePositives, c.FalsePositives, c.TrueNegatives, c.FalseNegatives));
            Assert.Equal((tp + tn) / 2000.0, c.Accuracy, 12);
            Assert.Equal(2.0 * tp / ((2 * tp) + fp + fn), c.F1, 12);
            Assert.Equal(pairs.Average(p => -Math.Log(p.Label ? p.Score : 1 - p.Score)), c.LogLoss, 9);
            var positives = pairs.Where(p => p.Label).Select(p => p.Score).ToList();
            var negatives = pairs.Where(p => !p.Label).Select(p => p.Score).ToList();
            var auc = positives.Sum(p => negatives.Sum(n => p > n ? 1.0 : p == n ? 0.5 : 0)) / ((double)positives.Count * negatives.Count);
            Assert.InRange(Math.Abs(c.Auc - auc), 0, c.AucBound + 1e-12);
            output.WriteLine($"window {w}: accuracy {c.Accuracy:F3}, AUC {c.Auc:F3}, log loss {c.LogLoss:F3}");
        }

        Assert.True(reports[0].Performance.Classification.Accuracy > 0.6 && reports[3].Performance.Classification.Accuracy < 0.4);

        // The page shows the window's performance, the accuracy over the four windows, and the model's output apart.
        var page = (await _serving.Raw.RenderWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", WindowStart = reports[3].WindowStart },
            cancellationToken: Cancellation)).Html;
        var document = System.Xml.Linq.XDocument.Parse(page.Replace("<!DOCTYPE html>", "", StringComparison.Ordinal));
        var sections = document.Descendants("section").ToList();
        Assert.Equal(["Performance", "Model output: score", "income", "age", "debt", "tenure", "region", "owner"],
            sections.Select(s => s.Element("h2")!.Nodes().OfType<System.Xml.Linq.XText>().First().Value.Trim()));
        Assert.Contains(sections[0].Descendants("tr"), r => r.Element("th")!.Value == "accuracy" &&
            r.Element("td")!.Value == reports[3].Performance.Classification.Accuracy.ToString("G4", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(4, sections[0].Descendants().Count(e => e.Name.LocalName == "circle"));
        // The inputs did not move: no data drift, and the predictions' distribution held too.
        Assert.All(reports, r => Assert.DoesNotContain(r.Columns, c => c.Drifted));
        Assert.All(reports, r => Assert.False(r.Prediction.Drifted));
        Assert.DoesNotContain(reports[0].Columns, c => c.Column == "score");

        // Each detector announced the change once, after it happened.
        var events = (await OutboxAsync(_environment.DatabaseConnectionString, model, Cancellation)).Where(e => e.Type == "ConceptDriftDetected").ToList();
        Assert.Equal(["ADWIN", "DDM", "PAGE_HINKLEY"], events.Select(e => e.Payload.RootElement.GetProperty("detector").GetString()).Order());
        foreach (var e in events)
        {
            var at = (int)(e.Payload.RootElement.GetProperty("predictedAt").GetDateTimeOffset() - start).TotalMilliseconds;
            Assert.InRange(at, 4000, 7999);
            output.WriteLine($"{e.Payload.RootElement.GetProperty("detector").GetString()}: drift signalled {at - 4000} labels after the change");
        }

        var status = (await _serving.Raw.GetStatusAsync(new GetStatusRequest(), cancellationToken: Cancellation)).Models.Single(m => m.Model == model);
        Assert.True(status.Watched && status.HasReference);
        Assert.Equal(["ADWIN", "DDM", "PAGE_HINKLEY"], status.Detectors.Select(d => d.Detector));
        Assert.All(status.Detectors, d => Assert.Equal(8000, d.Values));
        Assert.All(status.Detectors, d => Assert.True(d.Drifts >= 1));
        Assert.All(status.Detectors, d => Assert.Equal(1, d.Episodes));
        output.WriteLine(string.Join("; ", status.Detectors.Select(d => $"{d.Detector}: {d.Drifts} signals, {d.Episodes} episode")));
        Assert.InRange(status.Detectors[0].Mean, 0.5, 1);

        // Prometheus sees the latest window's performance (once the reporter's refresh follows the last label batch)
        // and the detectors' drifts and episodes.
        using var http = new HttpClient();
        List<string> lines = [];
        double? exported = null;
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            lines = [.. (await http.GetStringAsync($"{_service.HttpAddress}/metrics", Cancellation)).Split('\n').Where(l => l.Contains($"model=\"{model}\"", StringComparison.Ordinal))];
            var accuracy = lines.SingleOrDefault(l => l.StartsWith("modelops_drift_performance{", StringComparison.Ordinal) && l.Contains("metric=\"accuracy\"", StringComparison.Ordinal));
            exported = accuracy is null ? null : double.Parse(accuracy.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);
            return exported is { } value && Math.Abs(value - reports[3].Performance.Classification.Accuracy) < 1e-9;
        }, TimeSpan.FromSeconds(20)), $"exported accuracy {exported}, the report's {reports[3].Performance.Classification.Accuracy}");
        Assert.Equal(3, lines.Count(l => l.StartsWith("modelops_drift_concept_drift_episodes{", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal)));
        Assert.Equal(3, lines.Count(l => l.StartsWith("modelops_drift_concept_drifts{", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("modelops_drift_watched{", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("modelops_drift_prediction_drifted{", StringComparison.Ordinal) && l.EndsWith(" 0", StringComparison.Ordinal));

        // Bad labels name the label; labels of a version whose reference names no task have nothing to join.
        var bad = await Assert.ThrowsAsync<RpcException>(() => _serving.IngestLabelsAsync(model, "1",
            [new Label { RequestId = "q1", Value = Value.ForNumber(0.5) }, new Label { RequestId = "", Value = Value.ForBool(true) }], Cancellation));
        Assert.Equal(["messages[0].labels[0].value", "messages[0].labels[1].request_id"], Violations(bad).Select(v => v.Field));
        var plain = $"plain-{Guid.NewGuid():N}"[..13];
        await _pipeline.SetReferenceAsync(Header(plain, new WindowPolicy { Records = 10 }), Rows(new LoanTraffic(3), 100), Cancellation);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() =>
            _serving.IngestLabelsAsync(plain, "1", [new Label { RequestId = "a", Value = Value.ForBool(true) }], Cancellation))).StatusCode);
        var noPrediction = await Assert.ThrowsAsync<RpcException>(() => _serving.IngestAsync(
            [new InferenceRecord { Model = plain, Version = "1", Features = { new LoanTraffic(4).Features(false) }, Prediction = Value.ForNumber(0.3) }], Cancellation));
        Assert.Equal("messages[0].records[0].prediction", Violations(noPrediction).Single().Field);
        var outOfRange = await Assert.ThrowsAsync<RpcException>(() => _serving.IngestAsync(
            [new InferenceRecord { Model = model, Version = "1", Features = { new LoanTraffic(4).Features(false) }, Prediction = Value.ForNumber(1.5) }], Cancellation));
        Assert.Equal("messages[0].records[0].prediction", Violations(outOfRange).Single().Field);
    }

    [Fact(Timeout = 180_000)]
    public async Task ARegressionsShiftedOutputIsPredictionDriftAndItsErrorsAreMeasured()
    {
        var model = $"amount-{Guid.NewGuid():N}"[..14];
        await SetPredictingReferenceAsync(model, 3000, "amount", ModelTask.Regression, 31, features => Amount(features, 0));
        await _admin.Raw.SetWatchAsync(new SetWatchRequest { Model = model, Version = "1", Watch = true, Reason = "canary" }, cancellationToken: Cancellation);

        // Two windows as one column-by-column batch; in the second the model's output rises by 8,000 on the same inputs.
        var traffic = new LoanTraffic(32);
        var features = Enumerable.Range(0, 6000).Select(_ => traffic.Features(shifted: false)).ToList();
        var predictions = features.Select((f, i) => Amount(f, i < 3000 ? 0 : 8_000)).ToList();
        var batch = Batch(model, features);
        batch.RequestIds.Add(Enumerable.Range(0, 6000).Select(i => $"a{i}"));
        batch.Columns.Add(new BatchColumn { Name = "amount", Numbers = { predictions } });
        Assert.Equal(6000, (await _serving.IngestBatchesAsync([batch], Cancellation)).Accepted);
        var actual = features.Select(f => Amount(f, 0) + (f["age"].NumberValue * 37 % 500)).ToList();
        var answer = await _serving.IngestLabelsAsync(model, "1", actual.Select((y, i) => new Label { RequestId = $"a{i}", Value = Value.ForNumber(y) }), Cancellation);
        Assert.Equal(6000, answer.Matched);

        List<WindowReport> reports = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 2,
            TimeSpan.FromSeconds(30)));
        reports.Reverse();
        Assert.Equal([false, true], reports.Select(r => r.Prediction.Drifted));
        Assert.All(reports, r => Assert.Equal(0, r.DriftShare));
        for (var w = 0; w < 2; w++)
        {
            var errors = Enumerable.Range(3000 * w, 3000).Select(i => predictions[i] - actual[i]).ToList();
            Assert.Equal(Math.Sqrt(errors.Average(e => e * e)), reports[w].Performance.Regression.Rmse, 9);
            Assert.Equal(errors.Average(Math.Abs), reports[w].Performance.Regression.Mae, 9);
        }

        // Announced as drift of the output alone.
        var detected = Assert.Single(await OutboxAsync(_environment.DatabaseConnectionString, model, Cancellation), e => e.Type == "DriftDetected");
        Assert.True(detected.Payload.RootElement.GetProperty("predictionDrifted").GetBoolean());
        Assert.Equal(["amount"], detected.Payload.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("column").GetString()));

        // The output's score over time, like any column's.
        var history = await _serving.Raw.GetColumnHistoryAsync(new GetColumnHistoryRequest { Model = model, Version = "1", Column = "amount" }, cancellationToken: Cancellation);
        Assert.Equal([true, false], history.Points.Select(p => p.Drifted));
        Assert.Equal(reports[1].Prediction.Statistic, history.Points[0].Statistic);
    }

    [Fact(Timeout = 180_000)]
    public async Task VersionsAreWatchedWhileTheRegistryHasThemInProductionAndOnlyTheirDriftIsAnnounced()
    {
        var model = $"loans-{Guid.NewGuid():N}"[..13];
        var now = DateTimeOffset.UtcNow;
        StageChanged Move(int version, string? from, string to, DateTimeOffset at) => new()
        {
            Actor = "reviewer-2", Model = model, Version = version, RunId = new string('a', 32), From = from, To = to, ArtifactSha256 = new string('0', 64),
            Override = false, Reason = "ship it", OccurredAt = at,
            Kind = to.StartsWith("alias:", StringComparison.Ordinal) ? TargetKind.Alias : TargetKind.Stage,
            Stage = to.StartsWith("stage:", StringComparison.Ordinal) ? System.Enum.Parse<ModelStage>(to[6..], ignoreCase: true) : null,
            PreviousStage = from?.StartsWith("stage:", StringComparison.Ordinal) == true ? System.Enum.Parse<ModelStage>(from[6..], ignoreCase: true) : null,
            Alias = to.StartsWith("alias:", StringComparison.Ordinal) ? to[6..] : null,
            PreviousVersion = to.StartsWith("alias:", StringComparison.Ordinal) && int.TryParse(from, out var previous) ? previous : null,
        };

        // Version 1 enters Production before it has a reference: watched, but not monitored.
        await PublishUntilAsync(Move(1, "stage:STAGING", "stage:PRODUCTION", now), async () =>
            (await StatusAsync(model, "1", includeUnwatched: false)) is { Watched: true });
        var status = await StatusAsync(model, "1", includeUnwatched: false);
        Assert.False(status!.HasReference);
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 2000 }, "1"), Rows(new LoanTraffic(41), 10_000), Cancellation);
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 2000 }, "2"), Rows(new LoanTraffic(41), 10_000), Cancellation);
        Assert.True((await StatusAsync(model, "1", includeUnwatched: false))!.HasReference);
        Assert.Null(await StatusAsync(model, "2", includeUnwatched: false));

        // Shifted traffic for both: only the watched version's drift is announced; the other is reported all the same.
        var traffic = new LoanTraffic(42);
        await _serving.IngestAsync(Enumerable.Range(0, 2000).SelectMany(_ => new[] { "1", "2" }).Select(v => new InferenceRecord
        {
            Model = model, Version = v, Features = { traffic.Features(shifted: true) },
        }), Cancellation);
        Assert.True(await Eventually.HoldsAsync(async () =>
            (await StatusAsync(model, "2", includeUnwatched: true))?.Latest is not null && (await StatusAsync(model, "1", includeUnwatched: false))?.Latest is not null,
            TimeSpan.FromSeconds(30)));
        Assert.Contains((await StatusAsync(model, "2", includeUnwatched: true))!.Latest.Columns, c => c.Drifted);
        var detected = Assert.Single(await OutboxAsync(_environment.DatabaseConnectionString, model, Cancellation), e => e.Type == "DriftDetected");
        Assert.Equal("1", detected.Payload.RootElement.GetProperty("version").GetString());
        Assert.True((await StatusAsync(model, "1", includeUnwatched: false))!.Drifting);

        // Version 2 replaces it: 1 leaves Production, 2 enters. An older event delivered late changes nothing.
        await PublishUntilAsync(Move(1, "stage:PRODUCTION", "stage:ARCHIVED", now.AddMinutes(2)), async () =>
            (await StatusAsync(model, "1", includeUnwatched: false)) is null);
        await PublishUntilAsync(Move(2, "stage:STAGING", "stage:PRODUCTION", now.AddMinutes(2)), async () =>
            (await StatusAsync(model, "2", includeUnwatched: false)) is { Watched: true });
        await PublishUntilAsync(Move(1, "stage:STAGING", "stage:PRODUCTION", now.AddMinutes(1)), async () =>
            await InboxCountAsync() >= 4);
        var one = await StatusAsync(model, "1", includeUnwatched: true);
        Assert.False(one!.Watched);
        Assert.False(one.Drifting);
        // An alias can be served as well as Production: it starts a watch, and its move ends it.
        await PublishUntilAsync(Move(3, null, "alias:challenger", now.AddMinutes(3)), async () =>
            (await StatusAsync(model, "3", includeUnwatched: false)) is { Watched: true });
        await PublishUntilAsync(Move(4, "3", "alias:challenger", now.AddMinutes(4)), async () =>
            (await StatusAsync(model, "4", includeUnwatched: false)) is { Watched: true });
        Assert.False((await StatusAsync(model, "3", includeUnwatched: true))!.Watched);
        // Version 2 still serves Production when it also takes the alias and then loses it.
        await PublishUntilAsync(Move(2, "4", "alias:challenger", now.AddMinutes(5)), async () =>
            (await StatusAsync(model, "4", includeUnwatched: true)) is { Watched: false });
        await PublishUntilAsync(Move(4, "2", "alias:challenger", now.AddMinutes(6)), async () =>
            (await StatusAsync(model, "4", includeUnwatched: true)) is { Watched: true });
        Assert.True((await StatusAsync(model, "2", includeUnwatched: false))!.Watched);
    }

    [Fact(Timeout = 180_000)]
    public async Task AModelsMonitoringPolicyChoosesMethodsThresholdsAndWeightsAndIsCheckedAgainstItsColumns()
    {
        var model = $"policy-{Guid.NewGuid():N}"[..14];
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 2000 }), Rows(new LoanTraffic(51), 10_000), Cancellation);

        var bad = await Assert.ThrowsAsync<RpcException>(async () => await _pipeline.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest
        {
            Policy = new MonitoringPolicy
            {
                Model = model,
                Rules =
                {
                    new V1.ColumnRule { Column = "salary", Method = DriftMethod.PopulationStabilityIndex },
                    new V1.ColumnRule { Column = "region", Method = DriftMethod.KolmogorovSmirnov },
                    new V1.ColumnRule { Column = "age", Method = DriftMethod.ChiSquare, Threshold = 5 },
                    new V1.ColumnRule { Column = "age", Method = DriftMethod.TotalVariation },
                },
                Importance = { ["income"] = -1, ["height"] = 2 },
                DatasetThreshold = 2,
                Preset = (DriftPreset)9,
            },
        }, cancellationToken: Cancellation));
        // Every fault is named, whether the request's own shape or the columns of the reference found it.
        Assert.Equal(
            new[]
            {
                "reason", "policy.dataset_threshold", "policy.rules[0].column", "policy.rules[1].method", "policy.rules[2].threshold",
                "policy.rules[3].column", "policy.importance[income]", "policy.importance[height]", "policy.preset",
            }.Order(StringComparer.Ordinal),
            Violations(bad).Select(v => v.Field).Order(StringComparer.Ordinal));

        // Income by PSI, region by total variation; income and debt carry most of the weight, and the dataset is
        // judged by the weighted share.
        var policy = new MonitoringPolicy
        {
            Model = model,
            Rules =
            {
                new V1.ColumnRule { Column = "income", Method = DriftMethod.PopulationStabilityIndex, Threshold = 0.1 },
                new V1.ColumnRule { Column = "region", Method = DriftMethod.TotalVariation },
            },
            Importance = { ["income"] = 5, ["debt"] = 3, ["age"] = 1, ["tenure"] = 1, ["region"] = 1, ["owner"] = 1 },
            Weighted = true,
        };
        var stored = await _pipeline.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest { Policy = policy, Reason = "income matters most" },
            cancellationToken: Cancellation);
        Assert.Equal((1, "trainer"), (stored.Revision, stored.CreatedBy));
        Assert.Equal(stored, await _pipeline.Raw.GetMonitoringPolicyAsync(new GetMonitoringPolicyRequest { Model = model }, cancellationToken: Cancellation));
        Assert.Contains(await OutboxAsync(_environment.DatabaseConnectionString, model, Cancellation), e => e.Type == "MonitoringPolicyChanged" && e.Payload.RootElement.GetProperty("revision").GetInt32() == 1);

        var traffic = new LoanTraffic(52);
        await _serving.IngestAsync(Enumerable.Range(0, 4000).Select(i => new InferenceRecord
        {
            Model = model, Version = "1", Features = { traffic.Features(shifted: i >= 2000) },
        }), Cancellation);
        List<WindowReport> reports = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 2,
            TimeSpan.FromSeconds(30)));
        var shifted = reports[0];
        Assert.Equal(DriftMethod.PopulationStabilityIndex, shifted.Columns.Single(c => c.Column == "income").Method);
        Assert.Equal(0.1, shifted.Columns.Single(c => c.Column == "income").Threshold);
        Assert.Equal(DriftMethod.TotalVariation, shifted.Columns.Single(c => c.Column == "region").Method);
        Assert.Equal(DriftMethod.NormedWasserstein, shifted.Columns.Single(c => c.Column == "age").Method);
        Assert.Equal(["income", "debt"], shifted.Columns.Where(c => c.Drifted).Select(c => c.Column));
        Assert.Equal(2 / 6.0, shifted.DriftShare, 12);
        Assert.Equal(8 / 12.0, shifted.WeightedDriftShare, 12);
        Assert.True(shifted.DatasetDrifted);
        Assert.False(reports[1].DatasetDrifted);

        // The income score over the windows, a page at a time.
        var page = await _serving.Raw.GetColumnHistoryAsync(new GetColumnHistoryRequest { Model = model, Version = "1", Column = "income", PageSize = 1 },
            cancellationToken: Cancellation);
        Assert.Equal(shifted.WindowStart, page.Points.Single().WindowStart);
        Assert.True(page.Points[0].Drifted);
        var next = await _serving.Raw.GetColumnHistoryAsync(new GetColumnHistoryRequest
        {
            Model = model, Version = "1", Column = "income", PageSize = 1, PageToken = page.NextPageToken,
        }, cancellationToken: Cancellation);
        Assert.Equal((reports[1].WindowStart, false, ""), (next.Points.Single().WindowStart, next.Points[0].Drifted, next.NextPageToken));

        // Evidently's conventions for the next windows: with 10,000 reference rows, Jensen–Shannon for the labels and the
        // boolean (a rule still wins), and the report says which conventions judged it.
        await _pipeline.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest
        {
            Policy = new MonitoringPolicy { Model = model, Preset = DriftPreset.Evidently, Rules = { new V1.ColumnRule { Column = "region", Method = DriftMethod.TotalVariation } } },
            Reason = "compare with the Evidently reports we had",
        }, cancellationToken: Cancellation);
        Assert.Equal(DriftPreset.Modelops, reports[0].Preset);
        await _serving.IngestAsync(Enumerable.Range(0, 2000).Select(_ => new InferenceRecord { Model = model, Version = "1", Features = { traffic.Features(shifted: false) } }), Cancellation);
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 3,
            TimeSpan.FromSeconds(30)));
        Assert.Equal(DriftPreset.Evidently, reports[0].Preset);
        Assert.Equal(DriftMethod.JensenShannon, reports[0].Columns.Single(c => c.Column == "owner").Method);
        Assert.Equal(DriftMethod.TotalVariation, reports[0].Columns.Single(c => c.Column == "region").Method);
        Assert.Equal(DriftMethod.NormedWasserstein, reports[0].Columns.Single(c => c.Column == "age").Method);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => _serving.Raw.GetColumnHistoryAsync(
            new GetColumnHistoryRequest { Model = model, Version = "1", Column = "salary" }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("column", Violations(unknown).Single().Field);

        // Only a pipeline or an admin sets a policy; only an admin watches by hand.
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => _serving.Raw.SetMonitoringPolicyAsync(
            new SetMonitoringPolicyRequest { Policy = policy, Reason = "r" }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => _pipeline.Raw.SetWatchAsync(
            new SetWatchRequest { Model = model, Version = "1", Watch = true, Reason = "r" }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
    }

    [Fact(Timeout = 180_000)]
    public async Task ItServesTheRegistryGatesOnAReferenceAndOnAVersionsOwnTraffic()
    {
        var model = $"gated-{Guid.NewGuid():N}"[..13];
        var gates = new Registry.V1.GateService.GateServiceClient(Invoker(_channel, _environment.Tokens, "service:registry", "service"));
        async Task<Registry.V1.EvaluateGateResponse> AskAsync(string gate, params (string Name, string Value)[] parameters) =>
            await gates.EvaluateGateAsync(new Registry.V1.EvaluateGateRequest
            {
                Gate = gate, Model = model, Version = 1, Parameters = { parameters.ToDictionary(p => p.Name, p => p.Value) },
            }, cancellationToken: Cancellation);

        // Nothing to judge yet.
        Assert.Equal(Registry.V1.GateStatus.Pending, (await AskAsync("drift.reference")).Status);
        Assert.Equal(Registry.V1.GateStatus.Pending, (await AskAsync("drift.shadow_traffic")).Status);

        await SetPredictingReferenceAsync(model, 2000, "score", ModelTask.BinaryClassification, 61, features => Risk(features));
        var reference = await AskAsync("drift.reference");
        Assert.Equal((Registry.V1.GateStatus.Pass, "5000"), (reference.Status, reference.Evidence["reference_rows"]));
        Assert.Equal(Registry.V1.GateStatus.Fail, (await AskAsync("drift.reference", ("min_rows", "10000"))).Status);
        Assert.Equal(Registry.V1.GateStatus.Pending, (await AskAsync("drift.shadow_traffic")).Status);

        // A window of the candidate's own (shadow) traffic like the reference's: it passes; asked for accuracy, it
        // waits for labels, then passes or fails on them.
        var traffic = new LoanTraffic(62);
        var outcomes = new Random(63);
        async Task<List<double>> SendAsync(int from, bool shifted)
        {
            var records = Enumerable.Range(from, 2000).Select(i =>
            {
                var features = traffic.Features(shifted);
                return new InferenceRecord { Model = model, Version = "1", RequestId = $"s{i}", Features = { features }, Prediction = Value.ForNumber(Risk(features)) };
            }).ToList();
            await _serving.IngestAsync(records, Cancellation);
            return [.. records.Select(r => r.Prediction.NumberValue)];
        }

        var scores = await SendAsync(0, shifted: false);
        Assert.True(await Eventually.HoldsAsync(async () => (await AskAsync("drift.shadow_traffic")).Status != Registry.V1.GateStatus.Pending, TimeSpan.FromSeconds(30)));
        var clean = await AskAsync("drift.shadow_traffic");
        Assert.True(clean.Status == Registry.V1.GateStatus.Pass, clean.Reason);
        Assert.Equal("2000", clean.Evidence["rows"]);
        Assert.Equal(Registry.V1.GateStatus.Pending, (await AskAsync("drift.shadow_traffic", ("min_accuracy", "0.7"))).Status);
        await _serving.IngestLabelsAsync(model, "1", scores.Select((p, i) => new Label { RequestId = $"s{i}", Value = Value.ForBool(outcomes.NextDouble() < p) }), Cancellation);
        var accurate = await AskAsync("drift.shadow_traffic", ("min_accuracy", "0.7"));
        Assert.True(accurate.Status == Registry.V1.GateStatus.Pass, accurate.Reason);
        var demanding = await AskAsync("drift.shadow_traffic", ("min_accuracy", "0.95"));
        Assert.Equal(Registry.V1.GateStatus.Fail, demanding.Status);
        Assert.StartsWith("accuracy 0.", demanding.Reason, StringComparison.Ordinal);

        // Shifted traffic: income and debt move, and with them the model's output.
        await SendAsync(2000, shifted: true);
        Registry.V1.EvaluateGateResponse shifted = null!;
        Assert.True(await Eventually.HoldsAsync(async () => (shifted = await AskAsync("drift.shadow_traffic")).Status == Registry.V1.GateStatus.Fail,
            TimeSpan.FromSeconds(30)));
        Assert.Equal("the model's output drifted", shifted.Reason);
        Assert.Equal("income,debt", shifted.Evidence["drifted_columns"]);
        Assert.Equal("the model's output drifted", (await AskAsync("drift.shadow_traffic", ("max_drift_share", "0.5"))).Reason);
        Assert.Equal("33% of the columns drifted, more than 20%; the model's output drifted", (await AskAsync("drift.shadow_traffic", ("max_drift_share", "0.2"))).Reason);

        // A gate or a parameter it does not know cannot pass; a pipeline cannot ask.
        Assert.Equal((Registry.V1.GateStatus.Fail, "the drift service serves 'drift.reference' and 'drift.shadow_traffic', not 'drift.other'"),
            ((await AskAsync("drift.other")).Status, (await AskAsync("drift.other")).Reason));
        Assert.Equal("parameter 'min_rows' must be a number ≥ 0, not 'many'", (await AskAsync("drift.reference", ("min_rows", "many"))).Reason);
        Assert.StartsWith("unknown parameter 'rows'", (await AskAsync("drift.reference", ("rows", "1"))).Reason, StringComparison.Ordinal);
        var pipelineGates = new Registry.V1.GateService.GateServiceClient(Invoker(_channel, _environment.Tokens, "trainer", "pipeline"));
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() =>
            pipelineGates.EvaluateGateAsync(new Registry.V1.EvaluateGateRequest { Gate = "drift.reference", Model = model, Version = 1 }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
    }

    // A reference of 5000 rows of loan traffic with the model's output (from predict) in its prediction column.
    private Task<Reference> SetPredictingReferenceAsync(
        string model, long windowRecords, string output, ModelTask task, ulong seed, Func<Dictionary<string, Value>, double> predict)
    {
        var header = Header(model, new WindowPolicy { Records = windowRecords });
        header.Columns.Add(new Column { Name = output, Kind = ColumnKind.Numeric });
        header.PredictionColumn = output;
        header.Task = task;
        var training = new LoanTraffic(seed);
        return _pipeline.SetReferenceAsync(header, Enumerable.Range(0, 5000).Select(_ =>
        {
            var features = training.Features(shifted: false);
            features[output] = Value.ForNumber(predict(features));
            return new Row { Values = { features } };
        }), Cancellation);
    }

    // A fixed linear model of a loan amount.
    private static double Amount(Dictionary<string, Value> features, double bias) =>
        (0.3 * features["income"].NumberValue) - (0.5 * features["debt"].NumberValue) + bias;

    private async Task<ModelStatus?> StatusAsync(string model, string version, bool includeUnwatched) =>
        (await _serving.Raw.GetStatusAsync(new GetStatusRequest { IncludeUnwatched = includeUnwatched }, cancellationToken: Cancellation)).Models
        .SingleOrDefault(m => m.Model == model && m.Version == version);

    // The consumer's queue may not be bound the moment the service is up: the event is published again until it has
    // acted (the same event id, so it acts once).
    private async Task PublishUntilAsync(StageChanged changed, Func<Task<bool>> acted)
    {
        if (_bus is null)
        {
            var broker = BrokerAddress.Parse(_environment.BrokerConnectionString);
            _bus = Bus.Factory.CreateUsingRabbitMq(rabbit => rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
            {
                host.Username(broker.Username);
                host.Password(broker.Password);
            }));
            await _bus.StartAsync(Cancellation);
        }

        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            await _bus.Publish(changed, Cancellation);
            return await Eventually.HoldsAsync(acted, TimeSpan.FromSeconds(3));
        }, TimeSpan.FromSeconds(60)));
    }

    private async Task<long> InboxCountAsync()
    {
        await using var connection = new NpgsqlConnection(_environment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM inbox_messages WHERE consumer = 'StageChangedConsumer'", connection);
        return (long)(await command.ExecuteScalarAsync(Cancellation))!;
    }
}

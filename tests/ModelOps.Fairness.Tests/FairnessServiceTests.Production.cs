using Google.Protobuf.WellKnownTypes;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.Fairness.V1;
using ModelOps.Ledger.V1;
using ModelOps.Testing;

namespace ModelOps.Fairness.Tests;

/// <summary>Production traffic sent once, to drift: its windows' counts per group reach fairness, which announces bias.</summary>
public sealed partial class FairnessServiceTests
{
    [Fact(Timeout = 180_000)]
    public async Task BiasInjectedIntoProductionTrafficIsAnnouncedOnceAndResolvedAndBothAreInTheLedger()
    {
        var model = $"credit-{Guid.NewGuid():N}"[..20];
        var drift = new DriftClient(_stack.Invoker("drift", _stack.As("trainer", ["pipeline"])));
        var serving = new DriftClient(_stack.Invoker("drift", _stack.As("service:serving", ["service"])));
        var admin = new DriftClient(_stack.Invoker("drift", _stack.As("ops", ["admin"])));
        var applicants = CreditData.Generate(1000, bias: 0, seed: 8);
        await drift.SetReferenceAsync(new ReferenceHeader
        {
            Model = model, Version = "1", Window = new WindowPolicy { Records = 600 }, PredictionColumn = "score", Task = ModelOps.Drift.V1.ModelTask.BinaryClassification,
            Columns = { new Column { Name = "sex", Kind = ColumnKind.Categorical }, new Column { Name = "age_band", Kind = ColumnKind.Categorical }, new Column { Name = "score", Kind = ColumnKind.Numeric } },
        }, applicants.Select(a => new Row
        {
            Values = { ["sex"] = Value.ForString(a.Sex), ["age_band"] = a.AgeBand is null ? Value.ForNull() : Value.ForString(a.AgeBand), ["score"] = Value.ForNumber(a.Score) },
        }), Cancellation);
        await drift.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest
        {
            Reason = "watch the sexes' approval rates",
            Policy = new MonitoringPolicy { Model = model, Fairness = new FairnessWatch { SensitiveColumns = { "sex" }, MinRatio = 0.8, MaxDifference = 0.2 } },
        }, cancellationToken: Cancellation);
        await admin.Raw.SetWatchAsync(new SetWatchRequest { Model = model, Version = "1", Watch = true, Reason = "serves credit decisions" }, cancellationToken: Cancellation);

        // Three windows of 600 records, sent once each to drift: fair, biased against women, fair again. Labels join the
        // predictions of each as they arrive. All made at one instant: the count windows start together and are each judged.
        var at = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        for (var window = 0; window < 3; window++)
        {
            var traffic = CreditData.Generate(600, bias: window == 1 ? 0.25 : 0, seed: 100 + window);
            var records = traffic.Select((a, i) => new InferenceRecord
            {
                Model = model, Version = "1", RequestId = $"w{window}-{i}", Timestamp = at,
                Features = { ["sex"] = Value.ForString(a.Sex), ["age_band"] = a.AgeBand is null ? Value.ForNull() : Value.ForString(a.AgeBand) },
                Prediction = Value.ForNumber(a.Score),
            }).ToList();
            Assert.Equal(600, (await serving.IngestAsync(records, Cancellation)).Accepted);
            await serving.IngestLabelsAsync(model, "1", traffic.Select((a, i) => new Label { RequestId = $"w{window}-{i}", Value = Value.ForNumber(a.Label) }), Cancellation);
            Assert.True(await Eventually.HoldsAsync(async () =>
                (await _fairness.ListWindowReportsAsync(new ListReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports.Count == window + 1,
                TimeSpan.FromSeconds(30)), $"window {window} was not judged");
        }

        var reports = (await _fairness.ListWindowReportsAsync(new ListReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports.Reverse().ToList();
        Assert.Equal([false, true, false], reports.Select(r => r.Window.Biased));
        Assert.All(reports, r => Assert.Equal((600L, true), (r.Window.Records, r.Window.Watched)));
        Assert.Equal([0L, 1L, 2L], reports.Select(r => r.Window.CountWindow));
        var biased = reports[1].Groupings.Single(g => g.Name == "sex");
        var ratio = biased.Disparities.Single(d => d.Name == "demographic_parity_ratio");
        Assert.True(ratio.Value < 0.8, $"{ratio}");
        Assert.Equal(["sex=F", "sex=M"], ratio.Groups);
        // The selection rates are the records' own: counted from every record drift was sent.
        var women = biased.Groups.Single(g => g.Label == "sex=F");
        Assert.Equal(CreditData.Generate(600, 0.25, 101).Count(a => a.Sex == "F" && a.Score >= 0.5) / (double)women.Count, women.SelectionRate, 1e-12);
        Assert.Equal(["sex"], reports[1].Groupings.Select(g => g.Name));

        // Exactly one announcement each way, through the outbox into the ledger, with what was found.
        var ledger = new LedgerService.LedgerServiceClient(_stack.Invoker("ledger", _stack.As("audrey", ["auditor"])));
        List<Entry> entries = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            entries = [.. (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 },
                cancellationToken: Cancellation)).Entries];
            return entries.Any(e => e.EventType.EndsWith(".BiasResolved", StringComparison.Ordinal));
        }, TimeSpan.FromSeconds(30)));
        Assert.Equal(3, entries.Count(e => e.EventType.EndsWith(".WindowGroupsReported", StringComparison.Ordinal)));
        var detected = entries.Single(e => e.EventType.EndsWith(".BiasDetected", StringComparison.Ordinal));
        Assert.Single(entries, e => e.EventType.EndsWith(".BiasResolved", StringComparison.Ordinal));
        Assert.True(detected.Index < entries.Single(e => e.EventType.EndsWith(".BiasResolved", StringComparison.Ordinal)).Index);
        Assert.Contains("\"demographic_parity_ratio\"", detected.Data.ToStringUtf8(), StringComparison.Ordinal);
        Assert.Contains(reports[1].Id, detected.Data.ToStringUtf8(), StringComparison.Ordinal);
    }
}

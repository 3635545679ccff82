using System.Globalization;
using System.Text;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Drift.Client;
using ModelOps.Explainability.V1;
using ModelOps.Ledger.V1;
using ModelOps.Registry.V1;
using ModelOps.Testing;
using DriftV1 = ModelOps.Drift.V1;

namespace ModelOps.Explainability.Tests;

/// <summary>Production traffic sent once, to drift: its windows' samples reach explainability, which announces attribution drift.</summary>
public sealed partial class ExplainabilityServiceTests
{
    private static readonly string[] Features = [.. Enumerable.Range(0, 8).Select(i => $"f{i}")];

    [Fact(Timeout = 240_000)]
    public async Task AShiftInWhatDrivesPredictionsIsAnnouncedOnceAndResolvedAndBothAreInTheLedger()
    {
        var model = $"drivers-{Guid.NewGuid():N}"[..20];
        var reference = Applicants(600, seed: 1, shifted: false);
        var runId = await RunWithAsync(("model.json", Encoding.UTF8.GetBytes(Fixture.GetProperty("model").GetString()!)), ("reference.csv", CsvOf(reference)));
        var version = await _pipeline.RegisterVersionAsync(model, runId, "model.json", RiskTier.Low, cancellationToken: Cancellation);
        var importance = await _explain.ComputeImportanceAsync(new ComputeImportanceRequest
        {
            Model = new ModelRef { Model = model, Version = version.Version }, Dataset = new Dataset { RunId = runId, ArtifactPath = "reference.csv" },
        }, cancellationToken: Cancellation);

        var versionName = version.Version.ToString(CultureInfo.InvariantCulture);
        var drift = new DriftClient(_stack.Invoker("drift", _stack.As("trainer", ["pipeline"])));
        var serving = new DriftClient(_stack.Invoker("drift", _stack.As("service:serving", ["service"])));
        var admin = new DriftClient(_stack.Invoker("drift", _stack.As("ops", ["admin"])));
        await drift.SetReferenceAsync(new DriftV1.ReferenceHeader
        {
            Model = model, Version = versionName, Window = new DriftV1.WindowPolicy { Records = 400 },
            Columns = { Features.Select(f => new DriftV1.Column { Name = f, Kind = DriftV1.ColumnKind.Numeric }) },
        }, reference.Select(r => new DriftV1.Row { Values = { Values(r) } }), Cancellation);
        await drift.Raw.SetMonitoringPolicyAsync(new DriftV1.SetMonitoringPolicyRequest
        {
            Reason = "watch what drives the scores",
            Policy = new DriftV1.MonitoringPolicy { Model = model, Explainability = new DriftV1.ExplainabilityWatch { Enabled = true, SampleRows = 300, MaxShift = 0.3 } },
        }, cancellationToken: Cancellation);
        await admin.Raw.SetWatchAsync(new DriftV1.SetWatchRequest { Model = model, Version = versionName, Watch = true, Reason = "scores applicants" }, cancellationToken: Cancellation);

        // Three windows of 400 records, sent once each to drift: as the reference, then with the main driver (f0) stuck
        // at 0 and f4 four times as spread, then as the reference again. All made at one instant: the three count windows
        // start together, and each is judged on its own sample.
        var at = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
        var explain = new ExplainabilityService.ExplainabilityServiceClient(_stack.Invoker("explainability", _stack.As("audrey", ["auditor"])));
        for (var window = 0; window < 3; window++)
        {
            var traffic = Applicants(400, seed: 10 + window, shifted: window == 1);
            var records = traffic.Select((row, i) => new DriftV1.InferenceRecord
            {
                Model = model, Version = versionName, RequestId = $"w{window}-{i}", Timestamp = at, Features = { Values(row) },
            }).ToList();
            Assert.Equal(400, (await serving.IngestAsync(records, Cancellation)).Accepted);
            Assert.True(await Eventually.HoldsAsync(async () =>
                (await explain.ListAttributionWindowsAsync(new ListImportanceRequest { Model = model, Version = version.Version }, cancellationToken: Cancellation)).Windows.Count == window + 1,
                TimeSpan.FromSeconds(60)), $"window {window} was not judged");
        }

        var windows = (await explain.ListAttributionWindowsAsync(new ListImportanceRequest { Model = model, Version = version.Version }, cancellationToken: Cancellation))
            .Windows.Reverse().ToList();
        Assert.All(windows, w => Assert.Equal((true, 400L, 300L, importance.Id), (w.Judged, w.Records, w.Sampled, w.ReferenceReportId)));
        Assert.Equal([0L, 1L, 2L], windows.Select(w => w.CountWindow));
        Assert.Single(windows.Select(w => w.WindowStart).Distinct());
        Assert.Equal([false, true, false], windows.Select(w => w.Drifted));
        Assert.True(windows[1].Shift > 0.3 && windows[0].Shift < 0.3 && windows[2].Shift < 0.3, string.Join(", ", windows.Select(w => w.Shift)));
        Assert.Equal("f0", importance.Features[0].Feature);
        Assert.NotEqual("f0", windows[1].WindowTop[0]);
        Assert.True(windows[1].AttributionKs["f0"] > windows[0].AttributionKs["f0"]);

        // Exactly one announcement each way, through the outbox into the ledger; no production value is in the ledger.
        var ledger = new LedgerService.LedgerServiceClient(_stack.Invoker("ledger", _stack.As("audrey", ["auditor"])));
        List<Entry> entries = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            entries = [.. (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 },
                cancellationToken: Cancellation)).Entries];
            return entries.Any(e => e.EventType.EndsWith(".AttributionDriftResolved", StringComparison.Ordinal));
        }, TimeSpan.FromSeconds(30)));
        Assert.Equal(3, entries.Count(e => e.EventType.EndsWith(".WindowSampled", StringComparison.Ordinal)));
        var detected = entries.Single(e => e.EventType.EndsWith(".AttributionDriftDetected", StringComparison.Ordinal));
        var resolved = entries.Single(e => e.EventType.EndsWith(".AttributionDriftResolved", StringComparison.Ordinal));
        Assert.True(detected.Index < resolved.Index);
        Assert.Contains(importance.Id, detected.Data.ToStringUtf8(), StringComparison.Ordinal);
        Assert.Single(entries, e => e.EventType.EndsWith(".ImportanceComputed", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.Data.ToStringUtf8().Contains("w1-1", StringComparison.Ordinal));
    }

    // Applicants like the model's training data: eight standard normal features, 5% of values missing; shifted: f0 stuck
    // at 0 and f4 four times as spread.
    private static double[][] Applicants(int count, int seed, bool shifted)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            var row = Enumerable.Range(0, 8).Select(f => random.NextDouble() < 0.05 ? double.NaN : Normal()).ToArray();
            row[3] = 2.0;
            if (shifted)
            {
                row[0] = 0;
                row[4] *= 4;
            }

            return row;
        })];
    }

    private static Dictionary<string, Value> Values(double[] row) =>
        Features.Select((f, i) => (f, v: row[i])).ToDictionary(x => x.f, x => double.IsNaN(x.v) ? Value.ForNull() : Value.ForNumber(x.v));

    private static byte[] CsvOf(double[][] rows) => Encoding.UTF8.GetBytes(string.Join(",", Features) + "\n" + string.Concat(rows.Select(r =>
        string.Join(",", r.Select(v => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture))) + "\n")));
}

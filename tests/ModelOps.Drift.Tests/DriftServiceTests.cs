using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using System.Xml;
using System.Xml.Linq;
using Grpc.Net.Client;
using ModelOps.Hosting.Local;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.Testing;
using Npgsql;

using static ModelOps.Drift.Tests.DriftTraffic;

namespace ModelOps.Drift.Tests;

/// <summary>The drift service as a real process: references, streamed traffic, window reports and their events.</summary>
public sealed class DriftServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private ServiceProcess _service = null!;
    private LocalTenant _environment = null!;
    private GrpcChannel _channel = null!;
    private DriftClient _pipeline = null!;
    private DriftClient _serving = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (_service, _environment, _channel) = await StartServiceAsync(infrastructure, nameof(DriftServiceTests), Cancellation);
        _pipeline = new DriftClient(Invoker(_channel, _environment.Tokens, "trainer", "pipeline"));
        _serving = new DriftClient(Invoker(_channel, _environment.Tokens, "service:serving", "service"));
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _service.StopAsync();
    }

    [Fact(Timeout = 120_000)]
    public async Task AShiftInTwoFeaturesIsReportedInTheFirstWindowItReachesAndAnnouncedOnce()
    {
        var model = $"credit-{Guid.NewGuid():N}"[..14];
        var reference = await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 2000 }), Rows(new LoanTraffic(1), 20_000, shifted: false), Cancellation);
        Assert.Equal((20_000L, 6), (reference.Rows, reference.Columns.Count));
        Assert.Equal(2000, reference.Window.Records);
        var income = reference.Summary.Single(c => c.Name == "income");
        Assert.InRange(income.Mean, 39_000, 41_000);
        // Not in the registry: an admin watches it by hand, so its drift is announced.
        var watch = await new DriftClient(Invoker(_channel, _environment.Tokens, "ops", "admin")).Raw.SetWatchAsync(
            new SetWatchRequest { Model = model, Version = "1", Watch = true, Reason = "scored outside the registry" }, cancellationToken: Cancellation);
        Assert.Equal((true, "ops"), (watch.Watched, watch.ChangedBy));

        // Six windows of 2000 records, sent in three calls; income and debt move from the fifth window on.
        var traffic = new LoanTraffic(2);
        var records = Enumerable.Range(0, 12_000).Select(i => Record(model, traffic, shifted: i >= 8000)).ToList();
        long accepted = 0;
        foreach (var part in records.Chunk(4000))
        {
            accepted += (await _serving.IngestAsync(part, Cancellation)).Accepted;
        }

        Assert.Equal(12_000, accepted);
        List<WindowReport> reports = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 6,
            TimeSpan.FromSeconds(30)));
        reports.Reverse();
        Assert.All(reports, r => Assert.Equal(2000, r.Rows));
        Assert.Equal([[], [], [], [], ["income", "debt"], ["income", "debt"]], reports.Select(r => r.Columns.Where(c => c.Drifted).Select(c => c.Column).ToList()));
        Assert.All(reports.SelectMany(r => r.Columns).Where(c => c.Kind == ColumnKind.Numeric), c => Assert.Equal(DriftMethod.NormedWasserstein, c.Method));

        // The status changed once: one DriftDetected for the fifth window, in the outbox with the report.
        var events = await OutboxAsync(_environment.DatabaseConnectionString, model, Cancellation);
        Assert.Equal(["WatchChanged", "DriftDetected"], events.Select(e => e.Type));
        var detected = events[1];
        var payload = detected.Payload;
        Assert.Equal("warning", payload.RootElement.GetProperty("severity").GetString());
        Assert.Equal(["income", "debt"], payload.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("column").GetString()));
        Assert.Equal(reports[4].WindowStart.ToDateTimeOffset(), payload.RootElement.GetProperty("windowStart").GetDateTimeOffset());

        var status = await _serving.Raw.GetStatusAsync(new GetStatusRequest(), cancellationToken: Cancellation);
        Assert.Equal(reports[^1].WindowStart, status.Models.Single(m => m.Model == model).Latest.WindowStart);
        var one = await _serving.Raw.GetWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", WindowStart = reports[4].WindowStart }, cancellationToken: Cancellation);
        Assert.Equal(reports[4], one);

        // Prometheus sees the latest window: every column's score and verdict, and the version's drift share.
        using var http = new HttpClient();
        string metrics = "";
        Assert.True(await Eventually.HoldsAsync(async () =>
            (metrics = await http.GetStringAsync($"{_service.HttpAddress}/metrics", Cancellation)).Contains($"model=\"{model}\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20)));
        var lines = metrics.Split('\n').Where(l => l.Contains($"model=\"{model}\"", StringComparison.Ordinal)).ToList();
        Assert.Contains(lines, l => l.StartsWith("modelops_drift_drifted{", StringComparison.Ordinal) && l.Contains("column=\"income\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("modelops_drift_drifted{", StringComparison.Ordinal) && l.Contains("column=\"age\"", StringComparison.Ordinal) && l.EndsWith(" 0", StringComparison.Ordinal));
        Assert.Equal(6, lines.Count(l => l.StartsWith("modelops_drift_score{", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("modelops_drift_share{", StringComparison.Ordinal));

        // The page a person opens: well-formed, the two shifted columns marked, their distributions and scores drawn.
        var page = (await _serving.Raw.RenderWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", WindowStart = reports[4].WindowStart },
            cancellationToken: Cancellation)).Html;
        var document = XDocument.Load(XmlReader.Create(new StringReader(page), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore }));
        var sections = document.Descendants("section").ToList();
        static string Heading(XElement section) => section.Element("h2")!.Nodes().OfType<XText>().First().Value.Trim();
        Assert.Equal(["income", "age", "debt", "tenure", "region", "owner"], sections.Select(Heading));
        Assert.Equal(["income", "debt"], sections.Where(s => s.Element("h2")!.Elements("span").Any()).Select(Heading));
        Assert.Contains("2 of 6 columns drifted", page, StringComparison.Ordinal);
        var incomeBars = sections[0].Descendants().Where(e => e.Name.LocalName == "rect" && (string?)e.Attribute("class") == "cur" && e.Elements().Any()).ToList();
        Assert.Equal(reports[4].Columns[0].Histogram.Count, incomeBars.Count);
        // Six windows on the score line, the two drifted ones in red.
        Assert.Equal(6, sections[0].Descendants().Count(e => e.Name.LocalName == "circle"));
        Assert.Equal(2, sections[0].Descendants().Count(e => e.Name.LocalName == "circle" && (string?)e.Attribute("fill") == "#b00020"));
    }

    [Fact(Timeout = 180_000)]
    public async Task ThePythonDriftClientPassesItsSuiteAgainstTheService()
    {
        // clients/python/tests/test_drift.py with Debian's /usr/bin/python3: a reference, traffic column by column,
        // late labels, paged reports and refusals as DriftError.
        var address = new Uri(_service.GrpcAddress);
        var (exit, output) = await ChildProcess.RunPythonTestsAsync(["tests.test_drift"], new Dictionary<string, string>
        {
            ["MODELOPS_DRIFT_TARGET"] = $"{address.Host}:{address.Port}",
            ["MODELOPS_TOKEN"] = _environment.Tokens.CreateToken("python-pipeline", ["pipeline"]),
        }, Cancellation);
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("skipped", output, StringComparison.Ordinal);
        Assert.Contains("Ran 2 tests", output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task PastTheExactCapWindowsAreCentredAsTheirReferenceAndJudgedAsTheExactOnesAre()
    {
        // A second drift service keeping at most 50 distinct values exactly: every numeric column passes the cap.
        var (service, environment, channel) = await StartServiceAsync(infrastructure, nameof(DriftServiceTests) + "Cap", Cancellation,
            new Dictionary<string, string> { ["Drift:ExactValues"] = "50" });
        try
        {
            var pipeline = new DriftClient(Invoker(channel, environment.Tokens, "trainer", "pipeline"));
            var serving = new DriftClient(Invoker(channel, environment.Tokens, "service:serving", "service"));
            var model = $"capped-{Guid.NewGuid():N}"[..14];
            await pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 2000 }), Rows(new LoanTraffic(1), 20_000, shifted: false), Cancellation);

            // The stored reference hands its windows a centring per numeric column: its median and spread.
            await using (var connection = new NpgsqlConnection(environment.DatabaseConnectionString))
            {
                await connection.OpenAsync(Cancellation);
                await using var command = new NpgsqlCommand("SELECT columns::text FROM reference_profiles WHERE model = $1", connection) { Parameters = { new NpgsqlParameter { Value = model } } };
                using var columns = System.Text.Json.JsonDocument.Parse((string)(await command.ExecuteScalarAsync(Cancellation))!);
                var income = columns.RootElement.EnumerateArray().Single(c => c.GetProperty("name").GetString() == "income");
                Assert.InRange(income.GetProperty("centre").GetDouble(), 39_000, 41_000);
                Assert.True(income.GetProperty("scale").GetDouble() > 0);
                Assert.All(columns.RootElement.EnumerateArray().Where(c => c.GetProperty("kind").GetString() != "Numeric"), c => Assert.False(c.TryGetProperty("centre", out _)));
            }

            var traffic = new LoanTraffic(2);
            var records = Enumerable.Range(0, 12_000).Select(i => Record(model, traffic, shifted: i >= 8000)).ToList();
            foreach (var part in records.Chunk(4000))
            {
                await serving.IngestAsync(part, Cancellation);
            }

            List<WindowReport> reports = [];
            Assert.True(await Eventually.HoldsAsync(async () =>
                (reports = [.. (await serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 6,
                TimeSpan.FromSeconds(30)));
            reports.Reverse();
            // The verdicts of the exact comparison (the test above, same traffic), each figure with a bound far below its threshold.
            Assert.Equal([[], [], [], [], ["income", "debt"], ["income", "debt"]], reports.Select(r => r.Columns.Where(c => c.Drifted).Select(c => c.Column).ToList()));
            var numeric = reports.SelectMany(r => r.Columns).Where(c => c.Kind == ColumnKind.Numeric).ToList();
            Assert.All(numeric, c => Assert.InRange(c.StatisticBound, 0, 0.02));
            // Income and debt are continuous (judged from histograms, a bound above 0); tenure's few values stay exact.
            Assert.All(numeric.Where(c => c.Column is "income" or "debt"), c => Assert.True(c.StatisticBound > 0));
        }
        finally
        {
            channel.Dispose();
            await service.StopAsync();
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task ColumnarBatchesCountLikeRecordsAndAreCheckedColumnByColumn()
    {
        var model = $"batch-{Guid.NewGuid():N}"[..13];
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 3000 }), Rows(new LoanTraffic(7), 10_000, shifted: false), Cancellation);

        // The same 3000 records twice: once as records, once as a batch, into two count windows whose reports agree.
        var traffic = new LoanTraffic(8);
        var features = Enumerable.Range(0, 3000).Select(_ => traffic.Features(shifted: true)).ToList();
        features[5]["owner"] = Value.ForNull();
        Assert.Equal(3000, (await _serving.IngestAsync(features.Select(f => new InferenceRecord { Model = model, Version = "1", Features = { f } }), Cancellation)).Accepted);
        var batch = Batch(model, features);
        batch.Columns.Single(c => c.Name == "owner").Missing.AddRange(features.Select(f => f["owner"].KindCase == Value.KindOneofCase.NullValue));
        Assert.Equal(3000, (await _serving.IngestBatchesAsync([batch], Cancellation)).Accepted);

        List<WindowReport> reports = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 2,
            TimeSpan.FromSeconds(30)));
        Assert.Equal(reports[0].Columns.Select(c => (c.Column, c.Statistic, c.MissingRate, c.Drifted)), reports[1].Columns.Select(c => (c.Column, c.Statistic, c.MissingRate, c.Drifted)));
        Assert.Equal(["income", "debt"], reports[0].Columns.Where(c => c.Drifted).Select(c => c.Column));

        var bad = Batch(model, features.Take(10).ToList());
        bad.Columns.Single(c => c.Name == "age").Numbers.RemoveAt(0);
        bad.Columns.Add(new BatchColumn { Name = "salary", Numbers = { Enumerable.Repeat(1.0, 10) } });
        var region = bad.Columns.Single(c => c.Name == "region");
        region.Numbers.Add(Enumerable.Repeat(2.0, 10));
        var error = await Assert.ThrowsAsync<RpcException>(() => _serving.IngestBatchesAsync([bad], Cancellation));
        Assert.Equal(["messages[0].batch.columns[1]", "messages[0].batch.columns[4]", "messages[0].batch.columns[6].name"], Violations(error).Select(v => v.Field));
    }

    [Fact(Timeout = 120_000)]
    public async Task TimeWindowsAreReportedOnceTheyEndAndLateRecordsAreCountedNotProfiled()
    {
        var model = $"time-{Guid.NewGuid():N}"[..12];
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Seconds = 2, AllowedLatenessSeconds = 3 }), Rows(new LoanTraffic(3), 3000, shifted: false), Cancellation);
        var traffic = new LoanTraffic(4);
        var now = DateTimeOffset.UtcNow;
        // 2000 records: with far fewer, a 0.1 normed Wasserstein is within a few standard errors of sampling noise.
        var records = Enumerable.Range(0, 2000).Select(_ => Record(model, traffic, shifted: false, now)).ToList();
        records.Add(Record(model, traffic, shifted: false, now.AddHours(-1)));
        var response = await _serving.IngestAsync(records, Cancellation);
        Assert.Equal((2000L, 1L), (response.Accepted, response.Late));

        var windowStart = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() / 2 * 2);
        WindowReport? report = null;
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var reports = (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports;
            report = reports.SingleOrDefault();
            return report is not null;
        }, TimeSpan.FromSeconds(30)));
        Assert.Equal((windowStart, windowStart.AddSeconds(2), 2000L), (report!.WindowStart.ToDateTimeOffset(), report.WindowEnd.ToDateTimeOffset(), report.Rows));
        Assert.DoesNotContain(report.Columns, c => c.Drifted);
    }

    [Fact(Timeout = 120_000)]
    public async Task CountWindowsThatStartAtOneInstantAreEachAddressedByTheirNumber()
    {
        var model = $"same-{Guid.NewGuid():N}"[..12];
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 10 }), Rows(new LoanTraffic(9), 2000, shifted: false), Cancellation);
        var traffic = new LoanTraffic(10);
        var at = DateTimeOffset.UtcNow;
        Assert.Equal(30, (await _serving.IngestAsync(Enumerable.Range(0, 30).Select(i => Record(model, traffic, shifted: i >= 10, at)), Cancellation)).Accepted);

        List<WindowReport> listed = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (listed = [.. (await _serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = "1" }, cancellationToken: Cancellation)).Reports]).Count == 3,
            TimeSpan.FromSeconds(30)));
        // Three windows with one start and one end: only their numbers tell them apart.
        Assert.Single(listed.Select(r => (r.WindowStart, r.WindowEnd)).Distinct());
        Assert.Equal([0L, 1L, 2L], listed.Select(r => r.CountWindow).Order());
        foreach (var number in new long[] { 0, 1, 2 })
        {
            var found = await _serving.Raw.GetWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", CountWindow = number }, cancellationToken: Cancellation);
            Assert.Equal(number, found.CountWindow);
            Assert.Equal(listed.Single(r => r.CountWindow == number).Columns.Select(c => c.Statistic), found.Columns.Select(c => c.Statistic));
        }

        Assert.NotEqual(listed[0].Columns.Select(c => c.Statistic), listed[1].Columns.Select(c => c.Statistic));
        var byStart = await _serving.Raw.GetWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", WindowStart = listed[0].WindowStart }, cancellationToken: Cancellation);
        Assert.Equal(0, byStart.CountWindow);
        var negative = await Assert.ThrowsAsync<RpcException>(() =>
            _serving.Raw.GetWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", CountWindow = -1 }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal("count_window", Violations(negative).Single().Field);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            _serving.Raw.GetWindowReportAsync(new GetWindowReportRequest { Model = model, Version = "1", CountWindow = 3 }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task RecordsThatDoNotFitAreRefusedNamingTheRecordAndColumnAndTheOnesBeforeAreKept()
    {
        var model = $"bad-{Guid.NewGuid():N}"[..12];
        await _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 10 }), Rows(new LoanTraffic(5), 2000, shifted: false), Cancellation);
        var traffic = new LoanTraffic(6);
        var records = Enumerable.Range(0, 5).Select(_ => Record(model, traffic, shifted: false)).ToList();
        records[3].Features["salary"] = Value.ForNumber(1);
        using (var call = _serving.Raw.Ingest(cancellationToken: Cancellation))
        {
            await call.RequestStream.WriteAsync(new IngestRequest { Records = { records } }, Cancellation);
            await call.RequestStream.CompleteAsync();
            var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal("messages[0].records[3].features[salary]", Violations(error).Single().Field);
            Assert.Equal("3", error.Trailers.GetValue("accepted-records"));
        }

        var wrongType = Record(model, traffic, shifted: false);
        wrongType.Features["region"] = Value.ForNumber(7);
        var typeError = await Assert.ThrowsAsync<RpcException>(() => _serving.IngestAsync([wrongType], Cancellation));
        Assert.Equal("messages[0].records[0].features[region]", Violations(typeError).Single().Field);
        Assert.Contains("categorical", Violations(typeError).Single().Description, StringComparison.Ordinal);

        // Missing values of every sort are counted, not refused.
        var gaps = Record(model, traffic, shifted: false);
        gaps.Features["income"] = Value.ForNumber(double.NaN);
        gaps.Features["age"] = Value.ForNull();
        gaps.Features.Remove("debt");
        Assert.Equal(1, (await _serving.IngestAsync([gaps], Cancellation)).Accepted);

        var unknown = await Assert.ThrowsAsync<RpcException>(() => _serving.IngestAsync([Record("no-such-model", traffic, shifted: false)], Cancellation));
        Assert.Equal(StatusCode.FailedPrecondition, unknown.StatusCode);

        var header = Header(model, new WindowPolicy { Records = 0 });
        header.Columns.Add(new Column { Name = "income", Kind = ColumnKind.Numeric });
        header.Columns.Add(new Column { Name = "blank" });
        var badHeader = await Assert.ThrowsAsync<RpcException>(() => _pipeline.SetReferenceAsync(header, [], Cancellation));
        Assert.Equal(["header.columns[6].name", "header.columns[7].kind", "header.window.records"], Violations(badHeader).Select(v => v.Field));
        var empty = await Assert.ThrowsAsync<RpcException>(() => _pipeline.SetReferenceAsync(Header(model, new WindowPolicy { Records = 5 }), [], Cancellation));
        Assert.Equal("rows", Violations(empty).Single().Field);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() =>
            _serving.SetReferenceAsync(Header(model, new WindowPolicy { Records = 5 }), Rows(traffic, 10, shifted: false), Cancellation))).StatusCode);
    }

    private static InferenceRecord Record(string model, LoanTraffic traffic, bool shifted, DateTimeOffset? at = null) => new()
    {
        Model = model,
        Version = "1",
        RequestId = Guid.NewGuid().ToString(),
        Timestamp = Timestamp.FromDateTimeOffset(at ?? DateTimeOffset.UtcNow),
        Features = { traffic.Features(shifted) },
    };
}

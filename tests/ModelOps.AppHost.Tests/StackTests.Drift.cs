using System.Xml;
using System.Xml.Linq;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.Ledger.V1;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    [Fact(Timeout = 300_000)]
    public async Task AShiftInTwoFeaturesIsDetectedWithinOneWindowTheTeamIsToldOnceARetrainingIsAskedAndEveryStepReachesTheLedger()
    {
        var stack = running;
        var model = $"scoring-{Guid.NewGuid():N}"[..16];

        // The model's policy asks the drift service, as a remote gate, for a reference of at least 10,000 rows before
        // Production, besides provenance, integrity and two reviewers.
        using var registryChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["registry"]);
        var registry = new Registry.V1.RegistryService.RegistryServiceClient(registryChannel);
        await registry.CreateRegisteredModelAsync(new Registry.V1.CreateRegisteredModelRequest { Name = model, RiskTier = Registry.V1.RiskTier.Medium, Owner = "ml-team" },
            Bearer(stack.Token("pipeline")), cancellationToken: Cancellation);
        var policy = Path.Combine(stack.StateDirectory, $"{model}.policy.json");
        await File.WriteAllTextAsync(policy, """
            {"rules": [{"stages": ["STAGE_PRODUCTION"], "gates": [
              {"name": "provenance", "provenance": {}},
              {"name": "integrity", "artifactIntegrity": {}},
              {"name": "drift-baseline", "remote": {"service": "drift", "gate": "drift.reference", "parameters": {"min_rows": "10000"}}},
              {"name": "approvals", "approval": {"required": 2}}]}]}
            """, Cancellation);
        var (exit, output, error) = await CliAsync("models", "policy", "set", model, "--file", policy, "--reason", "no Production without a drift baseline",
            "--registry", stack.ServiceGrpcAddresses["registry"], "--token", stack.Token("admin"));
        Assert.True(exit == 0, error);

        // The pipeline registers and asks for Production; two reviewers approve; the drift gate holds it back.
        var registered = await PipelineAsync(model, "--risk-tier", "MEDIUM");
        var version = registered.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(["drift-baseline", "PENDING", $"{model} version {version} has no drift reference yet"], registered.Gates.Single(g => g[0] == "drift-baseline"));
        await ApproveAsync(registry, Bearer(stack.Token("reviewer")), registered.RequestId);
        var waiting = await ApproveAsync(registry, Bearer(stack.Token("reviewer-2")), registered.RequestId);
        Assert.Equal(Registry.V1.RequestState.Open, waiting.State);
        using var channel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["drift"]);
        CallInvoker As(string role)
        {
            var token = stack.Token(role);
            return channel.Intercept(metadata =>
            {
                metadata.Add("Authorization", $"Bearer {token}");
                return metadata;
            });
        }

        var pipeline = new DriftClient(As("pipeline"));
        var serving = new DriftClient(As("service"));
        var header = new ReferenceHeader { Model = model, Version = version, Window = new WindowPolicy { Records = 2000 }, Source = "validation split" };
        header.Columns.AddRange(LoanTraffic.Columns.Select(c => new Column
        {
            Name = c.Name,
            Kind = c.Kind switch { "numeric" => ColumnKind.Numeric, "categorical" => ColumnKind.Categorical, _ => ColumnKind.Boolean },
        }));
        var training = new LoanTraffic(41);
        await pipeline.SetReferenceAsync(header, Enumerable.Range(0, 20_000).Select(_ => new Row { Values = { training.Features(shifted: false) } }), Cancellation);

        // With its reference set, the gate passes on re-evaluation and the version enters Production; the drift
        // service starts watching it when the registry's StageChanged arrives.
        var approved = await registry.ReevaluatePromotionAsync(new Registry.V1.ReevaluatePromotionRequest { RequestId = registered.RequestId },
            Bearer(stack.Token("pipeline")), cancellationToken: Cancellation);
        Assert.Equal(Registry.V1.RequestState.Approved, approved.State);
        var baseline = approved.Gates.Single(r => r.Name == "drift-baseline");
        Assert.Equal((Registry.V1.GateStatus.Pass, "20000"), (baseline.Status, baseline.Evidence["reference_rows"]));
        Assert.True(await Eventually.HoldsAsync(async () => (await serving.Raw.GetStatusAsync(new GetStatusRequest(), cancellationToken: Cancellation)).Models
            .Any(m => m.Model == model && m.Version == version && m.Watched && m.HasReference), TimeSpan.FromSeconds(60)), "the drift service never started watching the version");

        // Five windows of production traffic; the shift starts with the fourth.
        var production = new LoanTraffic(42);
        var records = Enumerable.Range(0, 10_000).Select(i => new InferenceRecord
        {
            Model = model,
            Version = version,
            RequestId = $"r{i}",
            Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            Features = { production.Features(shifted: i >= 6000) },
        });
        Assert.Equal(10_000, (await serving.IngestAsync(records, Cancellation)).Accepted);

        List<WindowReport> reports = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
            (reports = [.. (await serving.Raw.ListWindowReportsAsync(new ListWindowReportsRequest { Model = model, Version = version }, cancellationToken: Cancellation)).Reports]).Count == 5,
            TimeSpan.FromSeconds(90)), $"{reports.Count} reports");
        reports.Reverse();
        Assert.Equal([[], [], [], ["income", "debt"], ["income", "debt"]], reports.Select(r => r.Columns.Where(c => c.Drifted).Select(c => c.Column).ToList()));

        // The ledger holds the DriftDetected of the fourth window, with the two columns.
        using var ledgerChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["ledger"]);
        var ledger = new LedgerService.LedgerServiceClient(ledgerChannel);
        var auditor = new Metadata { { "Authorization", $"Bearer {stack.Token("auditor")}" } };
        Entry? detected = null;
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var entries = (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 100 }, auditor,
                cancellationToken: Cancellation)).Entries;
            detected = entries.SingleOrDefault(e => e.EventType.EndsWith(".DriftDetected", StringComparison.Ordinal));
            return detected is not null;
        }, TimeSpan.FromSeconds(60)));
        using var payload = System.Text.Json.JsonDocument.Parse(detected!.Data.ToByteArray());
        var text = payload.RootElement.GetRawText();
        Assert.Contains("income", text, StringComparison.Ordinal);
        Assert.Contains("debt", text, StringComparison.Ordinal);

        // The report a person opens shows the shift.
        var page = (await serving.Raw.RenderWindowReportAsync(new GetWindowReportRequest { Model = model, Version = version, WindowStart = reports[3].WindowStart },
            cancellationToken: Cancellation)).Html;
        var document = XDocument.Load(XmlReader.Create(new StringReader(page), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore }));
        Assert.Equal(["income", "debt"], document.Descendants("section")
            .Where(s => s.Element("h2")!.Elements("span").Any())
            .Select(s => s.Element("h2")!.Nodes().OfType<XText>().First().Value.Trim()));

        // The same from the command line: the status table, and the page written to a file.
        var address = stack.ServiceGrpcAddresses["drift"];
        (exit, output, error) = await CliAsync("drift", "status", "--drift", address, "--token", stack.Token("pipeline"));
        Assert.True(exit == 0, error);
        Assert.Contains(output.Split('\n'), line => line.StartsWith(model, StringComparison.Ordinal) && line.TrimEnd().EndsWith("income,debt", StringComparison.Ordinal));
        var file = Path.Combine(stack.StateDirectory, $"{model}.html");
        (exit, output, error) = await CliAsync("drift", "report", model, version, "--window", reports[3].WindowStart.ToDateTimeOffset().ToString("O"), "-o", file,
            "--drift", address, "--token", stack.Token("pipeline"));
        Assert.True(exit == 0, error);
        Assert.Equal(page, await File.ReadAllTextAsync(file, Cancellation));

        await AlertingClosesTheLoopAsync(model, version, serving, registry, ledger, auditor);
    }

    // What alerting made of that drift: the ML team told once per version on Slack, PagerDuty and Jira (not once per
    // drifted window), told again when it resolved; one retraining asked of the pipeline, whose run answers it and
    // whose version waits at its gates for two reviewers; every step in the ledger.
    private async Task AlertingClosesTheLoopAsync(
        string model, string version, DriftClient serving, Registry.V1.RegistryService.RegistryServiceClient registry, LedgerService.LedgerServiceClient ledger,
        Metadata auditor)
    {
        var stack = running;
        List<Received> Of(string path) => [.. stack.Receivers.At(path).Where(m => m.Body.GetRawText().Contains(model, StringComparison.Ordinal))];
        List<JiraSink.Issue> Issues() => [.. stack.Jira.Issues.Where(i => i.Fields["summary"]!.GetValue<string>().Contains(model, StringComparison.Ordinal))];
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(Of("/slack").Count >= 1 && Of("/pagerduty").Count >= 1 && Issues().Count >= 1 && Of("/ci").Count >= 1),
            TimeSpan.FromSeconds(60)), $"slack {Of("/slack").Count}, pagerduty {Of("/pagerduty").Count}, jira {Issues().Count}, ci {Of("/ci").Count}; jira problems: {string.Join("; ", stack.Jira.Problems)}");
        // Two more group intervals: the fifth window's finding joins the same group and tells nobody again.
        await Task.Delay(TimeSpan.FromSeconds(5), Cancellation);
        var slack = Assert.Single(Of("/slack")).Body;
        var trigger = Assert.Single(Of("/pagerduty")).Body;
        var issue = Assert.Single(Issues());
        Assert.Empty(VendorSchemas.Slack(slack));
        Assert.Empty(VendorSchemas.PagerDuty(trigger));
        Assert.StartsWith($"[FIRING:1] DriftDetected model={model} version={version}", slack.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("trigger", trigger.GetProperty("event_action").GetString());
        Assert.Empty(stack.Jira.Problems);

        // One retraining asked of the pipeline, with the finding as its evidence.
        var asked = Assert.Single(Of("/ci")).Body;
        var requestId = asked.GetProperty("requestId").GetString()!;
        Assert.Equal(("drift-retrain", model, version), (asked.GetProperty("policy").GetString(), asked.GetProperty("model").GetString(), asked.GetProperty("version").GetString()));

        // Traffic like the reference again: the drift resolves, and the team is told on Slack, PagerDuty and Jira.
        var production = new LoanTraffic(43);
        Assert.Equal(4_000, (await serving.IngestAsync(Enumerable.Range(0, 4_000).Select(i => new InferenceRecord
        {
            Model = model, Version = version, RequestId = $"s{i}", Timestamp = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            Features = { production.Features(shifted: false) },
        }), Cancellation)).Accepted);
        // A resolve names its incident only by the dedup key.
        var incident = trigger.GetProperty("dedup_key").GetString();
        List<Received> Incident() => [.. stack.Receivers.At("/pagerduty").Where(m => m.Body.GetProperty("dedup_key").GetString() == incident)];
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(Of("/slack").Count == 2 && Incident().Count == 2 && issue.Done), TimeSpan.FromSeconds(90)),
            $"slack {Of("/slack").Count}, pagerduty {Incident().Count}, jira done {issue.Done}");
        Assert.StartsWith($"[RESOLVED] DriftDetected model={model}", Of("/slack")[1].Body.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("resolve", Incident()[1].Body.GetProperty("event_action").GetString());
        Assert.Empty(VendorSchemas.PagerDuty(Incident()[1].Body));

        // The pipeline retrains: its run names the request; its version asks for Production and waits for two reviewers.
        var retrained = await PipelineAsync(model, "--risk-tier", "MEDIUM", "--retrain-request", requestId);
        Assert.Equal("OPEN", retrained.State);
        Assert.Equal(["approvals", "PENDING", "0 of 2 approvals from reviewers other than the requester and the run's author"], retrained.Gates.Single(g => g[0] == "approvals"));

        // The ledger holds the loop: finding, notifications, request, the run that answered it, its version and gates.
        Dictionary<string, int> recorded = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var entries = (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 }, auditor,
                cancellationToken: Cancellation)).Entries;
            recorded = entries.GroupBy(e => e.EventType.Split(',')[0].Split('.')[^1]).ToDictionary(g => g.Key, g => g.Count());
            return recorded.GetValueOrDefault("RetrainCompleted") == 1 && recorded.GetValueOrDefault("DriftResolved") >= 1 &&
                   recorded.GetValueOrDefault("NotificationDelivered") >= 6 && recorded.GetValueOrDefault("ModelVersionRegistered") == 2;
        }, TimeSpan.FromSeconds(60)), "ledger holds " + System.Text.Json.JsonSerializer.Serialize(recorded));
        Assert.Equal(1, recorded["RetrainRequested"]);
        var run = (await ledger.ListEntriesBySubjectAsync(new ListEntriesBySubjectRequest { Kind = "run_id", Value = retrained.RunId, PageSize = 100 }, auditor,
            cancellationToken: Cancellation)).Entries;
        Assert.Contains(run, e => e.EventType.Split(',')[0].EndsWith(".RunStarted", StringComparison.Ordinal) && e.Data.ToStringUtf8().Contains(requestId, StringComparison.Ordinal));
        Assert.Contains(run, e => e.EventType.Split(',')[0].EndsWith(".RetrainCompleted", StringComparison.Ordinal));
    }
}

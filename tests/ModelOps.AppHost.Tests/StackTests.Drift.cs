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
    public async Task AShiftInTwoFeaturesOfProductionTrafficIsDetectedWithinOneWindowAndReachesTheLedger()
    {
        var stack = running;
        var model = $"scoring-{Guid.NewGuid():N}"[..16];

        // The model's policy asks the drift service, as a remote gate, for a reference of at least 10,000 rows before
        // Production, besides provenance, integrity and one reviewer.
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
              {"name": "approvals", "approval": {"required": 1}}]}]}
            """, Cancellation);
        var (exit, output, error) = await CliAsync("models", "policy", "set", model, "--file", policy, "--reason", "no Production without a drift baseline",
            "--registry", stack.ServiceGrpcAddresses["registry"], "--token", stack.Token("admin"));
        Assert.True(exit == 0, error);

        // The pipeline registers and asks for Production; a reviewer approves; the drift gate holds it back.
        var registered = await PipelineAsync(model, "--risk-tier", "MEDIUM");
        var version = registered.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(["drift-baseline", "PENDING", $"{model} version {version} has no drift reference yet"], registered.Gates.Single(g => g[0] == "drift-baseline"));
        var waiting = await ApproveAsync(registry, Bearer(stack.Token("reviewer")), registered.RequestId);
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
    }
}

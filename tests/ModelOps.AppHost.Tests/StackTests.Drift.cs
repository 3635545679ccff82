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
        var stack = running.Stack;
        var model = $"scoring-{Guid.NewGuid():N}"[..16];

        // The model reaches Production through the registry (default policy: provenance, integrity, one reviewer), and
        // the drift service starts watching it when the registry says so.
        var registered = await PipelineAsync(model, "--risk-tier", "MEDIUM");
        using var registryChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["registry"]);
        var approved = await ApproveAsync(new Registry.V1.RegistryService.RegistryServiceClient(registryChannel), Bearer(stack.Token("reviewer")), registered.RequestId);
        Assert.Equal(Registry.V1.RequestState.Approved, approved.State);
        var version = registered.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
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
        ModelStatus? watched = null;
        Assert.True(await Eventually.HoldsAsync(async () => (watched = (await serving.Raw.GetStatusAsync(new GetStatusRequest(), cancellationToken: Cancellation)).Models
            .SingleOrDefault(m => m.Model == model && m.Version == version)) is not null, TimeSpan.FromSeconds(60)), "the drift service never started watching the version");
        Assert.False(watched!.HasReference);
        var header = new ReferenceHeader { Model = model, Version = version, Window = new WindowPolicy { Records = 2000 }, Source = "validation split" };
        header.Columns.AddRange(LoanTraffic.Columns.Select(c => new Column
        {
            Name = c.Name,
            Kind = c.Kind switch { "numeric" => ColumnKind.Numeric, "categorical" => ColumnKind.Categorical, _ => ColumnKind.Boolean },
        }));
        var training = new LoanTraffic(41);
        await pipeline.SetReferenceAsync(header, Enumerable.Range(0, 20_000).Select(_ => new Row { Values = { training.Features(shifted: false) } }), Cancellation);

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
        var (exit, output, error) = await CliAsync("drift", "status", "--drift", address, "--token", stack.Token("pipeline"));
        Assert.True(exit == 0, error);
        Assert.Contains(output.Split('\n'), line => line.StartsWith(model, StringComparison.Ordinal) && line.TrimEnd().EndsWith("income,debt", StringComparison.Ordinal));
        var file = Path.Combine(stack.StateDirectory, $"{model}.html");
        (exit, output, error) = await CliAsync("drift", "report", model, version, "--window", reports[3].WindowStart.ToDateTimeOffset().ToString("O"), "-o", file,
            "--drift", address, "--token", stack.Token("pipeline"));
        Assert.True(exit == 0, error);
        Assert.Equal(page, await File.ReadAllTextAsync(file, Cancellation));
    }
}

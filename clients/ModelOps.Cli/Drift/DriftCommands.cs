using System.CommandLine;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using ModelOps.Drift.V1;

namespace ModelOps.Cli.Drift;

/// <summary><c>modelops drift status|reports|report</c>: what production traffic looks like against its reference.</summary>
public static class DriftCommands
{
    /// <summary>The drift address when neither <c>--drift</c> nor <c>MODELOPS_DRIFT_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7103";

    /// <summary>The <c>drift</c> command.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var address = new Option<string>("--drift")
        {
            Description = "The drift service's gRPC address (default: $MODELOPS_DRIFT_URL, else " + DefaultAddress + ")",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MODELOPS_DRIFT_URL") ?? DefaultAddress,
            Recursive = true,
        };
        var token = new Option<string?>("--token") { Description = "A bearer token (default: $MODELOPS_TOKEN, else .modelops/tokens/pipeline.jwt)", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };
        DriftService.DriftServiceClient Connect(ParseResult parse) => new(GrpcChannel.ForAddress(parse.GetValue(address)!));

        var status = new Command("status", "The latest window of every model version: drifted columns and share");
        status.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).GetStatusAsync(new GetStatusRequest(), CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Models, ["MODEL", "VERSION", "WINDOW", "ROWS", "SHARE", "DRIFTED"],
                m => [m.Model, m.Version, CliOutput.Time(m.Latest.WindowStart), m.Latest.Rows.ToString(CultureInfo.InvariantCulture),
                      m.Latest.DriftShare.ToString("P0", CultureInfo.InvariantCulture), string.Join(",", m.Latest.Columns.Where(c => c.Drifted).Select(c => c.Column))]);
            return 0;
        }));

        var model = new Argument<string>("model") { Description = "The model" };
        var version = new Argument<string>("version") { Description = "Its version" };
        var reports = new Command("reports", "A model version's windows, newest first: rows, drift share, drifted columns") { model, version };
        reports.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).ListWindowReportsAsync(new ListWindowReportsRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, PageSize = 100,
            }, CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Reports, ["WINDOW START", "WINDOW END", "ROWS", "SHARE", "DRIFTED"],
                r => [CliOutput.Time(r.WindowStart), CliOutput.Time(r.WindowEnd), r.Rows.ToString(CultureInfo.InvariantCulture),
                      r.DriftShare.ToString("P0", CultureInfo.InvariantCulture), string.Join(",", r.Columns.Where(c => c.Drifted).Select(c => c.Column))]);
            return 0;
        }));

        var window = new Option<DateTimeOffset>("--window") { Description = "The window's start (ISO 8601), as `drift reports` lists it", Required = true };
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the HTML page here (default: print the report as a table)" };
        var report = new Command("report", "One window's report; with -o, the self-contained HTML page to open in a browser") { model, version, window, file };
        report.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var request = new GetWindowReportRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, WindowStart = Timestamp.FromDateTimeOffset(parse.GetValue(window)),
            };
            var headers = CliOutput.Headers(parse.GetValue(token), "pipeline");
            if (parse.GetValue(file) is { } target)
            {
                var page = await Connect(parse).RenderWindowReportAsync(request, headers, cancellationToken: cancellationToken);
                await File.WriteAllTextAsync(target.FullName, page.Html, cancellationToken);
                await output.WriteLineAsync($"wrote {target.FullName}");
                return 0;
            }

            var found = await Connect(parse).GetWindowReportAsync(request, headers, cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), found.Columns, ["COLUMN", "METHOD", "STATISTIC", "P-VALUE", "THRESHOLD", "VERDICT", "MISSING"],
                c => [c.Column, c.Method.ToString(), c.Statistic.ToString("G4", CultureInfo.InvariantCulture),
                      c.HasPValue ? c.PValue.ToString("G3", CultureInfo.InvariantCulture) : "", c.Threshold.ToString("G3", CultureInfo.InvariantCulture),
                      c.Drifted ? "DRIFTED" : "stable", c.MissingRate.ToString("P1", CultureInfo.InvariantCulture)]);
            return 0;
        }));

        return new Command("drift", "Drift of production traffic: status, window reports, HTML pages") { address, token, json, status, reports, report };
    }

    private static Task<int> Guard(TextWriter error, Func<Task<int>> action) => CliOutput.Guard(error, "drift service", action);
}

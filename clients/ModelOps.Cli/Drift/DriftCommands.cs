using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using ModelOps.Drift.V1;

namespace ModelOps.Cli.Drift;

/// <summary>
/// <c>modelops drift status|reports|report|history|reference|policy|watch</c>: what production traffic looks like
/// against its reference, and how it is monitored.
/// </summary>
public static class DriftCommands
{
    /// <summary>The drift address when neither <c>--drift</c> nor <c>MODELOPS_DRIFT_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7103";

    private static readonly JsonParser PolicyParser = new(JsonParser.Settings.Default);

    /// <summary>The <c>drift</c> command.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("drift", "The drift service's", DefaultAddress);
        var token = new Option<string?>("--token") { Description = "A bearer token (default: $MODELOPS_TOKEN, else the pipeline token of the stack (see modelops stack))", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };
        DriftService.DriftServiceClient Connect(ParseResult parse) => new(CliOutput.Channel(parse.GetValue(address)!));

        var all = new Option<bool>("--all") { Description = "Also versions not watched (not in Production)" };
        var status = new Command("status", "Every watched (production) model version: its latest window, detectors and drifted columns") { all };
        status.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).GetStatusAsync(new GetStatusRequest { IncludeUnwatched = parse.GetValue(all) },
                CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Models,
                ["MODEL", "VERSION", "WATCHED", "WINDOW", "ROWS", "SHARE", "OUTPUT", "CONCEPT", "DRIFTED"],
                m => [m.Model, m.Version, m.Watched ? "yes" : "no", m.Latest is null ? (m.HasReference ? "no window yet" : "no reference") : CliOutput.Time(m.Latest.WindowStart),
                      m.Latest?.Rows.ToString(CultureInfo.InvariantCulture) ?? "", m.Latest?.DriftShare.ToString("P0", CultureInfo.InvariantCulture) ?? "",
                      m.Latest?.Prediction is { } p ? (p.Drifted ? "DRIFTED" : "stable") : "",
                      string.Join(",", m.Detectors.Where(d => d.State == DetectorState.Drift).Select(d => d.Detector)),
                      string.Join(",", m.Latest?.Columns.Where(c => c.Drifted).Select(c => c.Column) ?? [])]);
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
            // WINDOW is what `drift report --window` takes: a count window's number (count windows can share a start), or the start.
            await CliOutput.Print(output, parse.GetValue(json), response.Reports, ["WINDOW", "START", "END", "ROWS", "SHARE", "DRIFTED"],
                r => [r.HasCountWindow ? r.CountWindow.ToString(CultureInfo.InvariantCulture) : r.WindowStart.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
                      CliOutput.Time(r.WindowStart), CliOutput.Time(r.WindowEnd), r.Rows.ToString(CultureInfo.InvariantCulture),
                      r.DriftShare.ToString("P0", CultureInfo.InvariantCulture), string.Join(",", r.Columns.Where(c => c.Drifted).Select(c => c.Column))]);
            return 0;
        }));

        var window = new Option<string>("--window")
        {
            Description = "The window, as the WINDOW column of `drift reports` gives it: a count window's number, or a window's start (ISO 8601)", Required = true,
        };
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the HTML page here (default: print the report as a table)" };
        var report = new Command("report", "One window's report; with -o, the self-contained HTML page to open in a browser") { model, version, window, file };
        report.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var request = new GetWindowReportRequest { Model = parse.GetValue(model)!, Version = parse.GetValue(version)! };
            var named = parse.GetValue(window)!.Trim();
            if (long.TryParse(named, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                request.CountWindow = number;
            }
            else if (DateTimeOffset.TryParse(named, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var start))
            {
                request.WindowStart = Timestamp.FromDateTimeOffset(start);
            }
            else
            {
                throw new FormatException($"--window takes a count window's number or a window's start (ISO 8601, e.g. 2026-03-01T10:00:00Z), not '{named}'");
            }

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

        var column = new Argument<string>("column") { Description = "A column of the reference (or its prediction column)" };
        var history = new Command("history", "A column's score over a version's windows, newest first") { model, version, column };
        history.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).GetColumnHistoryAsync(new GetColumnHistoryRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, Column = parse.GetValue(column)!, PageSize = 200,
            }, CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Points, ["WINDOW START", "ROWS", "METHOD", "STATISTIC", "P-VALUE", "THRESHOLD", "VERDICT"],
                p => [CliOutput.Time(p.WindowStart), p.Rows.ToString(CultureInfo.InvariantCulture), p.Method.ToString(), p.Statistic.ToString("G4", CultureInfo.InvariantCulture),
                      p.HasPValue ? p.PValue.ToString("G3", CultureInfo.InvariantCulture) : "", p.Threshold.ToString("G3", CultureInfo.InvariantCulture),
                      p.Drifted ? "DRIFTED" : "stable"]);
            return 0;
        }));

        return new Command("drift", "Drift of production traffic: status, window reports, HTML pages, references, policies")
        {
            address, token, json, status, reports, report, history, ReferenceCommand(output, error, token, json, Connect), PolicyCommand(output, error, token, json, Connect),
            WatchCommand(output, error, token, Connect),
        };
    }

    // drift reference set|show
    private static Command ReferenceCommand(
        TextWriter output, TextWriter error, Option<string?> token, Option<bool> json, Func<ParseResult, DriftService.DriftServiceClient> connect)
    {
        var model = new Argument<string>("model") { Description = "The model" };
        var version = new Argument<string>("version") { Description = "Its version" };
        var run = new Option<string>("--run") { Description = "The tracking run holding the data", Required = true };
        var artifact = new Option<string>("--artifact") { Description = "The CSV or Parquet (.parquet) artifact's path in the run", Required = true };
        var columns = new Option<string[]>("--column")
        {
            Description = "A column's kind, name:numeric|categorical|boolean (repeatable; the others are inferred)", AllowMultipleArgumentsPerToken = false,
        };
        var seconds = new Option<long?>("--window-seconds") { Description = "Tumbling time windows of this many seconds (default: an hour)" };
        var records = new Option<long?>("--window-records") { Description = "Windows of this many records instead" };
        var lateness = new Option<long>("--lateness-seconds") { Description = "How late a record may come for a time window (default 300)", DefaultValueFactory = _ => 300 };
        var prediction = new Option<string?>("--prediction-column") { Description = "The column holding the model's output" };
        var task = new Option<string?>("--task") { Description = "binary-classification or regression: predictions are kept for labels" };
        var threshold = new Option<double>("--decision-threshold") { Description = "A binary classifier's decision threshold (default 0.5)" };
        var set = new Command("set", "Profiles a run's CSV or Parquet artifact as a model version's reference")
        {
            model, version, run, artifact, columns, seconds, records, lateness, prediction, task, threshold,
        };
        set.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var request = new SetReferenceFromArtifactRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, RunId = parse.GetValue(run)!, ArtifactPath = parse.GetValue(artifact)!,
                PredictionColumn = parse.GetValue(prediction) ?? "", DecisionThreshold = parse.GetValue(threshold),
                Task = parse.GetValue(task) switch
                {
                    null => ModelTask.Unspecified,
                    "binary-classification" => ModelTask.BinaryClassification,
                    "regression" => ModelTask.Regression,
                    var other => throw new FormatException($"--task: '{other}' is neither binary-classification nor regression"),
                },
            };
            foreach (var given in parse.GetValue(columns) ?? [])
            {
                var (name, kind) = given.LastIndexOf(':') is var colon and > 0 ? (given[..colon], given[(colon + 1)..]) : (given, "");
                request.Columns.Add(new Column
                {
                    Name = name,
                    Kind = kind switch
                    {
                        "numeric" => ColumnKind.Numeric,
                        "categorical" => ColumnKind.Categorical,
                        "boolean" => ColumnKind.Boolean,
                        _ => throw new FormatException($"--column {given}: give name:numeric, name:categorical or name:boolean"),
                    },
                });
            }

            if (parse.GetValue(records) is { } count)
            {
                request.Window = new WindowPolicy { Records = count };
            }
            else if (parse.GetValue(seconds) is { } length)
            {
                request.Window = new WindowPolicy { Seconds = length, AllowedLatenessSeconds = parse.GetValue(lateness) };
            }

            var reference = await connect(parse).SetReferenceFromArtifactAsync(request, CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync(
                $"reference of {reference.Model} version {reference.Version}: {reference.Rows} rows, {reference.Columns.Count} columns ({reference.Source})");
            return 0;
        }));

        var show = new Command("show", "A model version's reference: its columns and their summaries") { model, version };
        show.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var reference = await connect(parse).GetReferenceAsync(new GetReferenceRequest { Model = parse.GetValue(model)!, Version = parse.GetValue(version)! },
                CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), reference.Summary, ["COLUMN", "KIND", "COUNT", "MISSING", "MEAN", "STD", "DISTINCT"],
                c => [c.Name == reference.PredictionColumn ? $"{c.Name} (prediction)" : c.Name, c.Kind.ToString(), c.Count.ToString(CultureInfo.InvariantCulture),
                      c.Missing.ToString(CultureInfo.InvariantCulture),
                      c.Kind == ColumnKind.Numeric ? c.Mean.ToString("G5", CultureInfo.InvariantCulture) : "",
                      c.Kind == ColumnKind.Numeric ? c.StandardDeviation.ToString("G5", CultureInfo.InvariantCulture) : "",
                      c.Kind == ColumnKind.Numeric ? "" : c.Distinct.ToString(CultureInfo.InvariantCulture)]);
            return 0;
        }));

        return new Command("reference", "A model version's reference data") { set, show };
    }

    // drift policy get|set
    private static Command PolicyCommand(
        TextWriter output, TextWriter error, Option<string?> token, Option<bool> json, Func<ParseResult, DriftService.DriftServiceClient> connect)
    {
        var model = new Argument<string>("model") { Description = "The model" };
        var get = new Command("get", "A model's monitoring policy, as JSON") { model };
        get.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var policy = await connect(parse).GetMonitoringPolicyAsync(new GetMonitoringPolicyRequest { Model = parse.GetValue(model)! },
                CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync(CliOutput.Json.Format(policy));
            return 0;
        }));

        var file = new Option<FileInfo>("--file") { Description = "The policy as JSON (modelops.drift.v1.MonitoringPolicy: rules, importance, datasetThreshold, weighted, preset)", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why: recorded in the ledger", Required = true };
        var set = new Command("set", "Sets a model's monitoring policy (pipeline or admin)") { model, file, reason };
        set.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var policy = PolicyParser.Parse<MonitoringPolicy>(await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, cancellationToken));
            policy.Model = parse.GetValue(model)!;
            var stored = await connect(parse).SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest { Policy = policy, Reason = parse.GetValue(reason)! },
                CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await output.WriteLineAsync(parse.GetValue(json) ? CliOutput.Json.Format(stored) : $"monitoring policy v{stored.Revision} of {stored.Model} in effect");
            return 0;
        }));

        return new Command("policy", "A model's monitoring policy: per-column methods and thresholds, feature importance") { get, set };
    }

    // drift watch
    private static Command WatchCommand(TextWriter output, TextWriter error, Option<string?> token, Func<ParseResult, DriftService.DriftServiceClient> connect)
    {
        var model = new Argument<string>("model") { Description = "The model" };
        var version = new Argument<string>("version") { Description = "Its version" };
        var reason = new Option<string>("--reason") { Description = "Why: recorded in the ledger", Required = true };
        var stop = new Option<bool>("--stop") { Description = "Stop watching instead" };
        var watch = new Command("watch", "Starts (or stops) watching a version the registry does not manage (admin)") { model, version, reason, stop };
        watch.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var result = await connect(parse).SetWatchAsync(new SetWatchRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, Watch = !parse.GetValue(stop), Reason = parse.GetValue(reason)!,
            }, CliOutput.Headers(parse.GetValue(token), "admin"), cancellationToken: cancellationToken);
            await output.WriteLineAsync($"{result.Model} version {result.Version} {(result.Watched ? "watched" : "not watched")} since {CliOutput.Time(result.Since)}");
            return 0;
        }));
        return watch;
    }

    private static Task<int> Guard(TextWriter error, Func<Task<int>> action) => CliOutput.Guard(error, "drift service", action);
}

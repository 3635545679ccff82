using System.CommandLine;
using System.Globalization;
using Grpc.Net.Client;
using ModelOps.Fairness.V1;

namespace ModelOps.Cli.Fairness;

/// <summary>
/// <c>modelops fairness evaluate|reports|report|windows|mitigate</c>: whether a model treats groups differently on its
/// evaluation data and in production, the reports, their HTML pages, and mitigations to apply.
/// </summary>
public static class FairnessCommands
{
    /// <summary>The fairness address when neither <c>--fairness</c> nor <c>MODELOPS_FAIRNESS_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7104";

    /// <summary>The <c>fairness</c> command.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("fairness", "The fairness service's", DefaultAddress);
        var token = new Option<string?>("--token") { Description = "A bearer token (default: $MODELOPS_TOKEN, else the pipeline token of the stack (see modelops stack))", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };
        FairnessService.FairnessServiceClient Connect(ParseResult parse) => new(CliOutput.Channel(parse.GetValue(address)!));

        var model = new Argument<string>("model") { Description = "The model" };
        var version = new Argument<string>("version") { Description = "Its version" };
        var data = new DatasetOptions();
        var minimum = new Option<int>("--min-group-size") { Description = "Groups smaller than this are reported, never judged (default 30)" };
        var resamples = new Option<int>("--resamples") { Description = "Bootstrap resamples for the intervals (default 200, at most 2000)" };
        var seed = new Option<ulong>("--seed") { Description = "The bootstrap's seed (default 0)" };
        var confidence = new Option<double>("--confidence") { Description = "The intervals' level (default 0.95)" };
        var privileged = new Option<string[]>("--privileged")
        {
            Description = "column=value: the privileged group AIF360's measures compare with (repeatable)", AllowMultipleArgumentsPerToken = true,
        };
        var evaluate = new Command("evaluate", "Evaluate a dataset artifact of a tracking run and store the report: per-group metrics and disparities with intervals")
        {
            model, version, minimum, resamples, seed, confidence, privileged,
        };
        data.AddTo(evaluate);
        evaluate.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var settings = new Settings
            {
                MinGroupSize = parse.GetValue(minimum), Resamples = parse.GetValue(resamples), Seed = parse.GetValue(seed), Confidence = parse.GetValue(confidence),
            };
            foreach (var pair in parse.GetValue(privileged) ?? [])
            {
                var at = pair.IndexOf('=', StringComparison.Ordinal);
                if (at <= 0)
                {
                    throw new FormatException($"--privileged takes column=value, not '{pair}'");
                }

                settings.Privileged[pair[..at]] = pair[(at + 1)..];
            }

            var report = await Connect(parse).EvaluateDatasetAsync(new EvaluateDatasetRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, Dataset = data.Read(parse), Settings = settings,
            }, CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await PrintReport(output, parse.GetValue(json), report);
            return 0;
        }));

        var reports = new Command("reports", "A model version's fairness reports, newest first") { model, version };
        reports.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).ListReportsAsync(new ListReportsRequest { Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, PageSize = 100 },
                CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Reports, ["ID", "CREATED", "ROWS", "DATASET", "WORST DP RATIO"],
                r => [r.Id, CliOutput.Time(r.CreatedAt), r.Rows.ToString(CultureInfo.InvariantCulture), $"{r.Dataset.RunId}/{r.Dataset.ArtifactPath}",
                      r.Groupings.SelectMany(g => g.Disparities).Where(d => d.Name == "demographic_parity_ratio" && d.HasValue).Select(d => d.Value)
                          .DefaultIfEmpty(double.NaN).Min().ToString("0.###", CultureInfo.InvariantCulture)]);
            return 0;
        }));

        var id = new Argument<string>("id") { Description = "The report's id, as `fairness reports` lists it" };
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the self-contained HTML page here (default: print the disparities)" };
        var report = new Command("report", "One report's disparities; with -o, its HTML page") { id, file };
        report.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var request = new GetReportRequest { Id = parse.GetValue(id)! };
            var headers = CliOutput.Headers(parse.GetValue(token), "pipeline");
            if (parse.GetValue(file) is { } target)
            {
                var page = await Connect(parse).RenderReportAsync(request, headers, cancellationToken: cancellationToken);
                await File.WriteAllTextAsync(target.FullName, page.Html, cancellationToken);
                await output.WriteLineAsync($"wrote {target.FullName}");
                return 0;
            }

            await PrintReport(output, parse.GetValue(json), await Connect(parse).GetReportAsync(request, headers, cancellationToken: cancellationToken));
            return 0;
        }));

        var windows = new Command("windows", "A model version's production windows, newest first: records, labels, whether biased, the worst disparities") { model, version };
        windows.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var response = await Connect(parse).ListWindowReportsAsync(new ListReportsRequest { Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, PageSize = 100 },
                CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Reports, ["WINDOW START", "RECORDS", "LABELLED", "VERDICT", "WORST DP RATIO", "WORST EO DIFFERENCE"],
                r => [CliOutput.Time(r.Window.Start), r.Window.Records.ToString(CultureInfo.InvariantCulture), r.Window.Labelled.ToString(CultureInfo.InvariantCulture),
                      r.Window.Biased ? "BIASED" : "within limits", Worst(r, "demographic_parity_ratio", min: true), Worst(r, "equalized_odds_difference", min: false)]);
            return 0;
        }));

        return new Command("fairness", "Fairness of a model's decisions across groups: reports, HTML pages, mitigations, production windows")
        {
            address, token, json, evaluate, reports, report, windows, MitigateCommand(output, error, token, json, Connect),
        };
    }

    // fairness mitigate
    private static Command MitigateCommand(
        TextWriter output, TextWriter error, Option<string?> token, Option<bool> json, Func<ParseResult, FairnessService.FairnessServiceClient> connect)
    {
        var model = new Argument<string>("model") { Description = "The model" };
        var version = new Argument<string>("version") { Description = "Its version" };
        var data = new DatasetOptions();
        var method = new Option<string>("--method") { Description = "thresholds (per-group thresholds on the scores) or reweighing (training weights)", Required = true };
        method.AcceptOnlyFromAmong("thresholds", "reweighing");
        var constraint = new Option<string>("--constraint") { Description = "thresholds: demographic-parity (default) or equalized-odds", DefaultValueFactory = _ => "demographic-parity" };
        constraint.AcceptOnlyFromAmong("demographic-parity", "equalized-odds");
        var tolerance = new Option<double?>("--tolerance") { Description = "thresholds: the largest gap allowed between groups (default 0.02)" };
        var minimum = new Option<int>("--min-group-size") { Description = "Smaller groups keep the threshold and are not constrained (default 30)" };
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the artifact (JSON) here, to log in the pipeline's run" };
        var mitigate = new Command("mitigate", "Compute a mitigation on a dataset: its artifact, and the accuracy and disparity before and after")
        {
            model, version, method, constraint, tolerance, minimum, file,
        };
        data.AddTo(mitigate);
        mitigate.SetAction((parse, cancellationToken) => CliOutput.Guard(error, "fairness service", async () =>
        {
            var request = new MitigateRequest
            {
                Model = parse.GetValue(model)!, Version = parse.GetValue(version)!, Dataset = data.Read(parse), MinGroupSize = parse.GetValue(minimum),
                Method = parse.GetValue(method) == "reweighing" ? MitigationMethod.Reweighing : MitigationMethod.Thresholds,
                Constraint = parse.GetValue(constraint) == "equalized-odds" ? Constraint.EqualizedOdds : Constraint.DemographicParity,
            };
            if (parse.GetValue(tolerance) is { } gap)
            {
                request.Tolerance = gap;
            }

            var mitigation = await connect(parse).MitigateAsync(request, CliOutput.Headers(parse.GetValue(token), "pipeline"), cancellationToken: cancellationToken);
            if (parse.GetValue(file) is { } target)
            {
                await File.WriteAllBytesAsync(target.FullName, mitigation.Artifact.ToByteArray(), cancellationToken);
                await output.WriteLineAsync($"wrote {target.FullName} (sha256 {mitigation.ArtifactSha256})");
            }

            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(CliOutput.Json.Format(mitigation));
                return 0;
            }

            await output.WriteLineAsync($"mitigation {mitigation.Id}");
            await CliOutput.Section(output, "outcome on the dataset:",
            [
                ["", "accuracy", mitigation.Before.Disparity],
                ["before", Figure(mitigation.Before.HasAccuracy, mitigation.Before.Accuracy), Figure(mitigation.Before.HasDisparityValue, mitigation.Before.DisparityValue)],
                ["after", Figure(mitigation.After.HasAccuracy, mitigation.After.Accuracy), Figure(mitigation.After.HasDisparityValue, mitigation.After.DisparityValue)],
            ]);
            await CliOutput.Section(output, "per group:", mitigation.Method == MitigationMethod.Thresholds
                ? mitigation.Thresholds.Select(t => new[]
                {
                    t.Group, t.SelectNone ? "select none" : $"score ≥ {t.Threshold.ToString("G6", CultureInfo.InvariantCulture)}",
                    $"selection {Figure(t.HasSelectionRateBefore, t.SelectionRateBefore)} → {Figure(t.HasSelectionRateAfter, t.SelectionRateAfter)}",
                    t.TooSmall ? "(too small: kept)" : "",
                })
                : mitigation.Weights.Select(w => new[] { w.Group, $"label {w.Label}", $"weight {w.Weight.ToString("G6", CultureInfo.InvariantCulture)}", $"{w.Count} rows" }));
            return 0;
        }));
        return mitigate;
    }

    private static async Task PrintReport(TextWriter output, bool json, FairnessReport report)
    {
        if (json)
        {
            await output.WriteLineAsync(CliOutput.Json.Format(report));
            return;
        }

        await output.WriteLineAsync($"report {report.Id}: {report.Model} {report.Version}, {report.Rows} rows of {report.Dataset.RunId}/{report.Dataset.ArtifactPath}");
        var rows = report.Groupings.SelectMany(g => g.Disparities.Select(d => (Grouping: g.Name, Disparity: d))).ToList();
        await CliOutput.Section(output, "disparities:", rows.Select(r => new[]
        {
            r.Grouping, r.Disparity.Name, r.Disparity.HasValue ? Figure(true, r.Disparity.Value) : "undefined",
            r.Disparity.HasLower ? $"[{Figure(true, r.Disparity.Lower)}, {Figure(true, r.Disparity.Upper)}]" : "",
            string.Join(" vs ", r.Disparity.Groups),
        }));
    }

    // The worst value of a disparity over a report's groupings, with the grouping.
    private static string Worst(FairnessReport report, string name, bool min)
    {
        var values = report.Groupings.Select(g => (g.Name, Disparity: g.Disparities.FirstOrDefault(d => d.Name == name))).Where(x => x.Disparity is { HasValue: true }).ToList();
        if (values.Count == 0)
        {
            return "—";
        }

        var worst = min ? values.MinBy(x => x.Disparity!.Value) : values.MaxBy(x => x.Disparity!.Value);
        return $"{Figure(true, worst.Disparity!.Value)} ({worst.Name})";
    }

    private static string Figure(bool has, double value) => has ? value.ToString("0.####", CultureInfo.InvariantCulture) : "—";

    private static Task<int> Guard(TextWriter error, Func<Task<int>> action) => CliOutput.Guard(error, "fairness service", action);

    // The options that name a dataset artifact and its columns, shared by evaluate and mitigate.
    private sealed class DatasetOptions
    {
        private readonly Option<string> _run = new("--run") { Description = "The tracking run holding the dataset", Required = true };
        private readonly Option<string> _artifact = new("--artifact") { Description = "The CSV or Parquet (.parquet) artifact's path in the run", Required = true };
        private readonly Option<string> _label = new("--label") { Description = "The label column (0/1, or a number for --regression)", Required = true };
        private readonly Option<string?> _score = new("--score") { Description = "The score column (in [0, 1]; predicted 1 when ≥ --threshold)" };
        private readonly Option<string?> _prediction = new("--prediction") { Description = "The prediction column (0/1, or the estimate for --regression)" };
        private readonly Option<double?> _threshold = new("--threshold") { Description = "Predicted 1 when the score is at least this (default 0.5)" };
        private readonly Option<string[]> _sensitive = new("--sensitive")
        {
            Description = "Sensitive columns (comma-separated or repeated): each alone and their combinations form the groups", Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        private readonly Option<bool> _regression = new("--regression") { Description = "The model is a regression (per-group MAE and RMSE)" };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { _run, _artifact, _label, _score, _prediction, _threshold, _sensitive, _regression })
            {
                command.Options.Add(option);
            }
        }

        public Dataset Read(ParseResult parse)
        {
            var dataset = new Dataset
            {
                RunId = parse.GetValue(_run)!, ArtifactPath = parse.GetValue(_artifact)!, LabelColumn = parse.GetValue(_label)!,
                ScoreColumn = parse.GetValue(_score) ?? "", PredictionColumn = parse.GetValue(_prediction) ?? "",
                Task = parse.GetValue(_regression) ? ModelTask.Regression : ModelTask.BinaryClassification,
                SensitiveColumns = { (parse.GetValue(_sensitive) ?? []).SelectMany(s => s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)) },
            };
            if (parse.GetValue(_threshold) is { } threshold)
            {
                dataset.Threshold = threshold;
            }

            return dataset;
        }
    }
}

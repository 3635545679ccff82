using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Explainability.V1;

namespace ModelOps.Cli.Explainability;

/// <summary>
/// <c>modelops explain describe|rows|dataset|importance|report|reports|dictionary</c>: SHAP values and reason codes of a
/// registered tree model for given rows or a run's dataset, global importance reports and their HTML pages, and the
/// feature dictionary reason codes show people.
/// </summary>
public static class ExplainCommands
{
    /// <summary>The explainability address when neither <c>--explainability</c> nor <c>MODELOPS_EXPLAINABILITY_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7105";

    /// <summary>The <c>explain</c> command.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("explainability", "The explainability service's", DefaultAddress);
        var token = new Option<string?>("--token") { Description = "A bearer token (default: $MODELOPS_TOKEN, else the pipeline token of the stack (see modelops stack))", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };
        ExplainabilityService.ExplainabilityServiceClient Connect(ParseResult parse) =>
            new(CliOutput.Channel(parse.GetValue(address)!, 64 << 20));
        Metadata Headers(ParseResult parse) => CliOutput.Headers(parse.GetValue(token), "pipeline");
        Task<int> Guard(Func<Task<int>> action) => CliOutput.Guard(error, "explainability service", action);

        var model = new Argument<string>("model") { Description = "The registered model" };
        var version = new Argument<int>("version") { Description = "Its version" };
        ModelRef Reference(ParseResult parse) => new() { Model = parse.GetValue(model)!, Version = parse.GetValue(version) };
        var topK = new Option<int>("--top") { Description = "Reason codes per row (default 5, at most 50)" };
        var threshold = new Option<double?>("--threshold") { Description = "Decision: prediction ≥ threshold (default 0.5 for a logistic model)" };
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the self-contained HTML page here" };
        var run = new Option<string>("--run") { Description = "The tracking run holding the dataset", Required = true };
        var path = new Option<string>("--path") { Description = "The dataset artifact (.csv or .parquet, a column per feature)", Required = true };
        var idColumn = new Option<string?>("--id-column") { Description = "The column holding each row's id (a decision's request id)" };
        Dataset DatasetOf(ParseResult parse) => new() { RunId = parse.GetValue(run)!, ArtifactPath = parse.GetValue(path)!, IdColumn = parse.GetValue(idColumn) ?? "" };
        var background = new Option<string?>("--background")
        {
            Description = "Background rows for a model that keeps no covers (ML.NET) or is explained model-agnostically (ONNX): RUN_ID/PATH, a run's dataset artifact (default for dataset and importance: the dataset itself)",
        };
        Dataset? BackgroundOf(ParseResult parse) => parse.GetValue(background) is { } given
            ? given.IndexOf('/', StringComparison.Ordinal) is var slash and > 0
                ? new Dataset { RunId = given[..slash], ArtifactPath = given[(slash + 1)..] }
                : throw new FormatException("--background takes RUN_ID/PATH: the tracking run's id, a slash, and the dataset artifact's path")
            : null;

        var describe = new Command("describe", "The version's model: format, objective, features, trees and base value") { model, version };
        describe.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var description = await Connect(parse).DescribeModelAsync(new DescribeModelRequest { Model = Reference(parse) }, Headers(parse), cancellationToken: cancellationToken);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(CliOutput.Json.Format(description));
                return 0;
            }

            var baseValue = description.HasBaseValue
                ? string.Create(CultureInfo.InvariantCulture, $"base value {description.BaseValue:G6}")
                : "base value from background rows (--background)";
            var shape = description.Trees > 0 ? string.Create(CultureInfo.InvariantCulture, $"{description.Trees} trees") : "explained model-agnostically";
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{description.Model.Model} {description.Model.Version}: {description.Format}, {description.Objective}, {shape}, output {description.Output}, {baseValue}"));
            if (description.Method.Length > 0 && description.Coalitions > 0)
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"method: {description.Method}, {description.Coalitions} coalitions × {description.BackgroundRows} background rows per row{(description.Seed != 0 ? $", seed {description.Seed}" : "")}"));
            }

            await output.WriteLineAsync($"features: {string.Join(", ", description.Features)}");
            return 0;
        }));

        var values = new Option<string[]>("--row")
        {
            Description = "A row: feature=value pairs separated by commas (a feature left out is missing), or the values in the model's order; repeatable",
            AllowMultipleArgumentsPerToken = false, Required = true,
        };
        var rows = new Command("rows", "Explain rows: attributions, prediction and reason codes; with -o, their waterfall page") { model, version, values, topK, threshold, file, background };
        rows.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var request = new ExplainRequest { Model = Reference(parse), TopK = parse.GetValue(topK), Background = BackgroundOf(parse) };
            if (parse.GetValue(threshold) is { } cut)
            {
                request.Threshold = cut;
            }

            request.Rows.Add((parse.GetValue(values) ?? []).Select((text, i) => ParseRow(text, $"row-{i}")));
            if (parse.GetValue(file) is { } target)
            {
                var page = await Connect(parse).RenderExplanationAsync(request, Headers(parse), cancellationToken: cancellationToken);
                await File.WriteAllTextAsync(target.FullName, page.Html, cancellationToken);
                await output.WriteLineAsync($"wrote {target.FullName}");
                return 0;
            }

            var response = await Connect(parse).ExplainAsync(request, Headers(parse), cancellationToken: cancellationToken);
            await PrintRows(output, parse.GetValue(json), response.Model, response.Rows);
            return 0;
        }));

        var dataset = new Command("dataset", "Explain every row of a run's dataset, streamed; prints one line per row (JSON lines with --json)") { model, version, run, path, idColumn, topK, threshold, background };
        dataset.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var request = new ExplainDatasetRequest { Model = Reference(parse), Dataset = DatasetOf(parse), TopK = parse.GetValue(topK), Background = BackgroundOf(parse) };
            if (parse.GetValue(threshold) is { } cut)
            {
                request.Threshold = cut;
            }

            using var call = Connect(parse).ExplainDataset(request, Headers(parse), cancellationToken: cancellationToken);
            ModelDescription? description = null;
            await foreach (var batch in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                description ??= batch.Model;
                await PrintRows(output, parse.GetValue(json), description!, batch.Rows, oneLine: true);
            }

            return 0;
        }));

        var importance = new Command("importance", "Compute and store the global importance of the version's features on a run's dataset") { model, version, run, path, background };
        importance.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var report = await Connect(parse).ComputeImportanceAsync(new ComputeImportanceRequest { Model = Reference(parse), Dataset = DatasetOf(parse), Background = BackgroundOf(parse) },
                Headers(parse), cancellationToken: cancellationToken);
            await PrintImportance(output, parse.GetValue(json), report);
            return 0;
        }));

        var id = new Argument<string>("id") { Description = "The report's id, as `explain reports` lists it" };
        var weights = new Option<FileInfo?>("--weights") { Description = "Write the features' weights (mean |SHAP| normalised to 1) as JSON, for a drift policy's weights" };
        var report = new Command("report", "One importance report; with -o, its HTML page (bars and beeswarm)") { id, file, weights };
        report.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var request = new GetImportanceRequest { Id = parse.GetValue(id)! };
            if (parse.GetValue(file) is { } target)
            {
                var page = await Connect(parse).RenderImportanceAsync(request, Headers(parse), cancellationToken: cancellationToken);
                await File.WriteAllTextAsync(target.FullName, page.Html, cancellationToken);
                await output.WriteLineAsync($"wrote {target.FullName}");
                return 0;
            }

            var found = await Connect(parse).GetImportanceAsync(request, Headers(parse), cancellationToken: cancellationToken);
            if (parse.GetValue(weights) is { } weightsFile)
            {
                await File.WriteAllTextAsync(weightsFile.FullName, JsonSerializer.Serialize(found.Weights.OrderByDescending(w => w.Value).ToDictionary()), cancellationToken);
                await output.WriteLineAsync($"wrote {weightsFile.FullName}");
                return 0;
            }

            await PrintImportance(output, parse.GetValue(json), found);
            return 0;
        }));

        var reports = new Command("reports", "A model version's importance reports, newest first") { model, version };
        reports.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var response = await Connect(parse).ListImportanceAsync(new ListImportanceRequest { Model = parse.GetValue(model)!, Version = parse.GetValue(version), PageSize = 100 },
                Headers(parse), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), response.Reports, ["ID", "CREATED", "ROWS", "DATASET", "TOP FEATURES"],
                r => [r.Id, CliOutput.Time(r.CreatedAt), r.Rows.ToString(CultureInfo.InvariantCulture), $"{r.Dataset.RunId}/{r.Dataset.ArtifactPath}",
                      string.Join(", ", r.Features.Take(3).Select(f => f.Feature))]);
            return 0;
        }));

        var requestId = new Argument<string>("request-id") { Description = "The request id the serving system sent the decision's record with" };
        var decisionModel = new Argument<string>("model") { Description = "The registered model" };
        var decision = new Command("decision", "What the model decided for a request and why, from its decision log: the version, the decision and its reason codes (auditor or admin; LGPD Art. 20)")
        {
            decisionModel, requestId, topK,
        };
        decision.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            var response = await Connect(parse).ExplainDecisionAsync(
                new ExplainDecisionRequest { Model = parse.GetValue(decisionModel)!, RequestId = parse.GetValue(requestId)!, TopK = parse.GetValue(topK) },
                CliOutput.Headers(parse.GetValue(token), "auditor"), cancellationToken: cancellationToken);
            foreach (var d in response.Decisions)
            {
                if (parse.GetValue(json))
                {
                    await output.WriteLineAsync(CliOutput.Json.Format(d));
                    continue;
                }

                var logged = d.HasLoggedPrediction ? d.LoggedPrediction.ToString("G6", CultureInfo.InvariantCulture) : "none";
                await output.WriteLineAsync($"{d.RequestId}: {d.Model} version {d.Version} at {CliOutput.Time(d.DecidedAt)}, logged score {logged}");
                if (d.Unexplained.Length > 0)
                {
                    await output.WriteLineAsync($"  not explained: {d.Unexplained}");
                    continue;
                }

                await output.WriteLineAsync(d.Reproduced
                    ? "  the registered model reproduces the logged score"
                    : "  the registered model does NOT reproduce the logged score: the serving system ran another model or other values");
                await PrintRows(output, json: false, new ModelDescription(), [d.Explanation], oneLine: true);
            }

            return 0;
        }));

        return new Command("explain", "What drives a model's predictions: SHAP values, reason codes, global importance, the feature dictionary, logged decisions")
        {
            address, token, json, describe, rows, dataset, importance, report, reports, decision, DictionaryCommand(output, Guard, Connect, Headers, json),
        };
    }

    // explain dictionary set|get
    private static Command DictionaryCommand(TextWriter output, Func<Func<Task<int>>, Task<int>> guard, Func<ParseResult, ExplainabilityService.ExplainabilityServiceClient> connect,
        Func<ParseResult, Metadata> headers, Option<bool> json)
    {
        var model = new Argument<string>("model") { Description = "The registered model" };
        var file = new Argument<FileInfo>("file") { Description = "A JSON object: feature → {\"name\": readable name, \"description\": what it means}" };
        var set = new Command("set", "Replace the model's feature dictionary from a JSON file") { model, file };
        set.SetAction((parse, cancellationToken) => guard(async () =>
        {
            var request = new SetFeatureDictionaryRequest { Model = parse.GetValue(model)! };
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, cancellationToken));
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                request.Entries.Add(new FeatureEntry
                {
                    Feature = entry.Name,
                    DisplayName = entry.Value.TryGetProperty("name", out var name) ? name.GetString() ?? "" : "",
                    Description = entry.Value.TryGetProperty("description", out var description) ? description.GetString() ?? "" : "",
                });
            }

            var saved = await connect(parse).SetFeatureDictionaryAsync(request, headers(parse), cancellationToken: cancellationToken);
            await output.WriteLineAsync($"{saved.Model}: {saved.Entries.Count} features described");
            return 0;
        }));
        var get = new Command("get", "The model's feature dictionary") { model };
        get.SetAction((parse, cancellationToken) => guard(async () =>
        {
            var dictionary = await connect(parse).GetFeatureDictionaryAsync(new GetFeatureDictionaryRequest { Model = parse.GetValue(model)! }, headers(parse), cancellationToken: cancellationToken);
            await CliOutput.Print(output, parse.GetValue(json), dictionary.Entries, ["FEATURE", "NAME", "DESCRIPTION"], e => [e.Feature, e.DisplayName, e.Description]);
            return 0;
        }));
        return new Command("dictionary", "The readable names and descriptions reason codes show") { set, get };
    }

    // "a=1,b=2" (named; "a=" or "a=NaN" missing) or "1,2,,4" (in the model's order; an empty value missing).
    internal static Row ParseRow(string text, string id)
    {
        var row = new Row { Id = id };
        var parts = text.Split(',');
        if (parts.Any(p => p.Contains('=', StringComparison.Ordinal)))
        {
            foreach (var part in parts)
            {
                var at = part.IndexOf('=', StringComparison.Ordinal);
                if (at <= 0)
                {
                    throw new FormatException($"--row takes feature=value pairs or plain values, not '{part}'");
                }

                row.Named[part[..at].Trim()] = Number(part[(at + 1)..]);
            }

            return row;
        }

        row.Values.Add(parts.Select(Number));
        return row;
    }

    private static double Number(string text) => string.IsNullOrWhiteSpace(text)
        ? double.NaN
        : double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static async Task PrintRows(TextWriter output, bool json, ModelDescription model, IEnumerable<RowExplanation> rows, bool oneLine = false)
    {
        foreach (var row in rows)
        {
            if (json)
            {
                await output.WriteLineAsync(oneLine ? Google.Protobuf.JsonFormatter.Default.Format(row) : CliOutput.Json.Format(row));
                continue;
            }

            var reasons = string.Join("; ", row.Reasons.Select(r => string.Create(CultureInfo.InvariantCulture,
                $"{r.DisplayName} = {(r.HasValue ? r.Value.ToString("G6", CultureInfo.InvariantCulture) : "missing")} ({(r.Attribution > 0 ? "+" : "")}{r.Attribution:G4})")));
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{(row.Id.Length > 0 ? row.Id : $"row {row.Row}")}: prediction {row.Prediction:G6}{(row.HasDecision ? row.Decision ? " (at or above threshold)" : " (below threshold)" : "")}; reasons: {(reasons.Length > 0 ? reasons : "none")}"));
            if (!oneLine)
            {
                // Kernel SHAP's estimates carry their standard errors.
                await CliOutput.Section(output, "  attributions:", model.Features.Select((f, i) => (Feature: f, Index: i))
                    .OrderByDescending(r => Math.Abs(row.Attributions[r.Index])).Take(10)
                    .Select(r => row.AttributionErrors.Count > 0
                        ? new[] { r.Feature, row.Attributions[r.Index].ToString("G6", CultureInfo.InvariantCulture), "± " + row.AttributionErrors[r.Index].ToString("G2", CultureInfo.InvariantCulture) }
                        : [r.Feature, row.Attributions[r.Index].ToString("G6", CultureInfo.InvariantCulture)]));
            }
        }
    }

    private static async Task PrintImportance(TextWriter output, bool json, ImportanceReport report)
    {
        if (json)
        {
            await output.WriteLineAsync(CliOutput.Json.Format(report));
            return;
        }

        await output.WriteLineAsync($"report {report.Id}: {report.Model.Model} {report.Model.Version}, {report.Rows} rows of {report.Dataset.RunId}/{report.Dataset.ArtifactPath}");
        await CliOutput.Section(output, "importance (mean |SHAP|):", report.Features.Take(20).Select(f => new[]
        {
            f.Rank.ToString(CultureInfo.InvariantCulture), f.DisplayName, f.MeanAbs.ToString("G4", CultureInfo.InvariantCulture),
            $"weight {report.Weights.GetValueOrDefault(f.Feature).ToString("0.###", CultureInfo.InvariantCulture)}",
        }));
    }
}

using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Contracts.Explainability.V1;
using ModelOps.Datasets;
using ModelOps.Explainability.Agnostic;
using ModelOps.Explainability.Data;
using ModelOps.Explainability.Domain;
using ModelOps.Explainability.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Explainability.Grpc;

/// <summary>The explainability API: SHAP values and reason codes of registered models, global importance reports and their pages, feature dictionaries.</summary>
[Authorize]
internal sealed partial class ExplainabilityService(
    ExplainabilityStore store, ModelSource models, ExplainabilityMetrics metrics, ModelOps.Drift.V1.DriftService.DriftServiceClient drift)
    : V1.ExplainabilityService.ExplainabilityServiceBase
{
    /// <summary>Most rows of an Explain request.</summary>
    public const int MaxRows = 1000;

    /// <summary>Most rows of a RenderExplanation request.</summary>
    public const int MaxRenderedRows = 20;

    /// <summary>Most values in one row.</summary>
    public const int MaxFeatures = 10_000;

    /// <summary>Default and largest batch of ExplainDataset.</summary>
    public const int DefaultBatch = 500, MaxBatch = 1000;

    /// <summary>Most entries of a feature dictionary; longest name and description.</summary>
    public const int MaxEntries = 10_000, MaxNameLength = 200, MaxDescriptionLength = 1000;

    /// <summary>Most model evaluations one request may take (a model-agnostic explainer costs coalitions × background rows per row).</summary>
    public const long MaxEvaluations = 2_000_000_000;

    /// <summary>Threads one request explains on.</summary>
    private static readonly int Threads = Math.Max(1, Environment.ProcessorCount);

    /// <inheritdoc />
    public override async Task<ModelDescription> DescribeModel(DescribeModelRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        ModelSource.Check(violations, "model", request.Model);
        violations.ThrowIfAny();
        return (await models.LoadAsync(request.Model, context.CancellationToken)).Describe();
    }

    /// <inheritdoc />
    public override async Task<ExplainResponse> Explain(ExplainRequest request, ServerCallContext context)
    {
        var (model, explanations) = await ExplainRowsAsync(request, MaxRows, context.CancellationToken);
        var response = new ExplainResponse { Model = model.Describe() };
        if (Threshold(model, request.HasThreshold ? request.Threshold : null) is { } threshold)
        {
            response.Threshold = threshold;
        }

        response.Rows.Add(explanations);
        return response;
    }

    /// <inheritdoc />
    public override async Task<HtmlPage> RenderExplanation(ExplainRequest request, ServerCallContext context)
    {
        var (model, explanations) = await ExplainRowsAsync(request, MaxRenderedRows, context.CancellationToken);
        return new HtmlPage { Html = Pages.Explanation(model.Describe(), explanations, Threshold(model, request.HasThreshold ? request.Threshold : null)) };
    }

    /// <inheritdoc />
    public override async Task ExplainDataset(ExplainDatasetRequest request, IServerStreamWriter<ExplainBatch> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var violations = new FieldViolations();
        ModelSource.Check(violations, "model", request.Model);
        CheckDataset(violations, "dataset", request.Dataset ??= new Dataset());
        CheckBackground(violations, request.Background);
        violations.Require(request.BatchSize is >= 0 and <= MaxBatch, "batch_size", $"must lie in [0, {MaxBatch}] (0 means {DefaultBatch})");
        CheckTopK(violations, request.TopK);
        CheckThreshold(violations, request.HasThreshold, request.Threshold);
        violations.ThrowIfAny();

        var (model, table, _) = await LoadWithDatasetAsync(request.Model, request.Dataset, request.Background, cancellationToken);
        var (phi, margins, errors) = await ComputeAsync(model, table.Values, table.Rows, "dataset", cancellationToken);
        var dictionary = await DictionaryAsync(model.Reference.Model, cancellationToken);
        var threshold = Threshold(model, request.HasThreshold ? request.Threshold : null);
        var topK = request.TopK == 0 ? Explanations.DefaultTopK : request.TopK;
        var features = model.FeatureNames.Count;
        var batch = Explanations.BatchRows(request.BatchSize == 0 ? DefaultBatch : request.BatchSize, features, topK,
            Explanations.LargestReason(model.FeatureNames, dictionary), errors is not null);
        for (var first = 0; first < table.Rows; first += batch)
        {
            var message = new ExplainBatch();
            if (first == 0)
            {
                message.Model = model.Describe();
            }

            for (var r = first; r < Math.Min(table.Rows, first + batch); r++)
            {
                message.Rows.Add(Explanations.Explain(model, r, table.Ids.Count > 0 ? table.Ids[r] : "", table.Values.AsSpan(r * features, features),
                    phi.AsSpan(r * features, features), margins[r], threshold, topK, dictionary, Slice(errors, r, features)));
            }

            await responseStream.WriteAsync(message, cancellationToken);
        }
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<ImportanceReport> ComputeImportance(ComputeImportanceRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var violations = new FieldViolations();
        ModelSource.Check(violations, "model", request.Model);
        CheckDataset(violations, "dataset", request.Dataset ??= new Dataset());
        CheckBackground(violations, request.Background);
        violations.ThrowIfAny("No report was stored.");

        var (model, table, sha256) = await LoadWithDatasetAsync(request.Model, request.Dataset, request.Background, cancellationToken);
        var (phi, _, _) = await ComputeAsync(model, table.Values, table.Rows, "dataset", cancellationToken);
        var dictionary = await DictionaryAsync(model.Reference.Model, cancellationToken);
        var report = Importance.Summarise(model.FeatureNames, table.Values, phi, table.Rows, dictionary);

        var caller = context.GetCaller();
        report.Id = Guid.CreateVersion7().ToString();
        report.Model = model.Reference.Clone();
        report.ModelSha256 = model.Sha256;
        report.Dataset = request.Dataset;
        report.DatasetSha256 = sha256;
        report.BaseValue = model.Explainer.BaseValue;
        if (model.Background is { } background)
        {
            report.Background = background.Dataset;
            report.BackgroundSha256 = background.Sha256;
        }

        report.CreatedAt = Now();
        report.CreatedBy = caller.Actor;
        await store.SaveImportanceAsync(report, new ImportanceComputed
        {
            Actor = caller.Actor, ReportId = Guid.Parse(report.Id), Model = report.Model.Model, Version = report.Model.Version.ToString(CultureInfo.InvariantCulture),
            ModelSha256 = model.Sha256, RunId = request.Dataset.RunId, ArtifactPath = request.Dataset.ArtifactPath, DatasetSha256 = sha256, Rows = report.Rows,
            TopFeatures = [.. report.Features.Take(10).Select(f => new FeatureWeight(f.Feature, f.MeanAbs))],
        }, cancellationToken);
        metrics.Record(report);
        return report;
    }

    /// <inheritdoc />
    public override async Task<ImportanceReport> GetImportance(GetImportanceRequest request, ServerCallContext context) =>
        await store.GetImportanceAsync(Id(request.Id), context.CancellationToken) ?? throw ServiceErrors.NotFound("report", request.Id);

    /// <inheritdoc />
    public override async Task<ListImportanceResponse> ListImportance(ListImportanceRequest request, ServerCallContext context)
    {
        var (pageSize, offset, fingerprint) = Page(request, "importance");
        var reports = await store.ListImportanceAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        var response = new ListImportanceResponse { NextPageToken = Paging.NextToken(reports.Count, pageSize, offset, fingerprint) };
        foreach (var report in reports.Take(pageSize))
        {
            report.Beeswarm.Clear();
            response.Reports.Add(report);
        }

        return response;
    }

    /// <inheritdoc />
    public override async Task<HtmlPage> RenderImportance(GetImportanceRequest request, ServerCallContext context)
    {
        var report = await store.GetImportanceAsync(Id(request.Id), context.CancellationToken) ?? throw ServiceErrors.NotFound("report", request.Id);
        return new HtmlPage { Html = Pages.Importance(report) };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<FeatureDictionary> SetFeatureDictionary(SetFeatureDictionaryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        TextRules.Name(violations, "model", request.Model, MaxNameLength);
        violations.Require(request.Entries.Count <= MaxEntries, "entries", $"at most {MaxEntries} entries");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Math.Min(request.Entries.Count, MaxEntries); i++)
        {
            var entry = request.Entries[i];
            var name = TextRules.Name(violations, $"entries[{i}].feature", entry.Feature, MaxNameLength);
            violations.Require(name.Length == 0 || seen.Add(name), $"entries[{i}].feature", $"{TextRules.Echo(name)} is described twice");
            violations.Require(entry.DisplayName.Length <= MaxNameLength && TextRules.NameProblem(entry.DisplayName) is null || entry.DisplayName.Length == 0,
                $"entries[{i}].display_name", $"must be at most {MaxNameLength} characters without control or format characters");
            violations.Require(entry.Description.Length <= MaxDescriptionLength && !entry.Description.Any(char.IsControl), $"entries[{i}].description",
                $"must be at most {MaxDescriptionLength} characters without control characters");
        }

        violations.ThrowIfAny("The dictionary was not changed.");
        var caller = context.GetCaller();
        var dictionary = new FeatureDictionary { Model = request.Model, UpdatedAt = Now(), UpdatedBy = caller.Actor };
        dictionary.Entries.Add(request.Entries);
        await store.SaveDictionaryAsync(dictionary, caller.Actor, context.CancellationToken);
        return dictionary;
    }

    /// <inheritdoc />
    public override async Task<FeatureDictionary> GetFeatureDictionary(GetFeatureDictionaryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        TextRules.Name(violations, "model", request.Model, MaxNameLength);
        violations.ThrowIfAny();
        return await store.GetDictionaryAsync(request.Model, context.CancellationToken) ?? new FeatureDictionary { Model = request.Model };
    }

    /// <inheritdoc />
    public override async Task<ListAttributionWindowsResponse> ListAttributionWindows(ListImportanceRequest request, ServerCallContext context)
    {
        var (pageSize, offset, fingerprint) = Page(request, "attribution-windows");
        var windows = await store.ListWindowsAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        return new ListAttributionWindowsResponse { Windows = { windows.Take(pageSize) }, NextPageToken = Paging.NextToken(windows.Count, pageSize, offset, fingerprint) };
    }

    // A listing's model version and page, checked; the page token is bound to the listing and the version.
    private static (int PageSize, long Offset, string Fingerprint) Page(ListImportanceRequest request, string listing)
    {
        var violations = new FieldViolations();
        TextRules.Name(violations, "model", request.Model, MaxNameLength);
        violations.Require(request.Version >= 1, "version", "must be a registered version number (≥ 1)");
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint(listing, request.Model, request.Version.ToString(CultureInfo.InvariantCulture));
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        return (pageSize, offset, fingerprint);
    }

    private async Task<(ExplainedModel Model, List<RowExplanation> Explanations)> ExplainRowsAsync(ExplainRequest request, int maxRows, CancellationToken cancellationToken)
    {
        var violations = new FieldViolations();
        ModelSource.Check(violations, "model", request.Model);
        violations.Require(request.Rows.Count is > 0 && request.Rows.Count <= maxRows, "rows", $"give 1 to {maxRows} rows");
        CheckTopK(violations, request.TopK);
        CheckThreshold(violations, request.HasThreshold, request.Threshold);
        for (var r = 0; r < Math.Min(request.Rows.Count, maxRows); r++)
        {
            var row = request.Rows[r];
            violations.Require(row.Values.Count <= MaxFeatures && row.Named.Count <= MaxFeatures, $"rows[{r}]", $"at most {MaxFeatures} values");
            violations.Require(row.Values.Count == 0 || row.Named.Count == 0, $"rows[{r}]", "give values in the model's order or named values, not both");
            violations.Require(row.Id.Length <= FeatureTable.MaxIdLength, $"rows[{r}].id", $"at most {FeatureTable.MaxIdLength} characters");
        }

        CheckBackground(violations, request.Background);
        violations.ThrowIfAny();
        var loaded = await models.LoadAsync(request.Model, cancellationToken);
        var values = Matrix(loaded, request.Rows);
        var model = await models.WithBackgroundAsync(loaded, request.Background, "background", cancellationToken);
        var (phi, margins, errors) = await ComputeAsync(model, values, request.Rows.Count, "rows", cancellationToken);
        var dictionary = await DictionaryAsync(model.Reference.Model, cancellationToken);
        var threshold = Threshold(model, request.HasThreshold ? request.Threshold : null);
        var topK = request.TopK == 0 ? Explanations.DefaultTopK : request.TopK;
        var features = model.FeatureNames.Count;
        var explanations = new List<RowExplanation>(request.Rows.Count);
        for (var r = 0; r < request.Rows.Count; r++)
        {
            explanations.Add(Explanations.Explain(model, r, request.Rows[r].Id, values.AsSpan(r * features, features), phi.AsSpan(r * features, features),
                margins[r], threshold, topK, dictionary, Slice(errors, r, features)));
        }

        return (model, explanations);
    }

    // The model, a dataset's rows in its feature order, and the dataset's SHA-256; a model that keeps no covers has them
    // counted on the background, or on the dataset itself (read once) when none is named.
    private async Task<(ExplainedModel Model, FeatureTable Table, string Sha256)> LoadWithDatasetAsync(
        ModelRef reference, Dataset dataset, Dataset? background, CancellationToken cancellationToken)
    {
        var loaded = await models.LoadAsync(reference, cancellationToken);
        var (table, sha256) = await models.ReadDatasetAsync(loaded.FeatureNames, dataset, "dataset", cancellationToken);
        var model = background is null
            ? await models.WithBackgroundAsync(loaded, dataset, (table, sha256), cancellationToken)
            : await models.WithBackgroundAsync(loaded, background, "background", cancellationToken);
        return (model, table, sha256);
    }

    // The rows in the model's feature order; a wrong count or an unknown name is refused naming the row and column.
    private static double[] Matrix(ExplainedModel model, IReadOnlyList<Row> rows)
    {
        var names = model.FeatureNames;
        var features = names.Count;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var f = features - 1; f >= 0; f--)
        {
            index[names[f]] = f;
        }

        var violations = new FieldViolations();
        var values = new double[rows.Count * features];
        for (var r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            var target = values.AsSpan(r * features, features);
            if (row.Named.Count == 0)
            {
                if (row.Values.Count != features)
                {
                    violations.Add($"rows[{r}].values", $"has {row.Values.Count} values; the model has {features} features ({Preview(names)})");
                    continue;
                }

                for (var f = 0; f < features; f++)
                {
                    target[f] = row.Values[f];
                }

                continue;
            }

            target.Fill(double.NaN);
            foreach (var (name, value) in row.Named)
            {
                if (index.TryGetValue(name, out var f))
                {
                    target[f] = value;
                }
                else
                {
                    violations.Add($"rows[{r}].named[{TextRules.Clip(name, 40)}]", $"the model has no feature {TextRules.Echo(TextRules.Clip(name, 60))} (its features: {Preview(names)})");
                }
            }
        }

        violations.ThrowIfAny("Nothing was explained.");
        return values;
    }

    private static string Preview(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(10).Select(n => TextRules.Echo(TextRules.Clip(n, 40)))) + (names.Count > 10 ? ", …" : "");

    // Explaining is CPU work: off the request thread, on every core. A model-agnostic explainer's cost is bounded
    // first, so a request that would run for hours is refused before any of it is done.
    private static async Task<(double[] Phi, double[] Margins, double[]? Errors)> ComputeAsync(ExplainedModel model, double[] values, int rows, string field, CancellationToken cancellationToken)
    {
        var explainer = model.Explainer;
        if (explainer.EvaluationsPerRow * rows > MaxEvaluations)
        {
            throw ServiceErrors.InvalidArgument(field, string.Create(CultureInfo.InvariantCulture,
                $"has {rows} rows; at most {MaxEvaluations / explainer.EvaluationsPerRow} rows of this model fit one request ({MaxEvaluations:N0} model evaluations; " +
                $"{explainer.Method.Name} takes {explainer.Method.Coalitions} coalitions × {explainer.Method.BackgroundRows} background rows per row)"));
        }

        var phi = new double[values.Length];
        var margins = new double[rows];
        var errors = explainer.Method.Estimates ? new double[values.Length] : null;
        try
        {
            await Task.Run(() => explainer.Explain(values, rows, phi, margins, errors, Threads, cancellationToken), cancellationToken);
        }
        catch (ModelRunException exception)
        {
            throw ModelSource.Failed(model.Reference, exception);
        }

        return (phi, margins, errors);
    }

    private static ReadOnlySpan<double> Slice(double[]? errors, int row, int features) => errors is null ? default : errors.AsSpan(row * features, features);

    private async Task<IReadOnlyDictionary<string, FeatureEntry>> DictionaryAsync(string model, CancellationToken cancellationToken) =>
        (await store.GetDictionaryAsync(model, cancellationToken))?.Entries.ToDictionary(e => e.Feature, StringComparer.Ordinal)
        ?? new Dictionary<string, FeatureEntry>();

    private static double? Threshold(ExplainedModel model, double? given) => given ?? model.DefaultThreshold;

    private static void CheckDataset(FieldViolations violations, string field, Dataset dataset)
    {
        RunArtifacts.CheckRunId(violations, $"{field}.run_id", dataset.RunId);
        dataset.ArtifactPath = TextRules.Name(violations, $"{field}.artifact_path", dataset.ArtifactPath, 1024);
        if (dataset.IdColumn.Length > 0)
        {
            TextRules.Name(violations, $"{field}.id_column", dataset.IdColumn, MaxNameLength);
        }
    }

    // Background rows are optional; named, they are checked as any dataset.
    private static void CheckBackground(FieldViolations violations, Dataset? background)
    {
        if (background is not null)
        {
            CheckDataset(violations, "background", background);
        }
    }

    private static void CheckTopK(FieldViolations violations, int topK) =>
        violations.Require(topK is >= 0 and <= Explanations.MaxTopK, "top_k", $"must lie in [0, {Explanations.MaxTopK}] (0 means {Explanations.DefaultTopK})");

    private static void CheckThreshold(FieldViolations violations, bool has, double threshold) =>
        violations.Require(!has || double.IsFinite(threshold), "threshold", "must be a finite number");

    private static Timestamp Now() => Timestamp.FromDateTimeOffset(Timestamps.Now());

    private static Guid Id(string id) => TextRules.Uuid("id", id);
}

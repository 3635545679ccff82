using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Contracts.Fairness.V1;
using ModelOps.Datasets;
using ModelOps.Fairness.Analysis;
using ModelOps.Fairness.Data;
using ModelOps.Fairness.Domain;
using ModelOps.Fairness.Mitigations;
using ModelOps.Fairness.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using AnalysisSettings = ModelOps.Fairness.Analysis.AnalysisSettings;

namespace ModelOps.Fairness.Grpc;

/// <summary>The fairness API: reports of evaluation datasets, their HTML pages, and mitigations.</summary>
[Authorize]
public sealed class FairnessService(FairnessStore store, RunArtifacts artifacts, FairnessMetrics metrics) : V1.FairnessService.FairnessServiceBase
{
    /// <summary>Longest model, version or column name.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Most sensitive columns.</summary>
    public const int MaxSensitiveColumns = 8;

    /// <summary>Largest dataset artifact read.</summary>
    public const long MaxDatasetBytes = 2L << 30;

    /// <summary>Most bootstrap resamples.</summary>
    public const int MaxResamples = 2000;

    /// <summary>Most calibration bins.</summary>
    public const int MaxCalibrationBins = 100;

    /// <summary>Most bytes of reports one page of production windows holds (at least one report).</summary>
    public const int MaxPageBytes = 3 << 20;

    /// <summary>Default minimum group size.</summary>
    public const int DefaultMinGroupSize = 30;

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<FairnessReport> EvaluateDataset(EvaluateDatasetRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var columns = CheckDataset(violations, request.Dataset ??= new Dataset());
        var settings = CheckSettings(violations, request.Settings ??= new Settings(), request.Dataset);
        violations.ThrowIfAny("No report was stored.");

        var (data, sha256) = await ReadAsync(request.Dataset, columns!, cancellationToken);
        CheckPrivileged(data, request.Settings);
        var report = await ComputeAsync(() => FairnessAnalysis.Analyze(data, settings!), cancellationToken);

        var caller = context.GetCaller();
        report.Id = Guid.CreateVersion7().ToString();
        report.Model = request.Model;
        report.Version = request.Version;
        report.Dataset = request.Dataset;
        report.DatasetSha256 = sha256;
        report.Settings = Applied(settings!);
        report.CreatedAt = Now();
        report.CreatedBy = caller.Actor;
        await store.SaveReportAsync(report, new FairnessEvaluated
        {
            Actor = caller.Actor, ReportId = Guid.Parse(report.Id), Model = report.Model, Version = report.Version, RunId = request.Dataset.RunId,
            ArtifactPath = request.Dataset.ArtifactPath, DatasetSha256 = sha256, Rows = report.Rows, SensitiveColumns = [.. request.Dataset.SensitiveColumns],
            Disparities = [.. report.Groupings.SelectMany(g => g.Disparities
                .Where(d => d.Name is "demographic_parity_ratio" or "equalized_odds_difference" or "disparate_impact")
                .Select(d => new DisparityFigure(g.Name, d.Name, d.HasValue ? d.Value : null, d.HasLower ? d.Lower : null, d.HasUpper ? d.Upper : null)))],
        }, cancellationToken);
        metrics.Record(report);
        return report;
    }

    /// <inheritdoc />
    public override async Task<FairnessReport> GetReport(GetReportRequest request, ServerCallContext context) =>
        await store.GetReportAsync(Id(request.Id), context.CancellationToken) ?? throw ReportNotFound(request.Id);

    /// <inheritdoc />
    public override async Task<ListReportsResponse> ListReports(ListReportsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("fairness-reports", request.Model, request.Version);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var reports = await store.ListReportsAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        var response = new ListReportsResponse { NextPageToken = Paging.NextToken(reports.Count, pageSize, offset, fingerprint) };
        foreach (var report in reports.Take(pageSize))
        {
            // A listing holds each grouping's disparities; GetReport holds its groups too.
            foreach (var grouping in report.Groupings)
            {
                grouping.Groups.Clear();
            }

            report.Overall?.Calibration.Clear();
            response.Reports.Add(report);
        }

        return response;
    }

    /// <inheritdoc />
    public override async Task<ListReportsResponse> ListWindowReports(ListReportsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("fairness-windows", request.Model, request.Version);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var reports = await store.ListWindowReportsAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        // Bounded by bytes too (at least one report per page), so a page stays under a client's default 4 MiB.
        var response = new ListReportsResponse();
        long bytes = 0;
        foreach (var report in reports.Take(pageSize))
        {
            bytes += report.CalculateSize();
            if (response.Reports.Count > 0 && bytes > MaxPageBytes)
            {
                break;
            }

            response.Reports.Add(report);
        }

        response.NextPageToken = response.Reports.Count < reports.Count ? Paging.Token(offset + response.Reports.Count, fingerprint) : "";
        return response;
    }

    /// <inheritdoc />
    public override async Task<HtmlPage> RenderReport(GetReportRequest request, ServerCallContext context)
    {
        var report = await store.GetReportAsync(Id(request.Id), context.CancellationToken) ?? throw ReportNotFound(request.Id);
        var windows = await store.ListWindowReportsAsync(report.Model, report.Version, ReportPage.HistoryWindows, 0, context.CancellationToken);
        return new HtmlPage { Html = ReportPage.Render(report, windows) };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<Mitigation> Mitigate(MitigateRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var columns = CheckDataset(violations, request.Dataset ??= new Dataset());
        violations.Require(request.Method is MitigationMethod.Thresholds or MitigationMethod.Reweighing, "method", "must be THRESHOLDS or REWEIGHING");
        if (request.Method == MitigationMethod.Thresholds)
        {
            violations.Require(request.Dataset.ScoreColumn.Length > 0, "dataset.score_column", "per-group thresholds are chosen on the model's scores: name the score column");
        }

        violations.Require(request.Dataset.Task != ModelTask.Regression, "dataset.task", "mitigations apply to binary classifiers");
        violations.Require(request.Constraint is ModelOps.Fairness.V1.Constraint.Unspecified or ModelOps.Fairness.V1.Constraint.DemographicParity or ModelOps.Fairness.V1.Constraint.EqualizedOdds,
            "constraint", "must be DEMOGRAPHIC_PARITY or EQUALIZED_ODDS");
        var tolerance = request.HasTolerance ? request.Tolerance : 0.02;
        violations.Require(double.IsFinite(tolerance) && tolerance is >= 0 and <= 1, "tolerance", "must lie in [0, 1]");
        violations.Require(request.MinGroupSize >= 0, "min_group_size", "must be ≥ 0 (0 means 30)");
        violations.ThrowIfAny("No mitigation was stored.");

        var (data, sha256) = await ReadAsync(request.Dataset, columns!, cancellationToken);
        var minimum = request.MinGroupSize == 0 ? DefaultMinGroupSize : request.MinGroupSize;
        var constraint = request.Constraint == ModelOps.Fairness.V1.Constraint.EqualizedOdds ? ParityConstraint.EqualizedOdds : ParityConstraint.DemographicParity;
        var mitigation = await ComputeAsync(() => request.Method == MitigationMethod.Thresholds
            ? Mitigator.Thresholds(data, columns!.Threshold, constraint, tolerance, minimum)
            : Mitigator.Reweighing(data, minimum), cancellationToken);

        var caller = context.GetCaller();
        mitigation.Id = Guid.CreateVersion7().ToString();
        mitigation.Model = request.Model;
        mitigation.Version = request.Version;
        mitigation.Dataset = request.Dataset;
        mitigation.DatasetSha256 = sha256;
        mitigation.CreatedAt = Now();
        mitigation.CreatedBy = caller.Actor;
        Mitigator.WriteArtifact(mitigation, request.Dataset.ScoreColumn);
        await store.SaveMitigationAsync(mitigation, new MitigationComputed
        {
            Actor = caller.Actor, MitigationId = Guid.Parse(mitigation.Id), Model = mitigation.Model, Version = mitigation.Version,
            Method = mitigation.Method.ToString().ToUpperInvariant(), DatasetSha256 = sha256, ArtifactSha256 = mitigation.ArtifactSha256,
        }, cancellationToken);
        return mitigation;
    }

    /// <inheritdoc />
    public override async Task<Mitigation> GetMitigation(GetMitigationRequest request, ServerCallContext context) =>
        await store.GetMitigationAsync(Id(request.Id), context.CancellationToken)
        ?? throw ServiceErrors.NotFound("mitigation", request.Id);

    private async Task<(EvaluationData Data, string Sha256)> ReadAsync(Dataset dataset, DatasetColumns columns, CancellationToken cancellationToken)
    {
        var parquet = dataset.ArtifactPath.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);
        await using var artifact = await artifacts.ReadAsync(dataset.RunId, dataset.ArtifactPath, "dataset.artifact_path", MaxDatasetBytes, cancellationToken);
        try
        {
            return (await DatasetReader.ReadAsync(artifact.Content, parquet, columns, cancellationToken), artifact.Sha256);
        }
        catch (DatasetException exception)
        {
            throw ServiceErrors.InvalidArgument(exception.Field, $"{TextRules.Echo(dataset.ArtifactPath)}: {TextRules.Clip(exception.Message, 250)}");
        }
    }

    // The analysis is CPU work: off the request thread. Too many intersectional groups is the request's fault.
    private static async Task<T> ComputeAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        try
        {
            return await System.Threading.Tasks.Task.Run(work, cancellationToken);
        }
        catch (TooManyGroupsException exception)
        {
            throw ServiceErrors.InvalidArgument("dataset.sensitive_columns", exception.Message);
        }
    }

    private static DatasetColumns? CheckDataset(FieldViolations violations, Dataset dataset)
    {
        RunArtifacts.CheckRunId(violations, "dataset.run_id", dataset.RunId);
        dataset.ArtifactPath = TextRules.Name(violations, "dataset.artifact_path", dataset.ArtifactPath, 1024);
        dataset.LabelColumn = TextRules.Name(violations, "dataset.label_column", dataset.LabelColumn, MaxNameLength);
        violations.Require(dataset.Task is ModelTask.Unspecified or ModelTask.BinaryClassification or ModelTask.Regression, "dataset.task", "must be BINARY_CLASSIFICATION or REGRESSION");
        var regression = dataset.Task == ModelTask.Regression;
        if (dataset.Task == ModelTask.Unspecified)
        {
            dataset.Task = ModelTask.BinaryClassification;
        }

        if (regression)
        {
            violations.Require(dataset.ScoreColumn.Length == 0, "dataset.score_column", "a regression has no score: name its estimates in prediction_column");
            dataset.PredictionColumn = TextRules.Name(violations, "dataset.prediction_column", dataset.PredictionColumn, MaxNameLength);
        }
        else if ((dataset.ScoreColumn.Length > 0) == (dataset.PredictionColumn.Length > 0))
        {
            violations.Add("dataset.score_column", "name exactly one of score_column (scores in [0, 1]) and prediction_column (0/1 predictions)");
        }
        else if (dataset.ScoreColumn.Length > 0)
        {
            dataset.ScoreColumn = TextRules.Name(violations, "dataset.score_column", dataset.ScoreColumn, MaxNameLength);
        }
        else
        {
            dataset.PredictionColumn = TextRules.Name(violations, "dataset.prediction_column", dataset.PredictionColumn, MaxNameLength);
        }

        if (!dataset.HasThreshold)
        {
            dataset.Threshold = 0.5;
        }

        violations.Require(double.IsFinite(dataset.Threshold) && dataset.Threshold is > 0 and <= 1, "dataset.threshold", "must lie in (0, 1]");
        violations.Require(dataset.SensitiveColumns.Count is > 0 and <= MaxSensitiveColumns, "dataset.sensitive_columns", $"name 1 to {MaxSensitiveColumns} columns");
        var names = new HashSet<string>(StringComparer.Ordinal) { dataset.LabelColumn, dataset.ScoreColumn, dataset.PredictionColumn };
        for (var i = 0; i < dataset.SensitiveColumns.Count && i < MaxSensitiveColumns; i++)
        {
            var name = TextRules.Name(violations, $"dataset.sensitive_columns[{i}]", dataset.SensitiveColumns[i], MaxNameLength);
            violations.Require(name.Length == 0 || names.Add(name), $"dataset.sensitive_columns[{i}]", $"{TextRules.Echo(name)} is named twice, or is the label, score or prediction");
        }

        return violations.Any
            ? null
            : new DatasetColumns(dataset.LabelColumn, dataset.ScoreColumn.Length > 0 ? dataset.ScoreColumn : null,
                dataset.PredictionColumn.Length > 0 ? dataset.PredictionColumn : null, dataset.Threshold, [.. dataset.SensitiveColumns], regression);
    }

    private static AnalysisSettings? CheckSettings(FieldViolations violations, Settings settings, Dataset dataset)
    {
        violations.Require(settings.MinGroupSize >= 0, "settings.min_group_size", "must be ≥ 0 (0 means 30)");
        violations.Require(settings.Resamples is >= 0 and <= MaxResamples, "settings.resamples", $"must lie in [0, {MaxResamples}] (0 means 200)");
        violations.Require(settings.Confidence == 0 || (double.IsFinite(settings.Confidence) && settings.Confidence is >= 0.5 and <= 0.999),
            "settings.confidence", "must lie in [0.5, 0.999] (0 means 0.95)");
        violations.Require(settings.CalibrationBins is >= 0 and <= MaxCalibrationBins, "settings.calibration_bins", $"must lie in [0, {MaxCalibrationBins}] (0 means 10)");
        foreach (var (column, value) in settings.Privileged)
        {
            violations.Require(dataset.SensitiveColumns.Contains(column), $"settings.privileged[{TextRules.Clip(column, 40)}]", "is not one of the sensitive columns");
            violations.Require(value.Length is > 0 and <= DatasetReader.MaxValueLength, $"settings.privileged[{TextRules.Clip(column, 40)}]",
                $"must be a value of 1 to {DatasetReader.MaxValueLength} characters");
        }

        return violations.Any
            ? null
            : new AnalysisSettings(settings.MinGroupSize == 0 ? DefaultMinGroupSize : settings.MinGroupSize, settings.Resamples == 0 ? 200 : settings.Resamples,
                settings.Seed, settings.Confidence == 0 ? 0.95 : settings.Confidence, settings.Privileged, settings.CalibrationBins == 0 ? 10 : settings.CalibrationBins);
    }

    // A privileged value no row holds would silently fall back to the highest selection rate: refused instead.
    private static void CheckPrivileged(EvaluationData data, Settings settings)
    {
        var violations = new FieldViolations();
        foreach (var (column, value) in settings.Privileged)
        {
            var attribute = data.Attributes.Single(a => a.Name == column);
            violations.Require(attribute.Values.Contains(value), $"settings.privileged[{TextRules.Clip(column, 40)}]",
                $"no row has {TextRules.Echo(column)} = {TextRules.Echo(TextRules.Clip(value, 60))}");
        }

        violations.ThrowIfAny("No report was stored.");
    }

    private static Settings Applied(AnalysisSettings settings) => new()
    {
        MinGroupSize = settings.MinGroupSize, Resamples = settings.Resamples, Seed = settings.Seed, Confidence = settings.Confidence,
        Privileged = { settings.Privileged.ToDictionary() }, CalibrationBins = settings.CalibrationBins,
    };

    private static Timestamp Now() => Timestamp.FromDateTimeOffset(Timestamps.Now());

    private static Guid Id(string id) => TextRules.Uuid("id", id);

    private static ServiceException ReportNotFound(string id) => ServiceErrors.NotFound("report", id);

    private static void CheckKey(FieldViolations violations, string field, string value) =>
        TextRules.Name(violations, field, value, MaxNameLength);
}

using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Datasets;
using ModelOps.Drift.Data;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Drift.Grpc;

/// <summary>The drift API: references, inference ingestion into windows, and window reports.</summary>
public sealed partial class DriftService(
    DriftStore store, TimeProvider clock, RunArtifacts artifacts,
    Microsoft.Extensions.Options.IOptions<Domain.DriftOptions> options)
    : V1.DriftService.DriftServiceBase
{
    // Most distinct numbers of a column that references and windows keep exactly (validated at start).
    private readonly int _exactCap = options.Value.ExactValues;

    /// <summary>Largest reference artifact read.</summary>
    public const long MaxReferenceBytes = 2L << 30;

    /// <summary>Most columns of a schema.</summary>
    public const int MaxColumns = 1000;

    /// <summary>Most rows, records or labels in one message.</summary>
    public const int MaxPerMessage = 10_000;

    /// <summary>Longest request id.</summary>
    public const int MaxRequestId = 200;

    /// <summary>Longest model, version or column name.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Longest category label.</summary>
    public const int MaxLabelLength = ColumnProfile.MaxLabelLength;

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<V1.Reference> SetReference(IAsyncStreamReader<SetReferenceRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.PartCase != SetReferenceRequest.PartOneofCase.Header)
        {
            throw ServiceErrors.InvalidArgument("header", "the first message must be the header");
        }

        var header = requestStream.Current.Header;
        var violations = new FieldViolations();
        CheckKey(violations, "header.model", header.Model);
        CheckKey(violations, "header.version", header.Version);
        violations.Require(header.Columns.Count is > 0 and <= MaxColumns, "header.columns", $"give 1 to {MaxColumns} columns");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < header.Columns.Count && i < MaxColumns; i++)
        {
            var column = header.Columns[i];
            column.Name = TextRules.Name(violations, $"header.columns[{i}].name", column.Name, MaxNameLength);
            violations.Require(names.Add(column.Name), $"header.columns[{i}].name", $"{TextRules.Echo(column.Name)} names an earlier column");
            violations.Require(column.Kind is V1.ColumnKind.Numeric or V1.ColumnKind.Categorical or V1.ColumnKind.Boolean, $"header.columns[{i}].kind",
                "must be NUMERIC, CATEGORICAL or BOOLEAN");
        }

        var policy = Policy(header.Window, violations, "header.window");
        TextRules.FreeText(violations, "header.source", header.Source, 2000);
        var prediction = Prediction(header.PredictionColumn, header.Task, header.DecisionThreshold,
            header.Columns.Where(c => c.Kind is V1.ColumnKind.Numeric or V1.ColumnKind.Categorical or V1.ColumnKind.Boolean)
                .GroupBy(c => c.Name).ToDictionary(g => g.Key, g => ProfileCodec.Kind(g.First().Kind)),
            violations, "header.");
        violations.ThrowIfAny("The reference was not stored.");

        var schema = header.Columns.Select(c => new ColumnSchema(c.Name, ProfileCodec.Kind(c.Kind))).ToList();
        var profile = new DatasetProfile(schema, _exactCap);
        var message = 0;
        while (await requestStream.MoveNext(cancellationToken))
        {
            message++;
            var part = requestStream.Current;
            if (part.PartCase != SetReferenceRequest.PartOneofCase.Rows)
            {
                throw ServiceErrors.InvalidArgument($"messages[{message}]", "after the header, only rows");
            }

            if (part.Rows.Rows.Count > MaxPerMessage)
            {
                throw ServiceErrors.InvalidArgument($"messages[{message}].rows", $"at most {MaxPerMessage} rows per message");
            }

            for (var r = 0; r < part.Rows.Rows.Count; r++)
            {
                var row = Values(part.Rows.Rows[r].Values, $"messages[{message}].rows[{r}].values");
                Check(profile, row, $"messages[{message}].rows[{r}].values");
                profile.Add(row);
            }
        }

        if (profile.Rows == 0)
        {
            throw ServiceErrors.InvalidArgument("rows", "a reference needs at least one row");
        }

        var actor = context.GetCaller().Actor;
        await store.SaveReferenceAsync(header.Model, header.Version, schema, policy, header.Source, profile, prediction, actor, cancellationToken);
        return Describe((await store.GetReferenceAsync(header.Model, header.Version, cancellationToken))!);
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<V1.Reference> SetReferenceFromArtifact(SetReferenceFromArtifactRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        RunArtifacts.CheckRunId(violations, "run_id", request.RunId);
        request.ArtifactPath = TextRules.Name(violations, "artifact_path", request.ArtifactPath, 1024);
        violations.Require(request.Columns.Count <= MaxColumns, "columns", $"at most {MaxColumns} columns");
        var given = new Dictionary<string, Profiles.ColumnKind>(StringComparer.Ordinal);
        for (var i = 0; i < request.Columns.Count && i < MaxColumns; i++)
        {
            var column = request.Columns[i];
            var name = TextRules.Name(violations, $"columns[{i}].name", column.Name, MaxNameLength);
            if (column.Kind is not (V1.ColumnKind.Numeric or V1.ColumnKind.Categorical or V1.ColumnKind.Boolean))
            {
                violations.Add($"columns[{i}].kind", "must be NUMERIC, CATEGORICAL or BOOLEAN");
            }
            else if (!given.TryAdd(name, ProfileCodec.Kind(column.Kind)))
            {
                violations.Add($"columns[{i}].name", $"{TextRules.Echo(name)} is given twice");
            }
        }

        var policy = Policy(request.Window, violations, "window");
        var parquet = request.ArtifactPath.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);
        // The file's columns are known once it is read; the prediction column is checked then.
        Prediction(request.PredictionColumn, request.Task, request.DecisionThreshold, null, violations, "");
        violations.ThrowIfAny("The reference was not stored.");

        DatasetProfile profile;
        string source;
        await using (var artifact = await artifacts.ReadAsync(request.RunId, request.ArtifactPath, "artifact_path", MaxReferenceBytes, cancellationToken))
        {
            try
            {
                // TextFieldParser reads synchronously: off the request thread.
                profile = parquet
                    ? (await ParquetReference.ProfileAsync(artifact.Content, given, cancellationToken, _exactCap)).Profile
                    : await Task.Run(() => CsvReference.Profile(artifact.Content, given, cancellationToken, _exactCap).Profile, cancellationToken);
            }
            catch (ReferenceFormatException exception)
            {
                throw ServiceErrors.InvalidArgument("artifact_path",
                    $"{TextRules.Echo(request.ArtifactPath)} is not a usable {(parquet ? "Parquet file" : "CSV")}: {TextRules.Clip(exception.Message, 200)}");
            }

            source = artifact.Source;
        }

        if (profile.Rows == 0)
        {
            throw ServiceErrors.InvalidArgument("artifact_path", $"{TextRules.Echo(request.ArtifactPath)} has a header but no rows");
        }

        violations = new FieldViolations();
        var prediction = Prediction(request.PredictionColumn, request.Task, request.DecisionThreshold,
            profile.Schema.ToDictionary(c => c.Name, c => c.Kind), violations, "");
        violations.ThrowIfAny("The reference was not stored.");
        await store.SaveReferenceAsync(request.Model, request.Version, profile.Schema, policy, source,
            profile, prediction, context.GetCaller().Actor, cancellationToken);
        return Describe((await store.GetReferenceAsync(request.Model, request.Version, cancellationToken))!);
    }

    /// <inheritdoc />
    public override async Task<V1.Reference> GetReference(GetReferenceRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        violations.ThrowIfAny();
        return Describe(await store.GetReferenceAsync(request.Model, request.Version, context.CancellationToken)
                        ?? throw ReferenceNotFound(request.Model, request.Version));
    }

    /// <inheritdoc />
    public override async Task<WindowReport> GetWindowReport(GetWindowReportRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var window = Address(violations, request);
        violations.ThrowIfAny();
        return await store.GetReportAsync(request.Model, request.Version, window, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("window_report", $"{request.Model}/{request.Version}@{window}",
                   $"No report of a window of {TextRules.Echo(request.Model)} version {TextRules.Echo(request.Version)} at {window}.");
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Service},{Roles.Admin}")]
    public override async Task<WindowSample> GetWindowSample(GetWindowReportRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var window = Address(violations, request);
        violations.ThrowIfAny();
        var policy = await store.GetPolicyAsync(request.Model, context.CancellationToken);
        var rows = WindowSamples.Watches(policy) ? WindowSamples.RowsOf(policy!.Explainability) : WindowSamples.MaxRows;
        return await store.GetSampleAsync(request.Model, request.Version, window, rows, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("window_sample", $"{request.Model}/{request.Version}@{window}",
                   $"No sample of a reported window of {TextRules.Echo(request.Model)} version {TextRules.Echo(request.Version)} at {window} is kept.");
    }

    /// <inheritdoc />
    public override async Task<ListWindowReportsResponse> ListWindowReports(ListWindowReportsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("reports", request.Model, request.Version);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var reports = await store.ListReportsAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        // A page also stops before it would pass MaxPageBytes (with its first report always in it).
        var page = ByBytes(reports.Take(pageSize), r => r.CalculateSize());
        return new ListWindowReportsResponse
        {
            Reports = { page },
            NextPageToken = page.Count < Math.Min(pageSize, reports.Count)
                ? Paging.Token(offset + page.Count, fingerprint)
                : Paging.NextToken(reports.Count, pageSize, offset, fingerprint),
        };
    }

    /// <summary>Most bytes of reports one page of <c>ListWindowReports</c> or <c>GetStatus</c> returns (at least one item).</summary>
    public const int MaxPageBytes = 3 * 1024 * 1024;

    private static List<T> ByBytes<T>(IEnumerable<T> items, Func<T, int> size)
    {
        var page = new List<T>();
        long bytes = 0;
        foreach (var item in items)
        {
            bytes += size(item);
            if (page.Count > 0 && bytes > MaxPageBytes)
            {
                break;
            }

            page.Add(item);
        }

        return page;
    }

    /// <inheritdoc />
    public override async Task<V1.HtmlReport> RenderWindowReport(GetWindowReportRequest request, ServerCallContext context)
    {
        var report = await GetWindowReport(request, context);
        var history = await store.ListReportsAsync(request.Model, request.Version, ReportPage.HistoryWindows, 0, context.CancellationToken);
        return new V1.HtmlReport { Html = ReportPage.Render(report, history) };
    }

    // A count window by its number, any window by its start.
    private static WindowAddress Address(FieldViolations violations, GetWindowReportRequest request)
    {
        if (request.HasCountWindow)
        {
            violations.Require(request.CountWindow >= 0, "count_window", "must be a count window's number (≥ 0), as its report gives it");
            return new WindowAddress(null, request.CountWindow);
        }

        return new WindowAddress(Timestamps.Check(violations, "window_start", request.WindowStart, required: true), null);
    }

    private static Profiles.WindowPolicy Policy(V1.WindowPolicy? window, FieldViolations violations, string field)
    {
        if (window is null || window.SizeCase == V1.WindowPolicy.SizeOneofCase.None)
        {
            return Profiles.WindowPolicy.Hourly;
        }

        violations.Require(window.AllowedLatenessSeconds is >= 0 and <= 7 * 86400, $"{field}.allowed_lateness_seconds", "must be 0 to 7 days");
        // Out-of-range values are clamped only so that a policy object exists until the violations are thrown.
        var lateness = TimeSpan.FromSeconds(Math.Clamp(window.AllowedLatenessSeconds, 0, 7 * 86400));
        if (window.SizeCase == V1.WindowPolicy.SizeOneofCase.Seconds)
        {
            violations.Require(window.Seconds is >= 1 and <= 31 * 86400, $"{field}.seconds", "must be 1 second to 31 days");
            return new Profiles.WindowPolicy(TimeSpan.FromSeconds(Math.Clamp(window.Seconds, 1, 31 * 86400)), null, lateness);
        }

        violations.Require(window.Records is >= 1 and <= 100_000_000, $"{field}.records", "must be 1 to 100,000,000");
        return new Profiles.WindowPolicy(null, Math.Clamp(window.Records, 1, 100_000_000), TimeSpan.Zero);
    }

    // The reference's prediction column and task, checked against its columns (null: not known yet).
    private static PredictionSpec? Prediction(
        string column, ModelTask task, double threshold, IReadOnlyDictionary<string, Profiles.ColumnKind>? kinds, FieldViolations violations, string prefix)
    {
        violations.Require(System.Enum.IsDefined(task), $"{prefix}task", "is not a task");
        violations.Require(task == ModelTask.Unspecified || column.Length > 0, $"{prefix}prediction_column", "a task needs the column that holds the predictions");
        violations.Require(threshold is >= 0 and <= 1, $"{prefix}decision_threshold", "must lie in [0, 1]");
        if (column.Length == 0)
        {
            return null;
        }

        TextRules.Name(violations, $"{prefix}prediction_column", column, MaxNameLength);

        if (kinds is not null)
        {
            if (!kinds.TryGetValue(column, out var kind))
            {
                violations.Add($"{prefix}prediction_column", $"{TextRules.Echo(column)} is not a column of the reference");
            }
            else if (task == ModelTask.Regression && kind != Profiles.ColumnKind.Numeric)
            {
                violations.Add($"{prefix}prediction_column", $"a regression's predictions are numbers; {TextRules.Echo(column)} is {kind.ToString().ToLowerInvariant()}");
            }
            else if (task == ModelTask.BinaryClassification && kind == Profiles.ColumnKind.Categorical)
            {
                violations.Add($"{prefix}prediction_column", $"a binary classifier's predictions are scores or booleans; {TextRules.Echo(column)} is categorical");
            }
        }

        return new PredictionSpec(column, task, threshold > 0 ? threshold : 0.5);
    }

    private static V1.Reference Describe(StoredReference reference)
    {
        var described = new V1.Reference
        {
            Model = reference.Model,
            Version = reference.Version,
            Source = reference.Source,
            Rows = reference.Profile.Rows,
            CreatedAt = Timestamp.FromDateTimeOffset(reference.CreatedAt),
            CreatedBy = reference.CreatedBy,
            PredictionColumn = reference.Prediction?.Column ?? "",
            Task = reference.Prediction?.Task ?? ModelTask.Unspecified,
            DecisionThreshold = reference.Prediction?.Threshold ?? 0,
            Window = reference.Policy.Duration is { } duration
                ? new V1.WindowPolicy { Seconds = (long)duration.TotalSeconds, AllowedLatenessSeconds = (long)reference.Policy.AllowedLateness.TotalSeconds }
                : new V1.WindowPolicy { Records = reference.Policy.Records!.Value },
        };
        foreach (var column in reference.Profile.Columns)
        {
            described.Columns.Add(new Column { Name = column.Name, Kind = ProfileCodec.Kind(column.Kind) });
            described.Summary.Add(new ColumnSummary
            {
                Name = column.Name,
                Kind = ProfileCodec.Kind(column.Kind),
                Count = column.Count,
                Missing = column.Missing,
                Min = column.Count > 0 && column.Kind == Profiles.ColumnKind.Numeric ? column.Min : 0,
                Max = column.Count > 0 && column.Kind == Profiles.ColumnKind.Numeric ? column.Max : 0,
                Mean = column.Mean,
                StandardDeviation = column.StandardDeviation,
                Distinct = column.Labels.Count,
                TypeViolations = column.TypeViolations,
            });
        }

        return described;
    }

    private static void CheckKey(FieldViolations violations, string field, string value) =>
        TextRules.Name(violations, field, value, MaxNameLength);

    private static ServiceException ReferenceNotFound(string model, string version) =>
        ServiceErrors.NotFound("reference", $"{model}/{version}", $"{TextRules.Echo(model)} version {TextRules.Echo(version)} has no reference.");
}

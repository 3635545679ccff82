using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.Data;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.V1;
using Minio;

namespace ModelOps.Drift.Grpc;

/// <summary>The drift API: references, inference ingestion into windows, and window reports.</summary>
public sealed class DriftService(
    DriftStore store, TimeProvider clock, TrackingService.TrackingServiceClient tracking, IMinioClient minio, ObjectStoreConnection objectStore)
    : V1.DriftService.DriftServiceBase
{
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

    /// <summary>Latest record timestamp: 9999-12-31T23:59:59.999Z in milliseconds since the epoch.</summary>
    private const long MaxTimestampMs = 253_402_300_799_999;

    // Records are written (as window partials) at least this often within a long stream, and always before answering.
    private const int FlushEvery = 50_000;

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
        var profile = new DatasetProfile(schema);
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
        violations.Require(System.Text.RegularExpressions.Regex.IsMatch(request.RunId, "^[0-9a-fA-F]{32}$"), "run_id", "must be a tracking run id (32 hex digits)");
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

        Artifact artifact;
        try
        {
            artifact = await tracking.GetArtifactAsync(new GetArtifactRequest { RunId = request.RunId, Path = request.ArtifactPath },
                deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            throw ServiceErrors.NotFound("artifact", $"{request.RunId}/{request.ArtifactPath}",
                $"Artifact {TextRules.Echo(request.ArtifactPath)} of run {request.RunId} was not found.");
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.InvalidArgument)
        {
            // Tracking's rules for a path are stricter than a name's: its refusal is this request's.
            var reason = exception.GetRpcStatus()?.GetDetail<Google.Rpc.BadRequest>()?.FieldViolations.FirstOrDefault()?.Description ?? "is not a valid artifact path";
            throw ServiceErrors.InvalidArgument("artifact_path", reason);
        }

        var key = objectStore.KeyOf(artifact.Uri)
                  ?? throw ServiceErrors.FailedPrecondition("NOT_IN_BUCKET", $"{artifact.Uri} is not in the artifact bucket {objectStore.Bucket}.",
                      "ARTIFACT_LOCATION", artifact.Uri);

        DatasetProfile profile;
        string sha256;
        await using (var body = await minio.OpenReadAsync(objectStore.Bucket, key, cancellationToken))
        {
            try
            {
                // TextFieldParser reads synchronously: off the request thread.
                (profile, sha256) = parquet
                    ? await ParquetReference.ProfileAsync(body, given, cancellationToken)
                    : await Task.Run(() => CsvReference.Profile(body, given, cancellationToken), cancellationToken);
            }
            catch (ReferenceFormatException exception)
            {
                throw ServiceErrors.InvalidArgument("artifact_path",
                    $"{TextRules.Echo(request.ArtifactPath)} is not a usable {(parquet ? "Parquet file" : "CSV")}: {TextRules.Clip(exception.Message, 200)}");
            }
        }

        if (sha256 != artifact.Sha256)
        {
            throw ServiceErrors.FailedPrecondition("ARTIFACT_ALTERED",
                $"The object store's bytes of {TextRules.Echo(artifact.Path)} hash to {sha256}, not the {artifact.Sha256} tracking recorded: nothing was stored.",
                "ARTIFACT_INTEGRITY", artifact.Uri);
        }

        if (profile.Rows == 0)
        {
            throw ServiceErrors.InvalidArgument("artifact_path", $"{TextRules.Echo(request.ArtifactPath)} has a header but no rows");
        }

        violations = new FieldViolations();
        var prediction = Prediction(request.PredictionColumn, request.Task, request.DecisionThreshold,
            profile.Schema.ToDictionary(c => c.Name, c => c.Kind), violations, "");
        violations.ThrowIfAny("The reference was not stored.");
        await store.SaveReferenceAsync(request.Model, request.Version, profile.Schema, policy, $"tracking run {request.RunId}: {request.ArtifactPath} (sha256 {sha256})",
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
    [Authorize(Roles = $"{Roles.Service},{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<IngestResponse> Ingest(IAsyncStreamReader<IngestRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var references = new Dictionary<(string, string), (StoredReference Reference, DatasetProfile Checker)>();
        var pending = new Dictionary<(string Model, string Version), Pending>();
        long accepted = 0, late = 0, buffered = 0;
        var message = -1;
        try
        {
            while (await requestStream.MoveNext(cancellationToken))
            {
                message++;
                var records = requestStream.Current.Records;
                var batch = requestStream.Current.Batch;
                if (records.Count + (batch?.Timestamps.Count ?? 0) > MaxPerMessage)
                {
                    throw ServiceErrors.InvalidArgument($"messages[{message}]", $"at most {MaxPerMessage} records per message");
                }

                if (batch is not null)
                {
                    var at = $"messages[{message}].batch";
                    var keyViolations = new FieldViolations();
                    CheckKey(keyViolations, $"{at}.model", batch.Model);
                    CheckKey(keyViolations, $"{at}.version", batch.Version);
                    keyViolations.ThrowIfAny("The batch was not accepted.");
                    var key = (batch.Model, batch.Version);
                    var known = await KnownAsync(references, key, at, cancellationToken);
                    var (times, columns) = Columns(batch, known.Reference, at);
                    var now = clock.GetUtcNow();
                    var rows = new List<int>(times.Length);
                    for (var r = 0; r < times.Length; r++)
                    {
                        if (known.Reference.Policy.IsLate(times[r], now))
                        {
                            late++;
                        }
                        else
                        {
                            rows.Add(r);
                        }
                    }

                    CheckPredictions(known.Reference, columns, rows, at);
                    Queue(pending, key).Batches.Add((times, columns, rows, batch.RequestIds.Count > 0 ? [.. batch.RequestIds] : null));
                    buffered += rows.Count;
                }

                for (var i = 0; i < records.Count; i++)
                {
                    var record = records[i];
                    var at = $"messages[{message}].records[{i}]";
                    var recordViolations = new FieldViolations();
                    CheckKey(recordViolations, $"{at}.model", record.Model);
                    CheckKey(recordViolations, $"{at}.version", record.Version);
                    var stamped = Timestamps.Check(recordViolations, $"{at}.timestamp", record.Timestamp);
                    recordViolations.ThrowIfAny("The record was not accepted.");
                    var key = (record.Model, record.Version);
                    var known = await KnownAsync(references, key, at, cancellationToken);

                    var row = Values(record.Features, $"{at}.features");
                    if (record.Prediction is { } output)
                    {
                        var spec = known.Reference.Prediction ?? throw new FieldViolations()
                            .Add($"{at}.prediction", $"the reference of {key.Model} version {key.Version} names no prediction column").ToException("The request is invalid.");

                        if (row.ContainsKey(spec.Column))
                        {
                            throw ServiceErrors.InvalidArgument($"{at}.prediction", $"given twice: also as features[{TextRules.Clip(spec.Column, 40)}]");
                        }

                        row[spec.Column] = ValueOf(output, $"{at}.prediction");
                    }

                    Check(known.Checker, row, $"{at}.features");
                    CheckPrediction(known.Reference, row, $"{at}.prediction");
                    CheckRequestId(record.RequestId, $"{at}.request_id");
                    var when = stamped ?? clock.GetUtcNow();
                    if (known.Reference.Policy.IsLate(when, clock.GetUtcNow()))
                    {
                        late++;
                        continue;
                    }

                    Queue(pending, key).Records.Add(new CheckedRecord(when, row, record.RequestId));
                    buffered++;
                }

                if (buffered >= FlushEvery)
                {
                    accepted += await FlushAsync(pending, references, cancellationToken);
                    buffered = 0;
                }
            }
        }
        catch (ServiceException)
        {
            // What was accepted before the bad record is kept, as with LogMetrics; the trailer says how much.
            accepted += await FlushAsync(pending, references, CancellationToken.None);
            context.ResponseTrailers.Add("accepted-records", accepted.ToString(CultureInfo.InvariantCulture));
            throw;
        }

        accepted += await FlushAsync(pending, references, cancellationToken);
        return new IngestResponse { Accepted = accepted, Late = late };
    }

    /// <inheritdoc />
    public override async Task<WindowReport> GetWindowReport(GetWindowReportRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        var start = Timestamps.Check(violations, "window_start", request.WindowStart, required: true);
        violations.ThrowIfAny();
        return await store.GetReportAsync(request.Model, request.Version, start!.Value, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("window_report", $"{request.Model}/{request.Version}@{start:O}",
                   $"No report of a window of {TextRules.Echo(request.Model)} version {TextRules.Echo(request.Version)} starts at {start:O}.");
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

    /// <inheritdoc />
    public override async Task<GetStatusResponse> GetStatus(GetStatusRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("status", request.IncludeUnwatched.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var models = await store.StatusAsync(request.IncludeUnwatched, context.CancellationToken);
        foreach (var model in models.Where(m => m.Latest is not null))
        {
            // The status is an overview: each column's verdict, without the distributions (GetWindowReport has them).
            foreach (var column in model.Latest.Columns.Append(model.Latest.Prediction).OfType<ColumnReport>())
            {
                column.Histogram.Clear();
            }
        }

        var page = ByBytes(models.Skip((int)Math.Min(offset, int.MaxValue)).Take(pageSize), m => m.CalculateSize());
        return new GetStatusResponse
        {
            Models = { page },
            NextPageToken = offset + page.Count < models.Count ? Paging.Token(offset + page.Count, fingerprint) : "",
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
    [Authorize(Roles = $"{Roles.Service},{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<IngestLabelsResponse> IngestLabels(IAsyncStreamReader<IngestLabelsRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var references = new Dictionary<(string, string), StoredReference>();
        long matched = 0, unmatched = 0;
        var drifts = new SortedSet<string>(StringComparer.Ordinal);
        var message = -1;
        try
        {
            while (await requestStream.MoveNext(cancellationToken))
            {
                message++;
                var part = requestStream.Current;
                var at = $"messages[{message}]";
                var keyViolations = new FieldViolations();
                CheckKey(keyViolations, $"{at}.model", part.Model);
                CheckKey(keyViolations, $"{at}.version", part.Version);
                keyViolations.Require(part.Labels.Count <= MaxPerMessage, $"{at}.labels", $"at most {MaxPerMessage} labels per message");
                keyViolations.ThrowIfAny("The labels of this message were not applied.");
                if (!references.TryGetValue((part.Model, part.Version), out var reference))
                {
                    reference = await store.GetReferenceAsync(part.Model, part.Version, cancellationToken)
                                ?? throw ServiceErrors.FailedPrecondition("NO_REFERENCE",
                                    $"{at}: {TextRules.Echo(part.Model)} version {TextRules.Echo(part.Version)} has no reference, so no predictions to join labels to.",
                                    "REFERENCE", $"{part.Model}/{part.Version}");
                    if (reference.Prediction is not { Task: not ModelTask.Unspecified })
                    {
                        throw ServiceErrors.FailedPrecondition("NO_TASK",
                            $"{at}: the reference of {TextRules.Echo(part.Model)} version {TextRules.Echo(part.Version)} names no task (prediction_column and task), so no predictions were kept for labels.",
                            "REFERENCE", $"{part.Model}/{part.Version}");
                    }

                    references[(part.Model, part.Version)] = reference;
                }

                var classification = reference.Prediction!.Task == ModelTask.BinaryClassification;
                var violations = new FieldViolations();
                var labels = new List<(string, double)>(part.Labels.Count);
                for (var j = 0; j < part.Labels.Count; j++)
                {
                    var label = part.Labels[j];
                    var field = $"{at}.labels[{j}]";
                    TextRules.Name(violations, $"{field}.request_id", label.RequestId, MaxRequestId);
                    double? value = (label.Value?.KindCase, classification) switch
                    {
                        (Value.KindOneofCase.BoolValue, true) => label.Value!.BoolValue ? 1 : 0,
                        (Value.KindOneofCase.NumberValue, true) when label.Value!.NumberValue is 0 or 1 => label.Value.NumberValue,
                        (Value.KindOneofCase.NumberValue, false) when double.IsFinite(label.Value!.NumberValue) => label.Value.NumberValue,
                        _ => null,
                    };
                    if (value is null)
                    {
                        violations.Add($"{field}.value", classification ? "a binary label is a boolean, 0 or 1" : "a regression's label is a finite number");
                        continue;
                    }

                    labels.Add((label.RequestId, value.Value));
                }

                violations.ThrowIfAny("The labels of this message were not applied.");
                var outcome = await store.ApplyLabelsAsync(reference, labels, cancellationToken);
                matched += outcome.Matched;
                unmatched += outcome.Unmatched;
                drifts.UnionWith(outcome.Drifts);
            }
        }
        catch (ServiceException)
        {
            // Messages before the bad one were applied, each in its own transaction.
            context.ResponseTrailers.Add("matched-labels", matched.ToString(CultureInfo.InvariantCulture));
            throw;
        }

        return new IngestLabelsResponse { Matched = matched, Unmatched = unmatched, Drifts = { drifts } };
    }

    /// <inheritdoc />
    public override async Task<GetColumnHistoryResponse> GetColumnHistory(GetColumnHistoryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        request.Column = TextRules.Name(violations, "column", request.Column, MaxNameLength);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("column-history", request.Model, request.Version, request.Column);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var reference = await store.GetReferenceAsync(request.Model, request.Version, context.CancellationToken)
                        ?? throw ReferenceNotFound(request.Model, request.Version);
        if (!reference.Profile.ByName.ContainsKey(request.Column))
        {
            throw ServiceErrors.InvalidArgument("column", $"{TextRules.Echo(request.Column)} is not a column of the reference of {TextRules.Echo(request.Model)} version {TextRules.Echo(request.Version)}");
        }

        var (points, read) = await store.ColumnHistoryAsync(request.Model, request.Version, request.Column, pageSize, offset, context.CancellationToken);
        return new GetColumnHistoryResponse { Points = { points }, NextPageToken = Paging.NextToken(read, pageSize, offset, fingerprint) };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<MonitoringPolicy> SetMonitoringPolicy(SetMonitoringPolicyRequest request, ServerCallContext context)
    {
        var policy = request.Policy ?? new MonitoringPolicy();
        var violations = new FieldViolations();
        CheckKey(violations, "policy.model", policy.Model);
        var modelIsValid = !violations.Any;
        TextRules.FreeText(violations, "reason", request.Reason, 2000, required: true);
        violations.Require(policy.Rules.Count <= MaxColumns, "policy.rules", $"at most {MaxColumns} rules");
        violations.Require(policy.Importance.Count <= MaxColumns, "policy.importance", $"at most {MaxColumns} columns");
        violations.Require(policy.DatasetThreshold is >= 0 and <= 1, "policy.dataset_threshold", "must lie in [0, 1] (0: the service's default)");
        violations.Require(!policy.Weighted || policy.Importance.Count > 0, "policy.weighted", "weighting needs feature importance");
        // The model's columns are looked up only for a model name that passed its own checks (one indexed read), so that
        // every fault of the policy is named at once, its columns' included.
        var kinds = modelIsValid ? await store.NewestSchemaAsync(policy.Model, context.CancellationToken) : null;
        var named = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < policy.Rules.Count && i < MaxColumns; i++)
        {
            var rule = policy.Rules[i];
            var field = $"policy.rules[{i}]";
            rule.Column = TextRules.Name(violations, $"{field}.column", rule.Column, MaxNameLength);
            violations.Require(named.Add(rule.Column), $"{field}.column", $"{TextRules.Echo(rule.Column)} has a rule already");
            violations.Require(System.Enum.IsDefined(rule.Method), $"{field}.method", "is not a method");
            var test = rule.Method is V1.DriftMethod.KolmogorovSmirnov or V1.DriftMethod.ChiSquare;
            violations.Require(double.IsFinite(rule.Threshold) && rule.Threshold >= 0 && (!test || rule.Threshold <= 1), $"{field}.threshold",
                test ? "a test's threshold is a p-value in [0, 1] (0: the default)" : "must be a finite number ≥ 0 (0: the default)");
            violations.Require(rule.MinimumEffect is >= 0 and <= 1, $"{field}.minimum_effect", "must lie in [0, 1]");
            if (kinds is not null && rule.Column.Length > 0)
            {
                if (!kinds.TryGetValue(rule.Column, out var kind))
                {
                    violations.Add($"{field}.column", $"{TextRules.Echo(rule.Column)} is not a column of {TextRules.Echo(policy.Model)}'s newest reference");
                }
                else if (!Domain.Verdicts.Applies(rule.Method, kind))
                {
                    violations.Add($"{field}.method", $"{rule.Method} measures numbers; {TextRules.Echo(rule.Column)} is {kind.ToString().ToLowerInvariant()}");
                }
            }
        }

        foreach (var (column, weight) in policy.Importance.Take(MaxColumns))
        {
            var field = $"policy.importance[{TextRules.Clip(column, 40)}]";
            TextRules.Name(violations, field, column, MaxNameLength);
            violations.Require(double.IsFinite(weight) && weight >= 0, field, "must be a finite number ≥ 0");
            violations.Require(kinds is null || kinds.ContainsKey(column), field, $"{TextRules.Echo(column)} is not a column of {TextRules.Echo(policy.Model)}'s newest reference");
        }

        violations.ThrowIfAny("The policy was not stored.");
        var stored = new MonitoringPolicy
        {
            Model = policy.Model,
            Rules = { policy.Rules },
            Importance = { policy.Importance },
            DatasetThreshold = policy.DatasetThreshold,
            Weighted = policy.Weighted,
        };
        return await store.SavePolicyAsync(stored, request.Reason.Trim(), context.GetCaller().Actor, context.CancellationToken);
    }

    /// <inheritdoc />
    public override async Task<MonitoringPolicy> GetMonitoringPolicy(GetMonitoringPolicyRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        violations.ThrowIfAny();
        return await store.GetPolicyAsync(request.Model, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("monitoring_policy", request.Model);
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Admin)]
    public override async Task<V1.Watch> SetWatch(SetWatchRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        TextRules.FreeText(violations, "reason", request.Reason, 2000, required: true);
        violations.ThrowIfAny("Nothing changed.");
        return await store.SetWatchAsync(request.Model, request.Version, request.Watch, request.Reason.Trim(), context.GetCaller().Actor, context.CancellationToken);
    }

    /// <inheritdoc />
    public override async Task<V1.HtmlReport> RenderWindowReport(GetWindowReportRequest request, ServerCallContext context)
    {
        var report = await GetWindowReport(request, context);
        var history = await store.ListReportsAsync(request.Model, request.Version, ReportPage.HistoryWindows, 0, context.CancellationToken);
        return new V1.HtmlReport { Html = ReportPage.Render(report, history) };
    }

    private async Task<long> FlushAsync(
        Dictionary<(string Model, string Version), Pending> pending,
        Dictionary<(string, string), (StoredReference Reference, DatasetProfile Checker)> references, CancellationToken cancellationToken)
    {
        long written = 0;
        foreach (var ((model, version), queued) in pending)
        {
            var count = queued.Records.Count + queued.Batches.Sum(b => b.Rows.Count);
            if (count == 0)
            {
                continue;
            }

            var reference = references[(model, version)].Reference;
            await store.AppendAsync(model, version, count, reference.Policy.Records is not null, first =>
            {
                var partials = WindowPartials.Build(reference.Schema, reference.Policy, queued.Records, first);
                var kept = new List<KeptPrediction>();
                var spec = reference.Prediction is { Task: not ModelTask.Unspecified } s ? s : null;
                for (var i = 0; spec is not null && i < queued.Records.Count; i++)
                {
                    var record = queued.Records[i];
                    if (record.RequestId.Length > 0 && Score(record.Row.GetValueOrDefault(spec.Column)) is { } score)
                    {
                        kept.Add(new KeptPrediction(record.RequestId, WindowPartials.Key(reference.Policy, record.At, first + i), record.At, score));
                    }
                }

                var next = first + queued.Records.Count;
                foreach (var (times, columns, rows, requestIds) in queued.Batches)
                {
                    partials.AddRange(WindowPartials.BuildColumnar(reference.Schema, reference.Policy, times, columns, rows, next));
                    if (spec is not null && requestIds is not null && columns.GetValueOrDefault(spec.Column) is { } output)
                    {
                        for (var k = 0; k < rows.Count; k++)
                        {
                            var r = rows[k];
                            if (requestIds[r].Length > 0 && Score(output, r) is { } score)
                            {
                                kept.Add(new KeptPrediction(requestIds[r], WindowPartials.Key(reference.Policy, times[r], next + k), times[r], score));
                            }
                        }
                    }

                    next += rows.Count;
                }

                return (WindowPartials.Combine(partials), kept);
            }, cancellationToken);
            written += count;
            queued.Records.Clear();
            queued.Batches.Clear();
        }

        return written;
    }

    private async Task<(StoredReference Reference, DatasetProfile Checker)> KnownAsync(
        Dictionary<(string, string), (StoredReference Reference, DatasetProfile Checker)> references, (string Model, string Version) key, string at,
        CancellationToken cancellationToken)
    {
        if (references.TryGetValue(key, out var known))
        {
            return known;
        }

        var reference = await store.GetReferenceAsync(key.Model, key.Version, cancellationToken)
                        ?? throw ServiceErrors.FailedPrecondition("NO_REFERENCE",
                            $"{at}: {TextRules.Echo(key.Model)} version {TextRules.Echo(key.Version)} has no reference; set one (SetReference) before sending its traffic.",
                            "REFERENCE", $"{key.Model}/{key.Version}");
        return references[key] = (reference, new DatasetProfile(reference.Schema));
    }

    private static Pending Queue(Dictionary<(string Model, string Version), Pending> pending, (string, string) key)
    {
        if (!pending.TryGetValue(key, out var queued))
        {
            pending[key] = queued = new Pending();
        }

        return queued;
    }

    // A batch checked against the reference: its timestamps and its columns, every one of the right kind and length.
    private (DateTimeOffset[] Times, Dictionary<string, ColumnValues> Columns) Columns(RecordBatch batch, StoredReference reference, string at)
    {
        var n = batch.Timestamps.Count;
        var violations = new FieldViolations();
        violations.Require(batch.RequestIds.Count == 0 || batch.RequestIds.Count == n, $"{at}.request_ids", $"give none or one per record ({n})");
        violations.Require(n > 0 || batch.RequestIds.Count == 0 && batch.Columns.All(c => c.Numbers.Count + c.Labels.Count + c.Flags.Count + c.Missing.Count == 0),
            $"{at}.timestamps", "give one per record (0 for now): a batch's records are counted by its timestamps");
        violations.Require(batch.Columns.Count <= MaxColumns, $"{at}.columns", $"at most {MaxColumns} columns");
        for (var r = 0; r < batch.RequestIds.Count; r++)
        {
            TextRules.Name(violations, $"{at}.request_ids[{r}]", batch.RequestIds[r], MaxRequestId, required: false);
        }

        for (var r = 0; r < n; r++)
        {
            violations.Require(batch.Timestamps[r] is >= 0 and <= MaxTimestampMs, $"{at}.timestamps[{r}]",
                "must be milliseconds since the epoch up to year 9999, or 0 for now");
        }

        var kinds = reference.Schema.ToDictionary(c => c.Name, c => c.Kind, StringComparer.Ordinal);
        var columns = new Dictionary<string, ColumnValues>(StringComparer.Ordinal);
        for (var c = 0; c < batch.Columns.Count; c++)
        {
            var column = batch.Columns[c];
            var field = $"{at}.columns[{c}]";
            if (!kinds.TryGetValue(column.Name, out var kind))
            {
                violations.Add($"{field}.name", $"{TextRules.Echo(column.Name)} is not a column of the reference schema");
                continue;
            }

            for (var r = 0; r < column.Labels.Count; r++)
            {
                violations.Require(column.Labels[r].Length <= MaxLabelLength, $"{field}.labels[{r}]", $"a label is at most {MaxLabelLength} characters");
            }

            var given = (column.Numbers.Count > 0 ? 1 : 0) + (column.Labels.Count > 0 ? 1 : 0) + (column.Flags.Count > 0 ? 1 : 0);
            var length = Math.Max(column.Numbers.Count, Math.Max(column.Labels.Count, column.Flags.Count));
            var fits = kind switch
            {
                Profiles.ColumnKind.Numeric => column.Numbers.Count > 0,
                Profiles.ColumnKind.Categorical => column.Labels.Count > 0,
                _ => column.Flags.Count > 0,
            };
            if (n > 0 && (given != 1 || !fits || length != n))
            {
                violations.Add(field, $"{TextRules.Echo(column.Name)} is {kind.ToString().ToLowerInvariant()}: give {n} values in {kind switch
                {
                    Profiles.ColumnKind.Numeric => "numbers",
                    Profiles.ColumnKind.Categorical => "labels",
                    _ => "flags",
                }} only");
                continue;
            }

            violations.Require(column.Missing.Count == 0 || column.Missing.Count == n, $"{field}.missing", $"give none or one per record ({n})");
            violations.Require(columns.TryAdd(column.Name, new ColumnValues(column.Name,
                column.Numbers.Count > 0 ? [.. column.Numbers] : null,
                column.Labels.Count > 0 ? [.. column.Labels] : null,
                column.Flags.Count > 0 ? [.. column.Flags] : null,
                column.Missing.Count > 0 ? [.. column.Missing] : null)), $"{field}.name", $"{TextRules.Echo(column.Name)} appears twice");
        }

        violations.ThrowIfAny("The batch was not accepted.");
        var now = clock.GetUtcNow();
        var times = batch.Timestamps.Select(t => t == 0 ? now : DateTimeOffset.FromUnixTimeMilliseconds(t)).ToArray();
        return (times, columns);
    }

    /// <summary>What one ingest call holds for a model version until it writes it.</summary>
    private sealed class Pending
    {
        public List<CheckedRecord> Records { get; } = [];

        public List<(DateTimeOffset[] Times, Dictionary<string, ColumnValues> Columns, List<int> Rows, string[]? RequestIds)> Batches { get; } = [];
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

    // google.protobuf.Value → a feature value: numbers, strings and booleans; null is missing; lists and structs are refused.
    private static Dictionary<string, FeatureValue> Values(IDictionary<string, Value> values, string field)
    {
        if (values.Count > MaxColumns)
        {
            throw ServiceErrors.InvalidArgument(field, $"at most {MaxColumns} columns");
        }

        var row = new Dictionary<string, FeatureValue>(values.Count, StringComparer.Ordinal);
        foreach (var (name, value) in values)
        {
            row[name] = ValueOf(value, $"{field}[{TextRules.Clip(name, 40)}]");
        }

        return row;
    }

    private static FeatureValue ValueOf(Value value, string field) => value.KindCase switch
    {
        Value.KindOneofCase.NumberValue => FeatureValue.Of(value.NumberValue),
        Value.KindOneofCase.StringValue when value.StringValue.Length <= MaxLabelLength => FeatureValue.Of(value.StringValue),
        Value.KindOneofCase.StringValue => throw ServiceErrors.InvalidArgument(field, $"a label is at most {MaxLabelLength} characters"),
        Value.KindOneofCase.BoolValue => FeatureValue.Of(value.BoolValue),
        Value.KindOneofCase.NullValue or Value.KindOneofCase.None => FeatureValue.Missing,
        _ => throw ServiceErrors.InvalidArgument(field, "must be a number, a string, a boolean or null"),
    };

    // A prediction as a number for the performance: a finite number, or a flag as 1 / 0; null when missing.
    private static double? Score(FeatureValue value) =>
        value.Number is { } number && double.IsFinite(number) ? number : value.Flag is { } flag ? (flag ? 1 : 0) : null;

    private static double? Score(ColumnValues column, int row) =>
        column.Missing is { } missing && missing[row] ? null
        : column.Numbers is { } numbers ? (double.IsFinite(numbers[row]) ? numbers[row] : null)
        : column.Flags is { } flags ? (flags[row] ? 1 : 0)
        : null;

    // A binary classifier's score must lie in [0, 1].
    private static void CheckPrediction(StoredReference reference, IReadOnlyDictionary<string, FeatureValue> row, string field)
    {
        if (reference.Prediction is { Task: ModelTask.BinaryClassification } spec && Score(row.GetValueOrDefault(spec.Column)) is { } score && score is < 0 or > 1)
        {
            throw ServiceErrors.InvalidArgument(field, $"a binary classifier's score must lie in [0, 1], not {score.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    private static void CheckPredictions(StoredReference reference, IReadOnlyDictionary<string, ColumnValues> columns, IReadOnlyList<int> rows, string field)
    {
        if (reference.Prediction is not { Task: ModelTask.BinaryClassification } spec || columns.GetValueOrDefault(spec.Column) is not { Numbers: { } scores } column)
        {
            return;
        }

        foreach (var r in rows)
        {
            if (column.Missing?[r] != true && double.IsFinite(scores[r]) && scores[r] is < 0 or > 1)
            {
                throw ServiceErrors.InvalidArgument($"{field}.columns[{TextRules.Clip(spec.Column, 40)}].numbers[{r}]",
                    $"a binary classifier's score must lie in [0, 1], not {scores[r].ToString(CultureInfo.InvariantCulture)}");
            }
        }
    }

    private static void CheckRequestId(string requestId, string field)
    {
        var violations = new FieldViolations();
        TextRules.Name(violations, field, requestId, MaxRequestId, required: false);
        violations.ThrowIfAny("The record was not accepted.");
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

    private static void Check(DatasetProfile profile, IReadOnlyDictionary<string, FeatureValue> row, string field)
    {
        try
        {
            profile.Check(row);
        }
        catch (SchemaMismatchException exception)
        {
            throw ServiceErrors.InvalidArgument($"{field}[{TextRules.Clip(exception.Column, 40)}]", exception.Message);
        }
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

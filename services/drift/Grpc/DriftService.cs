using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.Data;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;
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

    /// <summary>Most rows or records in one message.</summary>
    public const int MaxPerMessage = 10_000;

    // Records are written (as window partials) at least this often within a long stream, and always before answering.
    private const int FlushEvery = 50_000;

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<V1.Reference> SetReference(IAsyncStreamReader<SetReferenceRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken) || requestStream.Current.PartCase != SetReferenceRequest.PartOneofCase.Header)
        {
            GrpcErrors.InvalidArgument("header", "the first message must be the header");
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
            violations.Require(column.Name.Length is > 0 and <= 200, $"header.columns[{i}].name", "must be 1 to 200 characters");
            violations.Require(names.Add(column.Name), $"header.columns[{i}].name", $"'{column.Name}' names an earlier column");
            violations.Require(column.Kind is V1.ColumnKind.Numeric or V1.ColumnKind.Categorical or V1.ColumnKind.Boolean, $"header.columns[{i}].kind",
                "must be NUMERIC, CATEGORICAL or BOOLEAN");
        }

        var policy = Policy(header.Window, violations, "header.window");
        violations.Require(header.Source.Length <= 2000, "header.source", "at most 2000 characters");
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
                GrpcErrors.InvalidArgument($"messages[{message}]", "after the header, only rows");
            }

            if (part.Rows.Rows.Count > MaxPerMessage)
            {
                GrpcErrors.InvalidArgument($"messages[{message}].rows", $"at most {MaxPerMessage} rows per message");
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
            GrpcErrors.InvalidArgument("rows", "a reference needs at least one row");
        }

        var actor = context.GetCaller().Actor;
        await store.SaveReferenceAsync(header.Model, header.Version, schema, policy, header.Source, profile, actor, cancellationToken);
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
        violations.Require(request.ArtifactPath.Length is > 0 and <= 1024, "artifact_path", "is required (at most 1024 characters)");
        var given = new Dictionary<string, Profiles.ColumnKind>(StringComparer.Ordinal);
        for (var i = 0; i < request.Columns.Count; i++)
        {
            var column = request.Columns[i];
            if (column.Kind is not (V1.ColumnKind.Numeric or V1.ColumnKind.Categorical or V1.ColumnKind.Boolean))
            {
                violations.Add($"columns[{i}].kind", "must be NUMERIC, CATEGORICAL or BOOLEAN");
            }
            else if (!given.TryAdd(column.Name, ProfileCodec.Kind(column.Kind)))
            {
                violations.Add($"columns[{i}].name", $"'{column.Name}' is given twice");
            }
        }

        var policy = Policy(request.Window, violations, "window");
        violations.ThrowIfAny("The reference was not stored.");

        Artifact artifact;
        try
        {
            artifact = await tracking.GetArtifactAsync(new GetArtifactRequest { RunId = request.RunId, Path = request.ArtifactPath },
                deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            GrpcErrors.NotFound($"Artifact '{request.ArtifactPath}' of run {request.RunId}");
            throw;
        }

        var key = objectStore.KeyOf(artifact.Uri);
        if (key is null)
        {
            GrpcErrors.FailedPrecondition($"{artifact.Uri} is not in the artifact bucket {objectStore.Bucket}.");
        }

        DatasetProfile profile;
        string sha256;
        await using (var body = await minio.OpenReadAsync(objectStore.Bucket, key, cancellationToken))
        {
            try
            {
                // TextFieldParser reads synchronously: off the request thread.
                (profile, sha256) = await Task.Run(() => CsvReference.Profile(body, given, cancellationToken), cancellationToken);
            }
            catch (CsvFormatException exception)
            {
                GrpcErrors.InvalidArgument("artifact_path", $"'{request.ArtifactPath}' is not a usable CSV: {exception.Message}");
                throw;
            }
        }

        if (sha256 != artifact.Sha256)
        {
            GrpcErrors.FailedPrecondition($"The object store's bytes of '{artifact.Path}' hash to {sha256}, not the {artifact.Sha256} tracking recorded: nothing was stored.");
        }

        if (profile.Rows == 0)
        {
            GrpcErrors.InvalidArgument("artifact_path", $"'{request.ArtifactPath}' has a header but no rows");
        }

        await store.SaveReferenceAsync(request.Model, request.Version, profile.Schema, policy, $"tracking run {request.RunId}: {request.ArtifactPath} (sha256 {sha256})",
            profile, context.GetCaller().Actor, cancellationToken);
        return Describe((await store.GetReferenceAsync(request.Model, request.Version, cancellationToken))!);
    }

    /// <inheritdoc />
    public override async Task<V1.Reference> GetReference(GetReferenceRequest request, ServerCallContext context) =>
        Describe(await store.GetReferenceAsync(request.Model, request.Version, context.CancellationToken)
                 ?? NotFound<StoredReference>($"A reference of {request.Model} version {request.Version}"));

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
                    GrpcErrors.InvalidArgument($"messages[{message}]", $"at most {MaxPerMessage} records per message");
                }

                if (batch is not null)
                {
                    var at = $"messages[{message}].batch";
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

                    Queue(pending, key).Batches.Add((times, columns, rows));
                    buffered += rows.Count;
                }

                for (var i = 0; i < records.Count; i++)
                {
                    var record = records[i];
                    var at = $"messages[{message}].records[{i}]";
                    var key = (record.Model, record.Version);
                    var known = await KnownAsync(references, key, at, cancellationToken);

                    var row = Values(record.Features, $"{at}.features");
                    Check(known.Checker, row, $"{at}.features");
                    var when = record.Timestamp?.ToDateTimeOffset() ?? clock.GetUtcNow();
                    if (known.Reference.Policy.IsLate(when, clock.GetUtcNow()))
                    {
                        late++;
                        continue;
                    }

                    Queue(pending, key).Records.Add(new CheckedRecord(when, row));
                    buffered++;
                }

                if (buffered >= FlushEvery)
                {
                    accepted += await FlushAsync(pending, references, cancellationToken);
                    buffered = 0;
                }
            }
        }
        catch (RpcException)
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
        if (request.WindowStart is null)
        {
            GrpcErrors.InvalidArgument("window_start", "is required");
        }

        return await store.GetReportAsync(request.Model, request.Version, request.WindowStart.ToDateTimeOffset(), context.CancellationToken)
               ?? NotFound<WindowReport>($"A report of the window of {request.Model} version {request.Version} starting {request.WindowStart}");
    }

    /// <inheritdoc />
    public override async Task<ListWindowReportsResponse> ListWindowReports(ListWindowReportsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("reports", request.Model, request.Version);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var reports = await store.ListReportsAsync(request.Model, request.Version, pageSize + 1, offset, context.CancellationToken);
        return new ListWindowReportsResponse
        {
            Reports = { reports.Take(pageSize) },
            NextPageToken = Paging.NextToken(reports.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    public override async Task<GetStatusResponse> GetStatus(GetStatusRequest request, ServerCallContext context) => new()
    {
        Models = { (await store.LatestReportsAsync(context.CancellationToken)).Select(r => new ModelStatus { Model = r.Model, Version = r.Version, Latest = r }) },
    };

    /// <inheritdoc />
    public override async Task<V1.HtmlReport> RenderWindowReport(GetWindowReportRequest request, ServerCallContext context)
    {
        var report = await GetWindowReport(request, context);
        var history = await store.ListReportsAsync(request.Model, request.Version, 200, 0, context.CancellationToken);
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
                var next = first + queued.Records.Count;
                foreach (var (times, columns, rows) in queued.Batches)
                {
                    partials.AddRange(WindowPartials.BuildColumnar(reference.Schema, reference.Policy, times, columns, rows, next));
                    next += rows.Count;
                }

                return WindowPartials.Combine(partials);
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

        var reference = await store.GetReferenceAsync(key.Model, key.Version, cancellationToken);
        if (reference is null)
        {
            GrpcErrors.FailedPrecondition($"{at}: {key.Model} version {key.Version} has no reference; set one (SetReference) before sending its traffic.");
        }

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
        var kinds = reference.Schema.ToDictionary(c => c.Name, c => c.Kind, StringComparer.Ordinal);
        var columns = new Dictionary<string, ColumnValues>(StringComparer.Ordinal);
        for (var c = 0; c < batch.Columns.Count; c++)
        {
            var column = batch.Columns[c];
            var field = $"{at}.columns[{c}]";
            if (!kinds.TryGetValue(column.Name, out var kind))
            {
                violations.Add($"{field}.name", $"'{column.Name}' is not a column of the reference schema");
                continue;
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
                violations.Add(field, $"'{column.Name}' is {kind.ToString().ToLowerInvariant()}: give {n} values in {kind switch
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
                column.Missing.Count > 0 ? [.. column.Missing] : null)), $"{field}.name", $"'{column.Name}' appears twice");
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

        public List<(DateTimeOffset[] Times, Dictionary<string, ColumnValues> Columns, List<int> Rows)> Batches { get; } = [];
    }

    private static Profiles.WindowPolicy Policy(V1.WindowPolicy? window, FieldViolations violations, string field)
    {
        if (window is null || window.SizeCase == V1.WindowPolicy.SizeOneofCase.None)
        {
            return Profiles.WindowPolicy.Hourly;
        }

        violations.Require(window.AllowedLatenessSeconds is >= 0 and <= 7 * 86400, $"{field}.allowed_lateness_seconds", "must be 0 to 7 days");
        if (window.SizeCase == V1.WindowPolicy.SizeOneofCase.Seconds)
        {
            violations.Require(window.Seconds is >= 1 and <= 31 * 86400, $"{field}.seconds", "must be 1 second to 31 days");
            return new Profiles.WindowPolicy(TimeSpan.FromSeconds(Math.Max(1, window.Seconds)), null, TimeSpan.FromSeconds(Math.Max(0, window.AllowedLatenessSeconds)));
        }

        violations.Require(window.Records is >= 1 and <= 100_000_000, $"{field}.records", "must be 1 to 100,000,000");
        return new Profiles.WindowPolicy(null, Math.Max(1, window.Records), TimeSpan.Zero);
    }

    // google.protobuf.Value → a feature value: numbers, strings and booleans; null is missing; lists and structs are refused.
    private static Dictionary<string, FeatureValue> Values(IDictionary<string, Value> values, string field)
    {
        var row = new Dictionary<string, FeatureValue>(values.Count, StringComparer.Ordinal);
        foreach (var (name, value) in values)
        {
            row[name] = value.KindCase switch
            {
                Value.KindOneofCase.NumberValue => FeatureValue.Of(value.NumberValue),
                Value.KindOneofCase.StringValue => FeatureValue.Of(value.StringValue),
                Value.KindOneofCase.BoolValue => FeatureValue.Of(value.BoolValue),
                Value.KindOneofCase.NullValue or Value.KindOneofCase.None => FeatureValue.Missing,
                _ => Invalid($"{field}[{name}]", "must be a number, a string, a boolean or null"),
            };
        }

        return row;
    }

    private static void Check(DatasetProfile profile, IReadOnlyDictionary<string, FeatureValue> row, string field)
    {
        try
        {
            profile.Check(row);
        }
        catch (SchemaMismatchException exception)
        {
            GrpcErrors.InvalidArgument($"{field}[{exception.Column}]", exception.Message);
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
        violations.Require(value.Length is > 0 and <= 200, field, "must be 1 to 200 characters");

    private static FeatureValue Invalid(string field, string description)
    {
        GrpcErrors.InvalidArgument(field, description);
        return default;
    }

    private static T NotFound<T>(string what)
    {
        GrpcErrors.NotFound(what);
        return default!;
    }
}

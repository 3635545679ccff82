using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.Data;
using ModelOps.Drift.Domain;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Drift.Grpc;

// Inference traffic: records and columnar batches checked against the reference, written as window partials.
public sealed partial class DriftService
{
    /// <summary>Latest record timestamp: 9999-12-31T23:59:59.999Z in milliseconds since the epoch.</summary>
    private const long MaxTimestampMs = 253_402_300_799_999;

    // Records are written (as window partials) at least this often within a long stream, and always before answering.
    private const int FlushEvery = 50_000;

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
                    var lateRows = new List<int>();
                    for (var r = 0; r < times.Length; r++)
                    {
                        if (known.Reference.Policy.IsLate(times[r], now))
                        {
                            late++;
                            lateRows.Add(r);
                        }
                        else
                        {
                            rows.Add(r);
                        }
                    }

                    CheckPredictions(known.Reference, columns, rows, at);
                    string[]? requestIds = batch.RequestIds.Count > 0 ? [.. batch.RequestIds] : null;
                    Queue(pending, key).Batches.Add((times, columns, rows, requestIds));
                    buffered += rows.Count;
                    if (requestIds is not null && lateRows.Count > 0)
                    {
                        // Too late for their window, not for a decision log: the decisions were made.
                        CheckPredictions(known.Reference, columns, lateRows, at);
                        Queue(pending, key).LateBatches.Add((times, columns, lateRows, requestIds));
                        buffered += lateRows.Count;
                    }
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
                        if (record.RequestId.Length > 0)
                        {
                            Queue(pending, key).LateRecords.Add(new CheckedRecord(when, row, record.RequestId));
                            buffered++;
                        }

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

    private async Task<long> FlushAsync(
        Dictionary<(string Model, string Version), Pending> pending,
        Dictionary<(string, string), (StoredReference Reference, DatasetProfile Checker)> references, CancellationToken cancellationToken)
    {
        long written = 0;
        foreach (var ((model, version), queued) in pending)
        {
            var count = queued.Records.Count + queued.Batches.Sum(b => b.Rows.Count);
            if (count == 0 && queued.LateRecords.Count + queued.LateBatches.Count == 0)
            {
                continue;
            }

            var reference = references[(model, version)].Reference;
            var countWindows = reference.Policy.Records is not null;
            // A binary classifier's groups are counted while its model's policy watches fairness (read at each flush, so
            // a policy set during a long stream applies from its next flush).
            var policy = await store.GetPolicyAsync(model, cancellationToken);
            var sensitive = reference.Prediction is { Task: ModelTask.BinaryClassification } && policy?.Fairness is { SensitiveColumns.Count: > 0 } watch
                ? watch.SensitiveColumns.ToArray()
                : null;
            // A policy watching explainability keeps a sample of each window's records (read at each flush too).
            var samples = WindowSamples.Watches(policy)
                ? new WindowSamples.Collector(WindowSamples.RowsOf(policy!.Explainability), WindowSamples.Columns(reference.Schema))
                : null;
            // A policy keeping a decision log logs every record with a request id (late ones too), in the same
            // transaction as its window.
            var retention = DecisionLogs.RetentionOf(policy);
            await using (var tx = await store.BeginAsync(cancellationToken))
            {
                if (count > 0)
                {
                    var first = countWindows ? await DriftStore.TakeRecordNumbersAsync(tx, model, version, count, cancellationToken) : 0;
                    var (partials, kept, groups) = Partials(reference, queued, first, _exactCap, sensitive, samples);
                    await DriftStore.AppendAsync(tx, model, version, countWindows, partials, kept, groups, cancellationToken);
                    if (samples is not null)
                    {
                        await DriftStore.AppendSamplesAsync(tx, model, version, countWindows, samples.Rows, WindowSamples.RowsOf(policy!.Explainability), cancellationToken);
                    }
                }

                if (retention is { } keep)
                {
                    var (numbers, labels, decisions) = Decisions(reference, queued);
                    var threshold = reference.Prediction is { Task: ModelTask.BinaryClassification } spec ? spec.Threshold : (double?)null;
                    await DriftStore.AppendDecisionsAsync(tx, model, version, numbers, labels, decisions, threshold, keep, cancellationToken);
                }

                await tx.CommitAsync(cancellationToken);
            }

            written += count;
            queued.Records.Clear();
            queued.Batches.Clear();
            queued.LateRecords.Clear();
            queued.LateBatches.Clear();
        }

        return written;
    }

    // The window partials of one version's queued records, numbered from first, the predictions kept for labels,
    // (with sensitive columns) the records' counts per window and group, and (with a collector) each window's sample.
    private static (IReadOnlyList<WindowPartial> Partials, IReadOnlyList<KeptPrediction> Predictions, IReadOnlyList<GroupCount> Groups) Partials(
        StoredReference reference, Pending queued, long first, int exactCap, IReadOnlyList<string>? sensitive, WindowSamples.Collector? samples)
    {
        if (samples is not null)
        {
            for (var i = 0; i < queued.Records.Count; i++)
            {
                var record = queued.Records[i];
                samples.Offer(WindowPartials.Key(reference.Policy, record.At, first + i), record.RequestId, c => record.Row.GetValueOrDefault(c).Score);
            }

            var offset = first + queued.Records.Count;
            foreach (var (times, columns, rows, requestIds) in queued.Batches)
            {
                for (var k = 0; k < rows.Count; k++)
                {
                    var r = rows[k];
                    samples.Offer(WindowPartials.Key(reference.Policy, times[r], offset + k), requestIds?[r] ?? "",
                        c => columns.GetValueOrDefault(c)?.ValueAt(r).Score);
                }

                offset += rows.Count;
            }
        }

        var partials = WindowPartials.Build(reference.Schema, reference.Policy, queued.Records, first, exactCap);
        var kept = new List<KeptPrediction>();
        var groups = new List<GroupCount>();
        var countWindow = reference.Policy.Records is not null;
        var spec = reference.Prediction is { Task: not ModelTask.Unspecified } s ? s : null;
        for (var i = 0; spec is not null && i < queued.Records.Count; i++)
        {
            var record = queued.Records[i];
            var score = record.Row.GetValueOrDefault(spec.Column).Score;
            var window = WindowPartials.Key(reference.Policy, record.At, first + i);
            var group = sensitive is null ? null : WindowGroups.KeyOf(sensitive, c => record.Row.GetValueOrDefault(c));
            if (group is not null && score is { } decided)
            {
                groups.Add(new GroupCount(countWindow, window, group, 1, decided >= spec.Threshold ? 1 : 0));
            }

            if (record.RequestId.Length > 0 && score is { } predicted)
            {
                kept.Add(new KeptPrediction(record.RequestId, window, record.At, predicted, group));
            }
        }

        var next = first + queued.Records.Count;
        foreach (var (times, columns, rows, requestIds) in queued.Batches)
        {
            partials.AddRange(WindowPartials.BuildColumnar(reference.Schema, reference.Policy, times, columns, rows, next, exactCap));
            if (spec is not null && (requestIds is not null || sensitive is not null) && columns.GetValueOrDefault(spec.Column) is { } output)
            {
                for (var k = 0; k < rows.Count; k++)
                {
                    var r = rows[k];
                    var score = output.ValueAt(r).Score;
                    var window = WindowPartials.Key(reference.Policy, times[r], next + k);
                    var group = sensitive is null ? null : WindowGroups.KeyOf(sensitive, columns, r);
                    if (group is not null && score is { } decided)
                    {
                        groups.Add(new GroupCount(countWindow, window, group, 1, decided >= spec.Threshold ? 1 : 0));
                    }

                    if (requestIds is not null && requestIds[r].Length > 0 && score is { } value)
                    {
                        kept.Add(new KeptPrediction(requestIds[r], window, times[r], value, group));
                    }
                }
            }

            next += rows.Count;
        }

        return (WindowPartials.Combine(partials), kept, WindowGroups.Sum(groups));
    }

    private async Task<(StoredReference Reference, DatasetProfile Checker)> KnownAsync(
        Dictionary<(string, string), (StoredReference Reference, DatasetProfile Checker)> references, (string Model, string Version) key, string at,
        CancellationToken cancellationToken)
    {
        if (references.TryGetValue(key, out var known))
        {
            return known;
        }

        var reference = await store.GetReferenceAsync(key.Model, key.Version, cancellationToken, withProfile: false)
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

        /// <summary>Records too late for their window that carry a request id: counted as late, kept for a decision log only.</summary>
        public List<CheckedRecord> LateRecords { get; } = [];

        /// <summary>The late rows of batches with request ids, as <see cref="LateRecords"/>.</summary>
        public List<(DateTimeOffset[] Times, Dictionary<string, ColumnValues> Columns, List<int> Rows, string[]? RequestIds)> LateBatches { get; } = [];
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

    // A binary classifier's score must lie in [0, 1].
    private static void CheckPrediction(StoredReference reference, IReadOnlyDictionary<string, FeatureValue> row, string field)
    {
        if (reference.Prediction is { Task: ModelTask.BinaryClassification } spec && row.GetValueOrDefault(spec.Column).Score is { } score && score is < 0 or > 1)
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
}

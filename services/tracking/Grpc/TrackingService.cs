using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using ModelOps.Contracts;
using ModelOps.Contracts.Tracking.V1;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.Artifacts;
using ModelOps.Tracking.Data;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.Search;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Grpc;

/// <summary>The tracking API: experiments, runs, logging, provenance and search.</summary>
public sealed partial class TrackingService(
    TrackingStore store, ObjectStoreConnection objectStore, BlobStore blobs, IOptions<TrackingOptions> options)
    : V1.TrackingService.TrackingServiceBase
{
    /// <summary>Most ordering keys of a search.</summary>
    public const int MaxOrderKeys = 5;

    /// <summary>Longest filter accepted.</summary>
    public const int MaxFilterLength = 4000;

    private const string Writers = $"{Roles.Pipeline},{Roles.Admin}";
    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    // ------------------------------------------------------------------ experiments

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Experiment> CreateExperiment(CreateExperimentRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckName(violations, "name", request.Name);
        CheckTags(violations, "tags", request.Tags);
        violations.ThrowIfAny();
        var id = await Write(() => store.CreateExperimentAsync(request.Name, request.Tags, context.GetCaller().Actor,
            objectStore.UriOf("experiments"), context.CancellationToken));
        return (await store.GetExperimentAsync(id, null, context.CancellationToken))!;
    }

    /// <inheritdoc />
    public override async Task<Experiment> GetExperiment(GetExperimentRequest request, ServerCallContext context)
    {
        Experiment? experiment = request.KeyCase switch
        {
            GetExperimentRequest.KeyOneofCase.ExperimentId => await store.GetExperimentAsync(ExperimentId(request.ExperimentId), null, context.CancellationToken),
            GetExperimentRequest.KeyOneofCase.Name when request.Name.Length > 0 => await store.GetExperimentAsync(null, request.Name, context.CancellationToken),
            _ => Invalid<Experiment>("key", "give experiment_id or name"),
        };
        return experiment ?? NotFound<Experiment>($"Experiment {request.ExperimentId}{request.Name}");
    }

    /// <inheritdoc />
    public override async Task<SearchExperimentsResponse> SearchExperiments(SearchExperimentsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint(request.NameContains, request.IncludeArchived.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var experiments = await store.SearchExperimentsAsync(request.NameContains, request.IncludeArchived, pageSize + 1, offset, context.CancellationToken);
        return new SearchExperimentsResponse
        {
            Experiments = { experiments.Take(pageSize) },
            NextPageToken = Paging.NextToken(experiments.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Experiment> RenameExperiment(RenameExperimentRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckName(violations, "new_name", request.NewName);
        violations.ThrowIfAny();
        return UpdateExperimentAsync(request.ExperimentId, context, "experiment.rename",
            "UPDATE experiments SET name = $2 WHERE experiment_id = $1", request.NewName);
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Experiment> SetExperimentTag(SetExperimentTagRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "key", request.Key);
        violations.Require(request.Value.Length <= Limits.MaxTagValueLength, "value", $"at most {Limits.MaxTagValueLength} characters");
        violations.ThrowIfAny();
        return UpdateExperimentAsync(request.ExperimentId, context, "experiment.set_tag",
            "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
            request.Key, request.Value);
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Experiment> ArchiveExperiment(ArchiveExperimentRequest request, ServerCallContext context) =>
        UpdateExperimentAsync(request.ExperimentId, context, "experiment.archive",
            "UPDATE experiments SET lifecycle_stage = 'deleted' WHERE experiment_id = $1");

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Experiment> RestoreExperiment(RestoreExperimentRequest request, ServerCallContext context) =>
        UpdateExperimentAsync(request.ExperimentId, context, "experiment.restore",
            "UPDATE experiments SET lifecycle_stage = 'active' WHERE experiment_id = $1");

    private async Task<Experiment> UpdateExperimentAsync(string experimentId, ServerCallContext context, string action, string sql, params object[] values)
    {
        var id = ExperimentId(experimentId);
        if (!await Write(() => store.UpdateExperimentAsync(id, context.GetCaller().Actor, action, sql, values, context.CancellationToken)))
        {
            GrpcErrors.NotFound($"Experiment {experimentId}");
        }

        return (await store.GetExperimentAsync(id, null, context.CancellationToken))!;
    }

    // ------------------------------------------------------------------ runs

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Run> StartRun(StartRunRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var experimentId = ExperimentId(request.ExperimentId, violations);
        violations.Require(request.RunName.Length <= Limits.MaxKeyLength, "run_name", $"at most {Limits.MaxKeyLength} characters");
        CheckTags(violations, "tags", request.Tags);
        CheckProvenance(violations, request.Provenance);
        if (request.RebuildOf.Length > 0 && !RunIds.TryParse(request.RebuildOf, out _))
        {
            violations.Add("rebuild_of", "must be a run id (32 hex digits)");
        }

        violations.ThrowIfAny();
        var caller = context.GetCaller();
        var runId = Guid.CreateVersion7();
        var run = new Run
        {
            RunId = runId.ToString(),
            ExperimentId = experimentId.ToString(CultureInfo.InvariantCulture),
            RunName = request.RunName.Length > 0 ? request.RunName : $"run-{RunIds.Format(runId)[..8]}",
            Author = caller.Actor,
            StartTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())),
            RebuildOf = request.RebuildOf.Length > 0 ? Guid.Parse(request.RebuildOf).ToString() : "",
            Provenance = request.Provenance ?? new Provenance(),
            Tags = { request.Tags },
        };
        var started = new RunStarted
        {
            Actor = caller.Actor,
            RunId = RunIds.Format(runId),
            ExperimentId = run.ExperimentId,
            RunName = run.RunName,
            RebuildOf = run.RebuildOf.Length > 0 ? RunIds.Format(Guid.Parse(run.RebuildOf)) : null,
            ProvenanceJson = ProtoJson.Format(run.Provenance),
        };
        await Write(() => store.StartRunAsync(run, started, context.CancellationToken));
        return await LoadRunAsync(runId, context.CancellationToken);
    }

    /// <inheritdoc />
    public override Task<Run> GetRun(GetRunRequest request, ServerCallContext context) =>
        LoadRunAsync(RunId(request.RunId), context.CancellationToken);

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Run> EndRun(EndRunRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(request.RunId, violations);
        violations.Require(request.Status is RunStatus.Finished or RunStatus.Failed or RunStatus.Killed, "status", "must be FINISHED, FAILED or KILLED");
        var endTime = request.EndTime?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow;
        violations.Require(endTime <= DateTimeOffset.UtcNow.AddMinutes(5), "end_time", "lies in the future");
        violations.ThrowIfAny();
        var caller = context.GetCaller();
        await Write(() => store.EndRunAsync(runId, request.Status, endTime, caller.Actor, (run, sha256) => new RunFinished
        {
            Actor = caller.Actor,
            RunId = run.RunId,
            ExperimentId = run.ExperimentId,
            Status = run.Status.ToString().ToUpperInvariant(),
            RecordSha256 = sha256,
        }, context.CancellationToken));
        return await LoadRunAsync(runId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Run> DeleteRun(DeleteRunRequest request, ServerCallContext context) =>
        SetLifecycleAsync(request.RunId, deleted: true, context);

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Run> RestoreRun(RestoreRunRequest request, ServerCallContext context) =>
        SetLifecycleAsync(request.RunId, deleted: false, context);

    private async Task<Run> SetLifecycleAsync(string runIdText, bool deleted, ServerCallContext context)
    {
        var runId = RunId(runIdText);
        if (!await store.SetRunLifecycleAsync(runId, deleted, context.GetCaller().Actor, context.CancellationToken))
        {
            GrpcErrors.NotFound($"Run {runIdText}");
        }

        return await LoadRunAsync(runId, context.CancellationToken);
    }

    /// <inheritdoc />
    public override async Task<SearchRunsResponse> SearchRuns(SearchRunsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var experiments = new List<long>();
        violations.Require(request.ExperimentIds.Count is > 0 and <= 100, "experiment_ids", "name 1 to 100 experiments");
        for (var i = 0; i < request.ExperimentIds.Count; i++)
        {
            experiments.Add(ExperimentId(request.ExperimentIds[i], violations, $"experiment_ids[{i}]"));
        }

        FilterNode? filter = null;
        var ordering = new List<OrderKey>();
        try
        {
            violations.Require(request.Filter.Length <= MaxFilterLength, "filter", $"at most {MaxFilterLength} characters");
            filter = RunFilter.Parse(request.Filter);
        }
        catch (FilterSyntaxException exception)
        {
            violations.Add("filter", exception.Message);
        }

        violations.Require(request.OrderBy.Count <= MaxOrderKeys, "order_by", $"at most {MaxOrderKeys} keys");
        for (var i = 0; i < request.OrderBy.Count; i++)
        {
            try
            {
                ordering.Add(RunFilter.ParseOrderKey(request.OrderBy[i]));
            }
            catch (FilterSyntaxException exception)
            {
                violations.Add($"order_by[{i}]", exception.Message);
            }
        }

        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint([.. request.ExperimentIds, request.Filter, .. request.OrderBy, request.RunViewType.ToString()]);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();

        if (ordering.Count == 0)
        {
            ordering.Add(new OrderKey(new FilterField(FieldKind.Attribute, "start_time", 0), Descending: true));
        }

        var query = new RunQuery();
        // One experiment (the common case) as a plain equality, so that the planner can walk its index in order.
        var conditions = new List<string>
        {
            experiments.Count == 1 ? $"r.experiment_id = {query.Parameter(experiments[0])}" : $"r.experiment_id = ANY({query.Parameter(experiments.ToArray())})",
        };
        switch (request.RunViewType)
        {
            case RunViewType.ActiveOnly:
                conditions.Add("r.lifecycle_stage = 'active'");
                break;
            case RunViewType.DeletedOnly:
                conditions.Add("r.lifecycle_stage = 'deleted'");
                break;
        }

        var (joins, orderBy) = query.Ordering(ordering, filter);
        if (filter is not null)
        {
            conditions.Add(query.Condition(filter));
        }

        var ids = await store.SearchRunIdsAsync(joins, string.Join(" AND ", conditions), orderBy, query.Parameters,
            pageSize + 1, offset, context.CancellationToken);
        return new SearchRunsResponse
        {
            Runs = { await store.GetRunsAsync(ids.Take(pageSize).ToList(), context.CancellationToken) },
            NextPageToken = Paging.NextToken(ids.Count, pageSize, offset, fingerprint),
        };
    }

    // ------------------------------------------------------------------ logging

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<LogBatchResponse> LogBatch(LogBatchRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(request.RunId, violations);
        violations.Require(request.Metrics.Count <= Limits.MaxMetricsPerBatch, "metrics", $"at most {Limits.MaxMetricsPerBatch} metrics in one batch");
        violations.Require(request.Params.Count <= Limits.MaxParamsPerBatch, "params", $"at most {Limits.MaxParamsPerBatch} params in one batch");
        violations.Require(request.Tags.Count <= Limits.MaxTagsPerBatch, "tags", $"at most {Limits.MaxTagsPerBatch} tags in one batch");
        violations.Require(request.Inputs.Count <= Limits.MaxInputsPerBatch, "inputs", $"at most {Limits.MaxInputsPerBatch} inputs in one batch");
        CheckMetrics(violations, "metrics", request.Metrics);
        CheckPairs(violations, "params", request.Params.Select(p => (p.Key, p.Value)).ToList(), Limits.MaxParamsPerBatch, Limits.MaxParamValueLength);
        CheckPairs(violations, "tags", request.Tags.Select(t => (t.Key, t.Value)).ToList(), Limits.MaxTagsPerBatch, Limits.MaxTagValueLength);
        for (var i = 0; i < request.Inputs.Count && i < Limits.MaxInputsPerBatch; i++)
        {
            var input = request.Inputs[i];
            CheckText(violations, $"inputs[{i}].dataset_id", input.DatasetId, required: true);
            CheckText(violations, $"inputs[{i}].hash", input.Hash, required: true);
            CheckText(violations, $"inputs[{i}].source_uri", input.SourceUri, required: false);
            CheckText(violations, $"inputs[{i}].context", input.Context, required: false);
            CheckRange(violations, $"inputs[{i}].time_range", input.TimeRange);
        }

        violations.ThrowIfAny("The batch was not written.");
        await Write(() => store.LogBatchAsync(runId, request, context.GetCaller().Actor, context.CancellationToken));
        return new LogBatchResponse();
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<ProvenanceReport> SetProvenance(SetProvenanceRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(request.RunId, violations);
        violations.Require(request.Provenance is not null, "provenance", "is required");
        CheckProvenance(violations, request.Provenance);
        violations.ThrowIfAny();
        await Write(() => store.SetProvenanceAsync(runId, request.Provenance!, context.GetCaller().Actor, context.CancellationToken));
        return Report(await LoadRunAsync(runId, context.CancellationToken));
    }

    /// <inheritdoc />
    public override async Task<GetMetricHistoryResponse> GetMetricHistory(GetMetricHistoryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(request.RunId, violations);
        CheckKey(violations, "metric_key", request.MetricKey);
        violations.Require(request.MinStep >= 0, "min_step", "must not be negative");
        violations.Require(request.MaxStep >= 0, "max_step", "must not be negative");
        violations.Require(request.MinStep <= request.MaxStep || request.MaxStep == 0, "max_step", "must not be below min_step");
        violations.Require(request.MaxPoints >= 0, "max_points", "must not be negative");
        violations.ThrowIfAny();
        await RequireRunAsync(runId, context.CancellationToken);

        var all = request.MinStep == 0 && request.MaxStep == 0;
        var (points, total) = await store.GetMetricHistoryAsync(runId, request.MetricKey,
            all ? null : request.MinStep, all ? null : request.MaxStep,
            request.StartTime?.ToDateTimeOffset().ToUnixTimeMilliseconds(), request.EndTime?.ToDateTimeOffset().ToUnixTimeMilliseconds(),
            Limits.MaxHistoryPoints, context.CancellationToken);
        if (request.MaxPoints > 0 && points.Count > request.MaxPoints)
        {
            var kept = Downsampling.LargestTriangleThreeBuckets(
                points.Select(p => (double)p.Step).ToList(), points.Select(p => p.Value).ToList(), request.MaxPoints);
            points = kept.Select(i => points[i]).ToList();
        }

        return new GetMetricHistoryResponse { Metrics = { points }, TotalPoints = total };
    }

    // ------------------------------------------------------------------ provenance

    /// <inheritdoc />
    public override async Task<ProvenanceReport> GetProvenance(GetProvenanceRequest request, ServerCallContext context) =>
        Report(await LoadRunAsync(RunId(request.RunId), context.CancellationToken));

    /// <inheritdoc />
    public override async Task<ReproBundle> GetReproBundle(GetReproBundleRequest request, ServerCallContext context)
    {
        var run = await LoadRunAsync(RunId(request.RunId), context.CancellationToken);
        var provenance = run.Provenance ?? new Provenance();
        var hyperparameters = Hyperparameters(run);
        var datasets = run.Inputs.Select(i => Dataset(i.DatasetId, i.SnapshotAt)).ToList();
        if (provenance.DatasetId.Length > 0)
        {
            datasets.Insert(0, Dataset(provenance.DatasetId, provenance.DatasetSnapshotAt));
        }

        datasets = datasets.Distinct().ToList();
        var command = new StringBuilder(provenance.EntryPoint);
        foreach (var (key, value) in hyperparameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            command.Append(" --").Append(key).Append('=').Append(ShellQuote(value));
        }

        foreach (var (key, value) in provenance.Seeds.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            command.Append(" --seed.").Append(key).Append('=').Append(value.ToString(CultureInfo.InvariantCulture));
        }

        var bundle = new ReproBundle
        {
            RunId = run.RunId,
            GitSha = provenance.GitSha,
            RepoUrl = provenance.RepoUrl,
            ContainerDigest = provenance.ContainerDigest,
            Datasets = { datasets },
            Hyperparameters = { hyperparameters },
            Seeds = { provenance.Seeds },
            Command = command.ToString().Trim(),
        };
        var missing = new (bool Lacking, string Field)[]
        {
            (bundle.GitSha.Length == 0, "git_sha"),
            (bundle.ContainerDigest.Length == 0, "container_digest"),
            (datasets.Count == 0 || datasets.Any(d => d.EndsWith('@')), "dataset_snapshot_at"),
            (bundle.Seeds.Count == 0, "seeds"),
            (provenance.EntryPoint.Length == 0, "entry_point"),
        };
        bundle.Missing.Add(missing.Where(m => m.Lacking).Select(m => m.Field));
        var manifest = bundle.Clone();
        manifest.ManifestJson = "";
        bundle.ManifestJson = Encoding.UTF8.GetString(CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(ProtoJson.Format(manifest))));
        return bundle;
    }

    private static string Dataset(string id, Timestamp? snapshot) =>
        $"{id}@{(snapshot is null ? "" : snapshot.ToDateTimeOffset().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture))}";

    private static string ShellQuote(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '/' or ':' or ',')
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private ProvenanceReport Report(Run run)
    {
        var provenance = run.Provenance ?? new Provenance();
        var hyperparameters = Hyperparameters(run);
        var report = new ProvenanceReport
        {
            RunId = run.RunId,
            Provenance = provenance,
            StartedAt = run.StartTime,
            Hyperparameters = { hyperparameters },
            Missing = { ProvenanceFields.Missing(provenance, run.StartTime is not null, run.EndTime is not null, hyperparameters.Count, options.Value.Mandatory) },
        };
        var absent = ProvenanceFields.Missing(provenance, run.StartTime is not null, run.EndTime is not null, hyperparameters.Count, ProvenanceFields.All);
        report.Present.AddRange(ProvenanceFields.All.Except(absent));
        if (run.EndTime is not null)
        {
            report.EndedAt = run.EndTime;
        }

        return report;
    }

    private static Dictionary<string, string> Hyperparameters(Run run)
    {
        var all = new Dictionary<string, string>(run.Provenance?.Hyperparameters ?? new Google.Protobuf.Collections.MapField<string, string>());
        foreach (var (key, value) in run.Params)
        {
            all.TryAdd(key, value);
        }

        return all;
    }

    // ------------------------------------------------------------------ validation and helpers

    private async Task<Run> LoadRunAsync(Guid runId, CancellationToken cancellationToken) =>
        (await store.GetRunsAsync([runId], cancellationToken)).SingleOrDefault() ?? NotFound<Run>($"Run {RunIds.Format(runId)}");

    private async Task RequireRunAsync(Guid runId, CancellationToken cancellationToken)
    {
        if (!await store.RunExistsAsync(runId, cancellationToken))
        {
            GrpcErrors.NotFound($"Run {RunIds.Format(runId)}");
        }
    }

    /// <summary>Maps what the store refuses to the status a client should see.</summary>
    private static async Task<T> Write<T>(Func<Task<T>> write)
    {
        try
        {
            return await write();
        }
        catch (KeyNotFoundException exception)
        {
            GrpcErrors.NotFound(exception.Message);
            throw;
        }
        catch (ConflictException exception) when (exception.Field is not null)
        {
            // A value that contradicts what is stored (a param re-logged with another value) is bad input.
            GrpcErrors.InvalidArgument(exception.Field, exception.Message);
            throw;
        }
        catch (ConflictException exception)
        {
            GrpcErrors.FailedPrecondition(exception.Message);
            throw;
        }
    }

    private static Task Write(Func<Task> write) => Write(async () =>
    {
        await write();
        return true;
    });

    private static long ExperimentId(string text)
    {
        var violations = new FieldViolations();
        var id = ExperimentId(text, violations);
        violations.ThrowIfAny();
        return id;
    }

    private static long ExperimentId(string text, FieldViolations violations, string field = "experiment_id")
    {
        violations.Require(RunIds.TryParseExperiment(text, out var id), field, "must be an experiment id (a positive integer)");
        return id;
    }

    private static Guid RunId(string text)
    {
        var violations = new FieldViolations();
        var id = RunId(text, violations);
        violations.ThrowIfAny();
        return id;
    }

    private static Guid RunId(string text, FieldViolations violations)
    {
        violations.Require(RunIds.TryParse(text, out var id), "run_id", "must be a run id (32 hex digits)");
        return id;
    }

    private static void CheckName(FieldViolations violations, string field, string name) =>
        violations.Require(name.Trim().Length > 0 && name.Length <= Limits.MaxKeyLength, field, $"is required: 1 to {Limits.MaxKeyLength} characters");

    private static void CheckKey(FieldViolations violations, string field, string key)
    {
        if (key.Length == 0)
        {
            violations.Add(field, "is empty: a key is 1 to 250 characters");
        }
        else if (key.Length > Limits.MaxKeyLength)
        {
            violations.Add(field, $"is {key.Length} characters long: a key is at most {Limits.MaxKeyLength}");
        }
        else if (key.Any(char.IsControl))
        {
            violations.Add(field, "contains a control character");
        }
    }

    /// <summary>Checks metrics to be logged and stamps those without a timestamp with the current time.</summary>
    private static void CheckMetrics(FieldViolations violations, string field, IList<Metric> metrics)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < metrics.Count && i < Limits.MaxMetricsPerBatch; i++)
        {
            var metric = metrics[i];
            CheckKey(violations, $"{field}[{i}].key", metric.Key);
            violations.Require(metric.Step >= 0, $"{field}[{i}].step", "must not be negative");
            violations.Require(metric.Timestamp >= 0, $"{field}[{i}].timestamp", "must not be negative (milliseconds since the epoch; 0 for now)");
            if (metric.Timestamp == 0)
            {
                metric.Timestamp = now;
            }
        }
    }

    private static void CheckTags(FieldViolations violations, string field, IDictionary<string, string> tags)
    {
        violations.Require(tags.Count <= Limits.MaxTagsPerBatch, field, $"at most {Limits.MaxTagsPerBatch} tags");
        foreach (var (key, value) in tags.Take(Limits.MaxTagsPerBatch))
        {
            CheckKey(violations, $"{field}[{key}]", key);
            violations.Require(value.Length <= Limits.MaxTagValueLength, $"{field}[{key}]", $"a tag value is at most {Limits.MaxTagValueLength} characters");
        }
    }

    private static void CheckPairs(FieldViolations violations, string field, List<(string Key, string Value)> pairs, int max, int maxValue)
    {
        for (var i = 0; i < pairs.Count && i < max; i++)
        {
            var (key, value) = pairs[i];
            CheckKey(violations, $"{field}[{i}].key", key);
            violations.Require(value.Length <= maxValue, $"{field}[{i}].value", $"is {value.Length} characters long: at most {maxValue}");
            var first = pairs.FindIndex(p => p.Key == key);
            violations.Require(first == i || pairs[first].Value == value, $"{field}[{i}].value",
                $"'{key}' appears twice in the batch with different values");
        }
    }

    private static void CheckText(FieldViolations violations, string field, string value, bool required)
    {
        violations.Require(!required || value.Length > 0, field, "is required");
        violations.Require(value.Length <= Limits.MaxProvenanceValueLength, field, $"at most {Limits.MaxProvenanceValueLength} characters");
    }

    private static void CheckRange(FieldViolations violations, string field, TimeRange? range) =>
        violations.Require(range?.Start is null || range.End is null || range.Start.ToDateTimeOffset() <= range.End.ToDateTimeOffset(),
            field, "its start lies after its end");

    private static void CheckProvenance(FieldViolations violations, Provenance? provenance)
    {
        if (provenance is null)
        {
            return;
        }

        foreach (var field in Provenance.Descriptor.Fields.InFieldNumberOrder())
        {
            if (field.Accessor.GetValue(provenance) is string text)
            {
                CheckText(violations, $"provenance.{field.Name}", text, required: false);
            }
        }

        CheckRange(violations, "provenance.data_time_range", provenance.DataTimeRange);
        if (provenance.Split is { } split)
        {
            violations.Require(split.Train >= 0 && split.Validation >= 0 && split.Test >= 0 &&
                               double.IsFinite(split.Train + split.Validation + split.Test), "provenance.split", "parts must be finite and not negative");
        }

        foreach (var (name, map) in new[] { ("hyperparameters", provenance.Hyperparameters), ("correlation_ids", provenance.CorrelationIds) })
        {
            violations.Require(map.Count <= Limits.MaxParamsPerBatch, $"provenance.{name}", $"at most {Limits.MaxParamsPerBatch} entries");
            foreach (var (key, value) in map.Take(Limits.MaxParamsPerBatch))
            {
                CheckKey(violations, $"provenance.{name}[{key}]", key);
                violations.Require(value.Length <= Limits.MaxParamValueLength, $"provenance.{name}[{key}]", $"at most {Limits.MaxParamValueLength} characters");
            }
        }

        foreach (var key in provenance.Seeds.Keys)
        {
            CheckKey(violations, $"provenance.seeds[{key}]", key);
        }
    }

    private static T Invalid<T>(string field, string description)
    {
        GrpcErrors.InvalidArgument(field, description);
        return default!;
    }

    private static T NotFound<T>(string what)
    {
        GrpcErrors.NotFound(what);
        return default!;
    }
}

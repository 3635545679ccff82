using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using ModelOps.Contracts.Tracking.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Tracking.Artifacts;
using ModelOps.Tracking.Data;
using ModelOps.Tracking.Domain;
using ModelOps.Tracking.Search;
using ModelOps.Tracking.V1;
using static ModelOps.Tracking.Grpc.TrackingRequests;

namespace ModelOps.Tracking.Grpc;

/// <summary>The tracking API: experiments, runs, logging, provenance and search.</summary>
public sealed partial class TrackingService(
    TrackingStore store, ObjectStoreConnection objectStore, BlobStore blobs, IOptions<TrackingOptions> options)
    : V1.TrackingService.TrackingServiceBase
{
    private const string Writers = $"{Roles.Pipeline},{Roles.Admin}";
    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    // ------------------------------------------------------------------ experiments

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Experiment> CreateExperiment(CreateExperimentRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var name = Key(violations, "name", request.Name);
        Tags(violations, "tags", request.Tags);
        violations.ThrowIfAny();
        var id = await store.CreateExperimentAsync(name, request.Tags, context.GetCaller().Actor, objectStore.UriOf("experiments"),
            context.CancellationToken);
        return await LoadExperimentAsync(id, context.CancellationToken);
    }

    /// <inheritdoc />
    public override async Task<Experiment> GetExperiment(GetExperimentRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        long? id = null;
        string? name = null;
        switch (request.KeyCase)
        {
            case GetExperimentRequest.KeyOneofCase.ExperimentId:
                id = ExperimentId(violations, request.ExperimentId);
                break;
            case GetExperimentRequest.KeyOneofCase.Name:
                name = Key(violations, "name", request.Name);
                break;
            default:
                violations.Add("key", "give experiment_id or name");
                break;
        }

        violations.ThrowIfAny();
        return await store.GetExperimentAsync(id, name, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("experiment", name ?? request.ExperimentId);
    }

    /// <inheritdoc />
    public override async Task<SearchExperimentsResponse> SearchExperiments(SearchExperimentsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var nameContains = Key(violations, "name_contains", request.NameContains, required: false);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint(nameContains, request.IncludeArchived.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var experiments = await store.SearchExperimentsAsync(nameContains, request.IncludeArchived, pageSize + 1, offset, context.CancellationToken);
        return new SearchExperimentsResponse
        {
            Experiments = { experiments.Take(pageSize) },
            NextPageToken = Paging.NextToken(experiments.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Experiment> RenameExperiment(RenameExperimentRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var id = ExperimentId(violations, request.ExperimentId);
        var name = Key(violations, "new_name", request.NewName);
        violations.ThrowIfAny();
        await store.RenameExperimentAsync(id, name, context.GetCaller().Actor, context.CancellationToken);
        return await LoadExperimentAsync(id, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Experiment> SetExperimentTag(SetExperimentTagRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var id = ExperimentId(violations, request.ExperimentId);
        var key = Key(violations, "key", request.Key);
        TextRules.FreeText(violations, "value", request.Value, Limits.MaxTagValueLength);
        violations.ThrowIfAny();
        await store.SetExperimentTagAsync(id, key, request.Value, context.GetCaller().Actor, context.CancellationToken);
        return await LoadExperimentAsync(id, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Experiment> ArchiveExperiment(ArchiveExperimentRequest request, ServerCallContext context) =>
        SetArchivedAsync(request.ExperimentId, archived: true, context);

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Experiment> RestoreExperiment(RestoreExperimentRequest request, ServerCallContext context) =>
        SetArchivedAsync(request.ExperimentId, archived: false, context);

    private async Task<Experiment> SetArchivedAsync(string experimentId, bool archived, ServerCallContext context)
    {
        var id = ExperimentId(experimentId);
        await store.SetExperimentArchivedAsync(id, archived, context.GetCaller().Actor, context.CancellationToken);
        return await LoadExperimentAsync(id, context.CancellationToken);
    }

    private async Task<Experiment> LoadExperimentAsync(long id, CancellationToken cancellationToken) =>
        await store.GetExperimentAsync(id, null, cancellationToken)
        ?? throw ServiceErrors.NotFound("experiment", id.ToString(CultureInfo.InvariantCulture));

    // ------------------------------------------------------------------ runs

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Run> StartRun(StartRunRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var experimentId = ExperimentId(violations, request.ExperimentId);
        var runName = Key(violations, "run_name", request.RunName, required: false);
        Tags(violations, "tags", request.Tags);
        Provenance(violations, request.Provenance);
        var clientRequestId = RequestId(violations, "client_request_id", request.ClientRequestId);
        if (request.RebuildOf.Length > 0)
        {
            RunId(violations, request.RebuildOf, "rebuild_of");
        }

        violations.ThrowIfAny();
        var caller = context.GetCaller();
        var runId = Guid.CreateVersion7();
        var run = new Run
        {
            RunId = runId.ToString(),
            ExperimentId = experimentId.ToString(CultureInfo.InvariantCulture),
            RunName = runName.Length > 0 ? runName : $"run-{RunIds.Format(runId)[..8]}",
            Author = caller.Actor,
            StartTime = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())),
            RebuildOf = request.RebuildOf.Length > 0 ? Guid.Parse(request.RebuildOf).ToString() : "",
            Provenance = request.Provenance ?? new Provenance(),
            Tags = { request.Tags },
        };

        await using var tx = await store.BeginAsync(context.CancellationToken);
        var (id, created) = await store.StartRunAsync(tx, run, clientRequestId, context.CancellationToken);
        if (created)
        {
            tx.Publish(new RunStarted
            {
                Actor = caller.Actor,
                RunId = RunIds.Format(runId),
                ExperimentId = run.ExperimentId,
                RunName = run.RunName,
                RebuildOf = run.RebuildOf.Length > 0 ? RunIds.Format(Guid.Parse(run.RebuildOf)) : null,
                ProvenanceJson = ProtoJson.Format(run.Provenance),
            });
            await tx.CommitAsync(context.CancellationToken);
        }

        return await LoadRunAsync(id, context.CancellationToken);
    }

    /// <inheritdoc />
    public override Task<Run> GetRun(GetRunRequest request, ServerCallContext context) =>
        LoadRunAsync(RunId(request.RunId), context.CancellationToken);

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<Run> EndRun(EndRunRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(violations, request.RunId);
        violations.Require(request.Status is RunStatus.Finished or RunStatus.Failed or RunStatus.Killed, "status", "must be FINISHED, FAILED or KILLED");
        var endTime = Timestamps.Check(violations, "end_time", request.EndTime, happened: true) ?? Timestamps.Now();
        violations.ThrowIfAny();
        var caller = context.GetCaller();
        await using var tx = await store.BeginAsync(context.CancellationToken);
        var (run, sha256) = await store.EndRunAsync(tx, runId, request.Status, endTime, caller.Actor, context.CancellationToken);
        tx.Publish(new RunFinished
        {
            Actor = caller.Actor,
            RunId = run.RunId,
            ExperimentId = run.ExperimentId,
            Status = RunStatuses.Name(run.Status),
            RecordSha256 = sha256,
        });
        await tx.CommitAsync(context.CancellationToken);
        return await LoadRunAsync(runId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Run> DeleteRun(DeleteRunRequest request, ServerCallContext context) =>
        SetDeletedAsync(request.RunId, deleted: true, context);

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override Task<Run> RestoreRun(RestoreRunRequest request, ServerCallContext context) =>
        SetDeletedAsync(request.RunId, deleted: false, context);

    private async Task<Run> SetDeletedAsync(string runIdText, bool deleted, ServerCallContext context)
    {
        var runId = RunId(runIdText);
        var actor = context.GetCaller().Actor;
        await using var tx = await store.BeginAsync(context.CancellationToken);
        var (experimentId, changed) = await store.SetRunDeletedAsync(tx, runId, deleted, actor, context.CancellationToken);
        if (changed)
        {
            tx.Publish(new RunLifecycleChanged
            {
                Actor = actor,
                RunId = RunIds.Format(runId),
                ExperimentId = experimentId.ToString(CultureInfo.InvariantCulture),
                Deleted = deleted,
            });
            await tx.CommitAsync(context.CancellationToken);
        }

        return await LoadRunAsync(runId, context.CancellationToken);
    }

    /// <inheritdoc />
    public override async Task<SearchRunsResponse> SearchRuns(SearchRunsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        violations.Require(request.ExperimentIds.Count is > 0 and <= Limits.MaxSearchExperiments, "experiment_ids",
            $"name 1 to {Limits.MaxSearchExperiments} experiments");
        var experiments = request.ExperimentIds.Take(Limits.MaxSearchExperiments)
            .Select((id, i) => ExperimentId(violations, id, $"experiment_ids[{i}]")).ToList();
        violations.Require(System.Enum.IsDefined(request.RunViewType), "run_view_type", "must be ACTIVE_ONLY, DELETED_ONLY or ALL");

        // A filter over the limit is refused without being parsed.
        FilterNode? filter = null;
        if (request.Filter.Length > Limits.MaxFilterLength)
        {
            violations.Add("filter", $"is {request.Filter.Length} characters long: at most {Limits.MaxFilterLength}");
        }
        else
        {
            try
            {
                filter = RunFilter.Parse(request.Filter);
            }
            catch (FilterSyntaxException exception)
            {
                violations.Add("filter", exception.Message);
            }
        }

        var ordering = new List<OrderKey>();
        violations.Require(request.OrderBy.Count <= Limits.MaxOrderKeys, "order_by", $"at most {Limits.MaxOrderKeys} keys");
        for (var i = 0; i < request.OrderBy.Count && i < Limits.MaxOrderKeys; i++)
        {
            try
            {
                ordering.Add(request.OrderBy[i].Length <= Limits.MaxKeyLength + 32
                    ? RunFilter.ParseOrderKey(request.OrderBy[i])
                    : throw new FilterSyntaxException(0, $"is {request.OrderBy[i].Length} characters long: at most {Limits.MaxKeyLength + 32}"));
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

        var ids = await store.SearchRunIdsAsync(experiments, request.RunViewType, filter, ordering, pageSize + 1, offset, context.CancellationToken);
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
        var runId = RunId(violations, request.RunId);
        CheckBatch(violations, "", request);
        var batchId = RequestId(violations, "batch_id", request.BatchId);
        violations.ThrowIfAny("The batch was not written.");
        var applied = await store.LogBatchAsync(runId, request, context.GetCaller().Actor, batchId, context.CancellationToken);
        return new LogBatchResponse { Duplicate = !applied };
    }

    /// <inheritdoc />
    public override async Task<ListAppliedBatchesResponse> ListAppliedBatches(ListAppliedBatchesRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(violations, request.RunId);
        var after = RequestId(violations, "page_token", request.PageToken);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        violations.ThrowIfAny();
        await RequireRunAsync(runId, context.CancellationToken);
        var batches = await store.AppliedBatchesAsync(runId, after, pageSize + 1, context.CancellationToken);
        var response = new ListAppliedBatchesResponse();
        response.Batches.AddRange(batches.Take(pageSize).Select(b => new AppliedBatch { BatchId = b.BatchId, Metrics = b.Metrics }));
        if (batches.Count > pageSize)
        {
            response.NextPageToken = response.Batches[^1].BatchId;
        }

        return response;
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<ProvenanceReport> SetProvenance(SetProvenanceRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(violations, request.RunId);
        violations.Require(request.Provenance is not null, "provenance", "is required");
        Provenance(violations, request.Provenance);
        violations.ThrowIfAny();
        await store.SetProvenanceAsync(runId, request.Provenance!, context.GetCaller().Actor, context.CancellationToken);
        return ProvenanceReports.Report(await LoadRunAsync(runId, context.CancellationToken), options.Value.Mandatory);
    }

    /// <inheritdoc />
    public override async Task<GetMetricHistoryResponse> GetMetricHistory(GetMetricHistoryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var runId = RunId(violations, request.RunId);
        var key = Key(violations, "metric_key", request.MetricKey);
        violations.Require(request.MinStep >= 0, "min_step", "must not be negative");
        violations.Require(request.MaxStep >= 0, "max_step", "must not be negative");
        violations.Require(request.MinStep <= request.MaxStep || request.MaxStep == 0, "max_step", "must not be below min_step");
        violations.Require(request.MaxPoints >= 0, "max_points", "must not be negative");
        var start = Milliseconds(violations, "start_time", request.StartTime);
        var end = Milliseconds(violations, "end_time", request.EndTime);
        violations.ThrowIfAny();
        await RequireRunAsync(runId, context.CancellationToken);

        var all = request.MinStep == 0 && request.MaxStep == 0;
        var (points, total) = await store.GetMetricHistoryAsync(runId, key, all ? null : request.MinStep, all ? null : request.MaxStep,
            start, end, Limits.MaxHistoryPoints, context.CancellationToken);
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
        ProvenanceReports.Report(await LoadRunAsync(RunId(request.RunId), context.CancellationToken), options.Value.Mandatory);

    /// <inheritdoc />
    public override async Task<ReproBundle> GetReproBundle(GetReproBundleRequest request, ServerCallContext context) =>
        ProvenanceReports.Bundle(await LoadRunAsync(RunId(request.RunId), context.CancellationToken));

    // ------------------------------------------------------------------ helpers

    private async Task<Run> LoadRunAsync(Guid runId, CancellationToken cancellationToken) =>
        (await store.GetRunsAsync([runId], cancellationToken)).SingleOrDefault() ?? throw ServiceErrors.NotFound("run", RunIds.Format(runId));

    private async Task RequireRunAsync(Guid runId, CancellationToken cancellationToken)
    {
        if (!await store.RunExistsAsync(runId, cancellationToken))
        {
            throw ServiceErrors.NotFound("run", RunIds.Format(runId));
        }
    }

    // The checks of a batch's content, for LogBatch and for each message of LogMetrics (prefix "messages[i].").
    private static void CheckBatch(FieldViolations violations, string prefix, LogBatchRequest request)
    {
        Metrics(violations, $"{prefix}metrics", request.Metrics);
        violations.Require(request.Params.Count <= Limits.MaxParamsPerBatch, $"{prefix}params", $"at most {Limits.MaxParamsPerBatch} params in one batch");
        violations.Require(request.Tags.Count <= Limits.MaxTagsPerBatch, $"{prefix}tags", $"at most {Limits.MaxTagsPerBatch} tags in one batch");
        Pairs(violations, $"{prefix}params", request.Params.Take(Limits.MaxParamsPerBatch).Select(p => (p.Key, p.Value)).ToList(),
            Limits.MaxParamValueLength, (i, key) => request.Params[i].Key = key);
        Pairs(violations, $"{prefix}tags", request.Tags.Take(Limits.MaxTagsPerBatch).Select(t => (t.Key, t.Value)).ToList(),
            Limits.MaxTagValueLength, (i, key) => request.Tags[i].Key = key);
        Inputs(violations, request.Inputs);
    }
}

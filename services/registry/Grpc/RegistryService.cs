using System.Text.RegularExpressions;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Ledger.V1;
using ModelOps.Registry.Data;
using ModelOps.Registry.Domain;
using ModelOps.Registry.Gates;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.Tracking.V1;

namespace ModelOps.Registry.Grpc;

/// <summary>The registry API: models, versions, policies, gated promotion, serving and history.</summary>
public sealed partial class RegistryService(
    RegistryStore store,
    PromotionWorkflow workflow,
    ArtifactReader artifacts,
    TrackingService.TrackingServiceClient tracking,
    LedgerService.LedgerServiceClient ledger,
    ILogger<RegistryService> logger)
    : V1.RegistryService.RegistryServiceBase
{
    private const string Writers = $"{Roles.Pipeline},{Roles.Admin}";
    private const string Requesters = $"{Roles.Pipeline},{Roles.Reviewer},{Roles.Admin}";
    private const int MaxTextLength = 5000;

    // ------------------------------------------------------------------ models

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<RegisteredModel> CreateRegisteredModel(CreateRegisteredModelRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckModelName(violations, "name", request.Name);
        CheckText(violations, "description", request.Description);
        violations.Require(request.Owner.Length <= 200, "owner", "at most 200 characters");
        CheckTags(violations, request.Tags);
        violations.Require(request.RiskTier is RiskTier.Low or RiskTier.Medium or RiskTier.High, "risk_tier", "is required: LOW, MEDIUM or HIGH");
        violations.ThrowIfAny();
        var actor = context.GetCaller().Actor;
        var model = new RegisteredModel
        {
            Name = request.Name,
            Description = request.Description,
            Owner = request.Owner.Length > 0 ? request.Owner : actor,
            Tags = { request.Tags },
            RiskTier = request.RiskTier,
        };
        await store.CreateModelAsync(model, actor,
            new RegisteredModelCreated { Actor = actor, Model = model.Name, RiskTier = RiskTiers.Name(model.RiskTier), Owner = model.Owner },
            context.CancellationToken);
        return await LoadModelAsync(request.Name, context.CancellationToken);
    }

    /// <inheritdoc />
    public override Task<RegisteredModel> GetRegisteredModel(GetRegisteredModelRequest request, ServerCallContext context) =>
        LoadModelAsync(request.Name, context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListRegisteredModelsResponse> ListRegisteredModels(ListRegisteredModelsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("models", request.NameContains);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var models = await store.ListModelsAsync(request.NameContains, pageSize + 1, offset, context.CancellationToken);
        return new ListRegisteredModelsResponse
        {
            Models = { models.Take(pageSize) },
            NextPageToken = Paging.NextToken(models.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<RegisteredModel> UpdateRegisteredModel(UpdateRegisteredModelRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckText(violations, "description", request.Description);
        violations.Require(request.Owner.Length <= 200, "owner", "at most 200 characters");
        CheckTags(violations, request.Tags);
        violations.Require(request.RiskTier is RiskTier.Unspecified or RiskTier.Low or RiskTier.Medium or RiskTier.High, "risk_tier", "must be LOW, MEDIUM or HIGH");
        violations.ThrowIfAny();
        if (request.RiskTier != RiskTier.Unspecified && !context.GetCaller().IsInRole(Roles.Admin))
        {
            // The tier decides which gates apply by default: lowering it is a governance decision.
            GrpcErrors.PermissionDenied("Only an admin can change a model's risk tier.");
        }

        await store.UpdateModelAsync(request, context.CancellationToken);
        return await LoadModelAsync(request.Name, context.CancellationToken);
    }

    // ------------------------------------------------------------------ versions

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<ModelVersion> CreateModelVersion(CreateModelVersionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckModelName(violations, "model", request.Model);
        violations.Require(RunIdPattern().IsMatch(request.RunId), "run_id", "must be a tracking run id (32 hex digits)");
        violations.Require(request.ArtifactPath.Length is > 0 and <= 1024, "artifact_path", "is required (at most 1024 characters)");
        CheckText(violations, "description", request.Description);
        violations.ThrowIfAny();
        var cancellationToken = context.CancellationToken;
        await LoadModelAsync(request.Model, cancellationToken);

        var run = await AskTrackingAsync(() => tracking.GetRunAsync(new GetRunRequest { RunId = request.RunId }, cancellationToken: cancellationToken).ResponseAsync,
            $"Run {request.RunId}");
        if (run.Status != RunStatus.Finished)
        {
            GrpcErrors.FailedPrecondition($"Run {request.RunId} is {run.Status.ToString().ToUpperInvariant()}: only a FINISHED run can become a model version.");
        }

        if (run.LifecycleStage == LifecycleStage.Deleted)
        {
            GrpcErrors.FailedPrecondition($"Run {request.RunId} is deleted.");
        }

        var report = await AskTrackingAsync(() => tracking.GetProvenanceAsync(new GetProvenanceRequest { RunId = request.RunId }, cancellationToken: cancellationToken).ResponseAsync,
            $"Run {request.RunId}");
        var runArtifacts = new List<ArtifactRef>();
        var page = "";
        do
        {
            var listed = await AskTrackingAsync(() => tracking.ListArtifactsAsync(
                new ListArtifactsRequest { RunId = request.RunId, PageSize = Paging.MaxPageSize, PageToken = page }, cancellationToken: cancellationToken).ResponseAsync,
                $"Run {request.RunId}");
            runArtifacts.AddRange(listed.Artifacts.Select(a => new ArtifactRef(a.Path, a.Sha256, a.Size, a.Uri)));
            page = listed.NextPageToken;
        }
        while (page.Length > 0);

        var artifact = runArtifacts.FirstOrDefault(a => a.Path == request.ArtifactPath);
        if (artifact is null)
        {
            GrpcErrors.InvalidArgument("artifact_path", $"run {request.RunId} holds no artifact at '{request.ArtifactPath}'");
        }

        // Pinning means checking: the bytes the store holds now must be the bytes tracking recorded.
        var (sha256, size) = await artifacts.HashAsync(artifact.Uri, cancellationToken);
        if (sha256 != artifact.Sha256 || size != artifact.Size)
        {
            GrpcErrors.FailedPrecondition(
                $"The object store's bytes of '{artifact.Path}' hash to {sha256} ({size} bytes), not the {artifact.Sha256} ({artifact.Size} bytes) tracking recorded: the version is not registered.");
        }

        var snapshot = new VersionSnapshot(
            request.Model, 0, RunIdFormat(run.RunId), run.Author, artifact.Path, artifact.Uri, artifact.Sha256, artifact.Size, Stage.None,
            report.Present.ToList(),
            run.LatestMetrics.GroupBy(m => m.Key).ToDictionary(g => g.Key, g => g.Last().Value),
            runArtifacts);
        var actor = context.GetCaller().Actor;
        var version = await store.CreateVersionAsync(snapshot, run.RecordSha256, RegistryStore.ProtoJson.Format(report), request.Description, actor,
            number => new ModelVersionRegistered
            {
                Actor = actor,
                Model = request.Model,
                Version = number,
                RunId = snapshot.RunId,
                RunRecordSha256 = run.RecordSha256,
                ArtifactPath = artifact.Path,
                ArtifactSha256 = artifact.Sha256,
                ArtifactUri = artifact.Uri,
            }, cancellationToken);
        return await LoadVersionAsync(request.Model, version, cancellationToken);
    }

    /// <inheritdoc />
    public override Task<ModelVersion> GetModelVersion(GetModelVersionRequest request, ServerCallContext context) =>
        LoadVersionAsync(request.Model, request.Version, context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListModelVersionsResponse> ListModelVersions(ListModelVersionsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("versions", request.Model);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        await LoadModelAsync(request.Model, context.CancellationToken);
        var versions = await store.ListVersionsAsync(request.Model, pageSize + 1, offset, context.CancellationToken);
        return new ListModelVersionsResponse
        {
            Versions = { versions.Take(pageSize) },
            NextPageToken = Paging.NextToken(versions.Count, pageSize, offset, fingerprint),
        };
    }

    // ------------------------------------------------------------------ policies

    /// <inheritdoc />
    [Authorize(Roles = Roles.Admin)]
    public override async Task<Policy> SetPolicy(SetPolicyRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        Policies.Validate(violations, request.Policy);
        violations.Require(request.Reason.Trim().Length is > 0 and <= MaxTextLength, "reason", $"is required (at most {MaxTextLength} characters): why the policy changes");
        violations.ThrowIfAny("The policy was not stored.");
        await LoadModelAsync(request.Model, context.CancellationToken);
        var actor = context.GetCaller().Actor;
        var policy = request.Policy.Clone();
        policy.Reason = request.Reason;
        policy.CreatedAt = null;
        policy.CreatedBy = "";
        var version = await store.SetPolicyAsync(request.Model, policy, actor, number => new PolicyChanged
        {
            Actor = actor,
            Model = request.Model,
            PolicyVersion = number,
            PolicyJson = RegistryStore.ProtoJson.Format(policy),
            Reason = request.Reason,
        }, context.CancellationToken);
        await workflow.ReevaluateOpenAsync(request.Model, actor, context.CancellationToken);
        return (await store.GetPolicyAsync(request.Model, version, context.CancellationToken))!;
    }

    /// <inheritdoc />
    public override async Task<Policy> GetPolicy(GetPolicyRequest request, ServerCallContext context)
    {
        var model = await LoadModelAsync(request.Model, context.CancellationToken);
        if (request.Version == 0)
        {
            return await workflow.PolicyAsync(model, context.CancellationToken);
        }

        return await store.GetPolicyAsync(request.Model, request.Version, context.CancellationToken)
               ?? NotFound<Policy>($"Version {request.Version} of the policy of '{request.Model}'");
    }

    // ------------------------------------------------------------------ promotion

    /// <inheritdoc />
    [Authorize(Roles = Requesters)]
    public override async Task<PromotionRequest> RequestPromotion(RequestPromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        Targets.Check(violations, "target", request.Target);
        violations.Require(request.Justification.Trim().Length is > 0 and <= MaxTextLength, "justification", $"is required (at most {MaxTextLength} characters)");
        violations.ThrowIfAny("The request was not recorded.");
        var cancellationToken = context.CancellationToken;
        var version = await LoadVersionAsync(request.Model, request.Version, cancellationToken);
        CheckMove(version, request.Target);
        if (request.Target.KindCase == Target.KindOneofCase.Alias &&
            await store.AliasHolderAsync(request.Model, request.Target.Alias, cancellationToken) == request.Version)
        {
            GrpcErrors.FailedPrecondition($"'{request.Target.Alias}' points at version {request.Version} already.");
        }

        var actor = context.GetCaller().Actor;
        var requestId = Guid.CreateVersion7();
        var promotion = new PromotionRequest
        {
            RequestId = requestId.ToString(),
            Model = request.Model,
            Version = request.Version,
            Target = request.Target,
            Justification = request.Justification,
            Requester = actor,
        };
        await store.CreateRequestAsync(promotion, version.Stage, new PromotionRequested
        {
            Actor = actor,
            RequestId = requestId,
            Model = request.Model,
            Version = request.Version,
            Target = Targets.Format(request.Target),
            Justification = request.Justification,
        }, cancellationToken);
        await workflow.EvaluateAsync(requestId, actor, cancellationToken);
        return (await store.GetRequestAsync(requestId, cancellationToken))!;
    }

    /// <inheritdoc />
    public override Task<PromotionRequest> GetPromotionRequest(GetPromotionRequestRequest request, ServerCallContext context) =>
        LoadRequestAsync(RequestId(request.RequestId), context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListPromotionRequestsResponse> ListPromotionRequests(ListPromotionRequestsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        violations.Require(Enum.IsDefined(request.State), "state", "is not a request state");
        var fingerprint = Paging.Fingerprint("requests", request.Model, request.State.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        await LoadModelAsync(request.Model, context.CancellationToken);
        var requests = await store.ListRequestsAsync(request.Model, request.State, pageSize + 1, offset, context.CancellationToken);
        return new ListPromotionRequestsResponse
        {
            Requests = { requests.Take(pageSize) },
            NextPageToken = Paging.NextToken(requests.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Reviewer)]
    public override async Task<PromotionRequest> ApprovePromotion(ReviewPromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var requestId = RequestId(request.RequestId, violations);
        CheckText(violations, "comment", request.Comment);
        violations.ThrowIfAny();
        var cancellationToken = context.CancellationToken;
        var promotion = await LoadRequestAsync(requestId, cancellationToken);
        var reviewer = context.GetCaller().Actor;
        if (reviewer == promotion.Requester)
        {
            GrpcErrors.PermissionDenied($"{reviewer} asked for this promotion and cannot approve it: four eyes.");
        }

        var version = await LoadVersionAsync(promotion.Model, promotion.Version, cancellationToken);
        if (reviewer == version.RunAuthor)
        {
            GrpcErrors.PermissionDenied($"{reviewer} trained version {version.Version} (run {version.RunId}) and cannot approve its promotion: four eyes.");
        }

        await store.AddApprovalAsync(requestId, reviewer, request.Comment, open => new PromotionApproved
        {
            Actor = reviewer,
            RequestId = requestId,
            Model = open.Model,
            Version = open.Version,
            Comment = request.Comment,
        }, cancellationToken);
        await workflow.EvaluateAsync(requestId, reviewer, cancellationToken);
        return await LoadRequestAsync(requestId, cancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Reviewer)]
    public override async Task<PromotionRequest> RejectPromotion(ReviewPromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var requestId = RequestId(request.RequestId, violations);
        violations.Require(request.Comment.Trim().Length is > 0 and <= MaxTextLength, "comment", $"is required to reject (at most {MaxTextLength} characters)");
        violations.ThrowIfAny();
        var promotion = await LoadRequestAsync(requestId, context.CancellationToken);
        var reviewer = context.GetCaller().Actor;
        if (reviewer == promotion.Requester)
        {
            GrpcErrors.PermissionDenied($"{reviewer} asked for this promotion; withdraw it with CancelPromotion instead.");
        }

        await store.DecideAsync(requestId, RequestState.Rejected, reviewer, request.Comment, context.CancellationToken);
        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Requesters)]
    public override async Task<PromotionRequest> CancelPromotion(CancelPromotionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var requestId = RequestId(request.RequestId, violations);
        CheckText(violations, "comment", request.Comment);
        violations.ThrowIfAny();
        var promotion = await LoadRequestAsync(requestId, context.CancellationToken);
        var caller = context.GetCaller();
        if (caller.Actor != promotion.Requester && !caller.IsInRole(Roles.Admin))
        {
            GrpcErrors.PermissionDenied("Only the requester or an admin can withdraw a request.");
        }

        await store.DecideAsync(requestId, RequestState.Cancelled, caller.Actor, request.Comment, context.CancellationToken);
        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Requesters},{Roles.Service}")]
    public override async Task<PromotionRequest> ReevaluatePromotion(ReevaluatePromotionRequest request, ServerCallContext context)
    {
        var requestId = RequestId(request.RequestId);
        var promotion = await LoadRequestAsync(requestId, context.CancellationToken);
        if (promotion.State != RequestState.Open)
        {
            GrpcErrors.FailedPrecondition($"Promotion request {requestId} is {RegistryStore.StateName(promotion.State)}: only an OPEN request is evaluated.");
        }

        await workflow.EvaluateAsync(requestId, context.GetCaller().Actor, context.CancellationToken);
        return await LoadRequestAsync(requestId, context.CancellationToken);
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Admin)]
    public override async Task<ModelVersion> OverrideTransition(OverrideTransitionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        Targets.Check(violations, "target", request.Target);
        violations.Require(request.Reason.Trim().Length is > 0 and <= MaxTextLength, "reason",
            $"is required (at most {MaxTextLength} characters): an override is recorded in the ledger with its reason");
        violations.ThrowIfAny("Nothing was changed.");
        var cancellationToken = context.CancellationToken;
        var model = await LoadModelAsync(request.Model, cancellationToken);
        var found = await store.GetVersionAsync(request.Model, request.Version, cancellationToken)
                    ?? NotFound<(ModelVersion, VersionSnapshot)>($"Version {request.Version} of '{request.Model}'");
        var policy = await workflow.PolicyAsync(model, cancellationToken);
        await store.OverrideAsync(new Transition(found.Item2, request.Target, null, null, request.Reason, context.GetCaller().Actor, request.Reason,
            Policies.MaxProduction(policy)), cancellationToken);
        return await LoadVersionAsync(request.Model, request.Version, cancellationToken);
    }

    // ------------------------------------------------------------------ serving and history

    /// <inheritdoc />
    public override async Task<Deployable> GetDeployable(GetDeployableRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        Targets.Check(violations, "target", request.Target);
        violations.ThrowIfAny();
        var cancellationToken = context.CancellationToken;
        await LoadModelAsync(request.Model, cancellationToken);
        var current = await store.CurrentAsync(request.Model, request.Target, cancellationToken)
                      ?? NotFound<(Assignment, List<GateResult>, long?)>($"A version of '{request.Model}' in {Targets.Format(request.Target)}");
        var (assignment, gates, ledgerIndex) = current;
        if (assignment.RequestId.Length == 0)
        {
            GrpcErrors.FailedPrecondition(
                $"{Targets.Format(request.Target)} of '{request.Model}' holds version {assignment.Version} by an admin's override ({assignment.OverrideReason}), not through its gates.");
        }

        var version = await LoadVersionAsync(request.Model, assignment.Version, cancellationToken);
        return new Deployable
        {
            Model = request.Model,
            Version = assignment.Version,
            Target = request.Target,
            RunId = version.RunId,
            ArtifactUri = version.ArtifactUri,
            ArtifactSha256 = version.ArtifactSha256,
            ArtifactSize = version.ArtifactSize,
            RequestId = assignment.RequestId,
            Gates = { gates },
            Since = assignment.Since,
            DecisionEventId = assignment.DecisionEventId,
            LedgerIndex = ledgerIndex ?? await LedgerIndexAsync(Guid.Parse(assignment.DecisionEventId), cancellationToken),
        };
    }

    /// <inheritdoc />
    public override async Task<ListHistoryResponse> ListHistory(ListHistoryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        if (request.Target is not null)
        {
            Targets.Check(violations, "target", request.Target);
        }

        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("history", request.Model, request.Target is null ? "" : Targets.Format(request.Target));
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        await LoadModelAsync(request.Model, context.CancellationToken);
        var history = await store.ListHistoryAsync(request.Model, request.Target, pageSize + 1, offset, context.CancellationToken);
        return new ListHistoryResponse
        {
            Assignments = { history.Take(pageSize) },
            NextPageToken = Paging.NextToken(history.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    public override async Task<GetAssignmentsAtResponse> GetAssignmentsAt(GetAssignmentsAtRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        Targets.Check(violations, "target", request.Target);
        violations.Require(request.At is not null, "at", "is required: the instant to look at");
        violations.ThrowIfAny();
        await LoadModelAsync(request.Model, context.CancellationToken);
        return new GetAssignmentsAtResponse
        {
            Assignments = { await store.AssignmentsAtAsync(request.Model, request.Target, request.At!.ToDateTime(), context.CancellationToken) },
        };
    }

    // ------------------------------------------------------------------ helpers

    // The ledger appends events as they arrive over the bus; until it has this one, the index is unknown (-1). Once
    // known it is kept, since a ledger index never changes.
    private async Task<long> LedgerIndexAsync(Guid eventId, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await ledger.GetEntryByEventIdAsync(new GetEntryByEventIdRequest { EventId = eventId.ToString() },
                deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: cancellationToken);
            await store.SetLedgerIndexAsync(eventId, entry.Index, cancellationToken);
            return entry.Index;
        }
        catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
        {
            LogLedgerUnknown(logger, eventId, exception.StatusCode);
            return -1;
        }
    }

    // A request may ask for any stage the version is not in — the target's gates decide — and an alias for any version
    // that is not archived. Nothing moves without a request, except by an admin's recorded override.
    private static void CheckMove(ModelVersion version, Target target)
    {
        if (target.KindCase == Target.KindOneofCase.Stage && version.Stage == target.Stage)
        {
            GrpcErrors.FailedPrecondition($"Version {version.Version} of '{version.Model}' is {Targets.StageName(version.Stage)} already.");
        }

        if (target.KindCase == Target.KindOneofCase.Alias && version.Stage == Stage.Archived)
        {
            GrpcErrors.FailedPrecondition($"Version {version.Version} of '{version.Model}' is archived: an alias cannot point at it.");
        }
    }

    private async Task<T> AskTrackingAsync<T>(Func<Task<T>> call, string what)
    {
        try
        {
            return await call();
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            GrpcErrors.NotFound(what);
            throw;
        }
        catch (RpcException exception) when (exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            LogTrackingUnavailable(logger, exception.StatusCode);
            throw new RpcException(new Status(StatusCode.Unavailable, $"Tracking could not be asked about {what}; try again."));
        }
    }

    private async Task<RegisteredModel> LoadModelAsync(string name, CancellationToken cancellationToken) =>
        await store.GetModelAsync(name, cancellationToken) ?? NotFound<RegisteredModel>($"Registered model '{name}'");

    private async Task<ModelVersion> LoadVersionAsync(string model, int version, CancellationToken cancellationToken)
    {
        var found = await store.GetVersionAsync(model, version, cancellationToken);
        if (found is null)
        {
            await LoadModelAsync(model, cancellationToken);
            GrpcErrors.NotFound($"Version {version} of '{model}'");
        }

        return found.Value.Version;
    }

    private async Task<PromotionRequest> LoadRequestAsync(Guid requestId, CancellationToken cancellationToken) =>
        await store.GetRequestAsync(requestId, cancellationToken) ?? NotFound<PromotionRequest>($"Promotion request {requestId}");

    private static Guid RequestId(string text, FieldViolations? violations = null)
    {
        if (Guid.TryParse(text, out var id))
        {
            return id;
        }

        if (violations is null)
        {
            GrpcErrors.InvalidArgument("request_id", "must be a request id (a UUID)");
        }

        violations.Add("request_id", "must be a request id (a UUID)");
        return Guid.Empty;
    }

    private static string RunIdFormat(string runId) => Guid.Parse(runId).ToString("N");

    private static void CheckModelName(FieldViolations violations, string field, string name) =>
        violations.Require(ModelNamePattern().IsMatch(name), field, "must be 1 to 128 letters, digits, '.', '_' or '-'");

    private static void CheckText(FieldViolations violations, string field, string text) =>
        violations.Require(text.Length <= MaxTextLength, field, $"at most {MaxTextLength} characters");

    private static void CheckTags(FieldViolations violations, IDictionary<string, string> tags)
    {
        violations.Require(tags.Count <= 100, "tags", "at most 100 tags");
        foreach (var (key, value) in tags.Take(100))
        {
            violations.Require(key.Length is > 0 and <= 250, $"tags[{key}]", "a tag key is 1 to 250 characters");
            violations.Require(value.Length <= MaxTextLength, $"tags[{key}]", $"a tag value is at most {MaxTextLength} characters");
        }
    }

    private static T NotFound<T>(string what)
    {
        GrpcErrors.NotFound(what);
        return default!;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex ModelNamePattern();

    [GeneratedRegex("^[0-9a-fA-F]{32}$")]
    private static partial Regex RunIdPattern();

    [LoggerMessage(Level = LogLevel.Information, Message = "The ledger has no index for decision {EventId} yet ({Status})")]
    private static partial void LogLedgerUnknown(ILogger logger, Guid eventId, StatusCode status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tracking did not answer ({Status})")]
    private static partial void LogTrackingUnavailable(ILogger logger, StatusCode status);
}

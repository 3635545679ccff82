using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Ledger.V1;
using ModelOps.Registry.Data;
using ModelOps.Registry.Domain;
using ModelOps.Registry.Registration;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.Tracking.V1;
using static ModelOps.Registry.Grpc.RegistryRequests;

namespace ModelOps.Registry.Grpc;

/// <summary>The registry API: models, versions, policies, gated promotion, serving and history.</summary>
public sealed partial class RegistryService(
    RegistryStore store,
    PromotionWorkflow workflow,
    VersionRegistration registration,
    LedgerService.LedgerServiceClient ledger,
    IOptions<RegistryOptions> options,
    ILogger<RegistryService> logger)
    : V1.RegistryService.RegistryServiceBase
{
    private const string Writers = $"{Roles.Pipeline},{Roles.Admin}";
    private const string Requesters = $"{Roles.Pipeline},{Roles.Reviewer},{Roles.Admin}";

    // ------------------------------------------------------------------ models

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<RegisteredModel> CreateRegisteredModel(CreateRegisteredModelRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var name = ModelName(violations, "name", request.Name);
        Text(violations, "description", request.Description);
        var owner = TextRules.Name(violations, "owner", request.Owner, MaxOwnerLength, required: false);
        Tags(violations, request.Tags);
        violations.Require(request.RiskTier is RiskTier.Low or RiskTier.Medium or RiskTier.High, "risk_tier", "is required: LOW, MEDIUM or HIGH");
        violations.ThrowIfAny();
        var caller = context.GetCaller();
        var model = new RegisteredModel
        {
            Name = name,
            Description = request.Description,
            Owner = PromotionRules.OwnerOnCreate(caller, owner),
            Tags = { request.Tags },
            RiskTier = request.RiskTier,
        };
        await using var tx = await store.BeginAsync(context.CancellationToken);
        await RegistryStore.CreateModelAsync(tx, model, caller.Actor, context.CancellationToken);
        tx.Publish(new RegisteredModelCreated { Actor = caller.Actor, Model = model.Name, RiskTier = RiskTiers.Name(model.RiskTier), Owner = model.Owner });
        await tx.CommitAsync(context.CancellationToken);
        return await LoadModelAsync(name, context.CancellationToken);
    }

    /// <inheritdoc />
    public override Task<RegisteredModel> GetRegisteredModel(GetRegisteredModelRequest request, ServerCallContext context) =>
        LoadModelAsync(ModelName(request.Name), context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListRegisteredModelsResponse> ListRegisteredModels(ListRegisteredModelsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var contains = TextRules.Name(violations, "name_contains", request.NameContains, 128, required: false);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("models", contains);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var models = await store.ListModelsAsync(contains, pageSize + 1, offset, context.CancellationToken);
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
        var name = ModelName(violations, "name", request.Name);
        Text(violations, "description", request.Description);
        var owner = TextRules.Name(violations, "owner", request.Owner, MaxOwnerLength, required: request.HasOwner);
        Tags(violations, request.Tags);
        violations.Require(request.RiskTier is RiskTier.Unspecified or RiskTier.Low or RiskTier.Medium or RiskTier.High, "risk_tier", "must be LOW, MEDIUM or HIGH");
        Text(violations, "reason", request.Reason);
        violations.ThrowIfAny();
        var caller = context.GetCaller();
        if (request.RiskTier != RiskTier.Unspecified && !caller.IsInRole(Roles.Admin))
        {
            // The tier decides which gates apply by default: changing it is a governance decision.
            throw ServiceErrors.PermissionDenied("ADMIN_ONLY", "Only an admin can change a model's risk tier.");
        }

        await using var tx = await store.BeginAsync(context.CancellationToken);
        var model = await RegistryStore.LockModelAsync(tx, name, context.CancellationToken);
        PromotionRules.CheckOwner(caller, model.Owner, model.Name);
        var changes = new Dictionary<string, FieldChange>(StringComparer.Ordinal);
        void Change(string field, string from, string to)
        {
            if (from != to)
            {
                changes[field] = new FieldChange(from, to);
            }
        }

        Change("description", model.Description, request.HasDescription ? request.Description : model.Description);
        Change("owner", model.Owner, request.HasOwner ? owner : model.Owner);
        Change("tags", JsonSerializer.Serialize(model.Tags), request.UpdateTags ? JsonSerializer.Serialize(request.Tags) : JsonSerializer.Serialize(model.Tags));
        Change("risk_tier", RiskTiers.Name(model.RiskTier), request.RiskTier == RiskTier.Unspecified ? RiskTiers.Name(model.RiskTier) : RiskTiers.Name(request.RiskTier));
        if ((changes.ContainsKey("risk_tier") || changes.ContainsKey("owner")) && request.Reason.Trim().Length == 0)
        {
            throw ServiceErrors.InvalidArgument("reason", "is required to change a model's risk tier or owner: it is recorded in the ledger");
        }

        if (changes.Count > 0)
        {
            model.Description = request.HasDescription ? request.Description : model.Description;
            model.Owner = request.HasOwner ? owner : model.Owner;
            if (request.UpdateTags)
            {
                model.Tags.Clear();
                model.Tags.Add(request.Tags);
            }

            model.RiskTier = request.RiskTier == RiskTier.Unspecified ? model.RiskTier : request.RiskTier;
            await RegistryStore.UpdateModelAsync(tx, model, context.CancellationToken);
            tx.Publish(new RegisteredModelUpdated { Actor = caller.Actor, Model = name, Changes = changes, Reason = request.Reason });
            await tx.CommitAsync(context.CancellationToken);
        }

        return await LoadModelAsync(name, context.CancellationToken);
    }

    // ------------------------------------------------------------------ versions

    /// <inheritdoc />
    [Authorize(Roles = Writers)]
    public override async Task<ModelVersion> CreateModelVersion(CreateModelVersionRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = ModelName(violations, "model", request.Model);
        RunId(violations, request.RunId);
        var artifactPath = TextRules.Name(violations, "artifact_path", request.ArtifactPath, 1024);
        Text(violations, "description", request.Description);
        var clientRequestId = TextRules.Name(violations, "client_request_id", request.ClientRequestId, 128, required: false);
        violations.ThrowIfAny();
        var version = await registration.RegisterAsync(model, request.RunId, artifactPath, request.Description, clientRequestId,
            context.GetCaller(), context.CancellationToken);
        return await LoadVersionAsync(model, version, context.CancellationToken);
    }

    /// <inheritdoc />
    public override Task<ModelVersion> GetModelVersion(GetModelVersionRequest request, ServerCallContext context) =>
        LoadVersionAsync(ModelName(request.Model), request.Version, context.CancellationToken);

    /// <inheritdoc />
    public override async Task<ListModelVersionsResponse> ListModelVersions(ListModelVersionsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = ModelName(violations, "model", request.Model);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("versions", model);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        await LoadModelAsync(model, context.CancellationToken);
        var versions = await store.ListVersionsAsync(model, pageSize + 1, offset, context.CancellationToken);
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
        var model = ModelName(violations, "model", request.Model);
        Policies.Validate(violations, request.Policy, options.Value.RemoteGateServices);
        Text(violations, "reason", request.Reason, required: true);
        violations.ThrowIfAny("The policy was not stored.");
        var actor = context.GetCaller().Actor;
        var policy = request.Policy.Clone();
        policy.Reason = request.Reason;
        policy.CreatedAt = null;
        policy.CreatedBy = "";
        await using var tx = await store.BeginAsync(context.CancellationToken);
        await RegistryStore.LockModelAsync(tx, model, context.CancellationToken);
        var version = await RegistryStore.SetPolicyAsync(tx, model, policy, actor, context.CancellationToken);
        tx.Publish(new PolicyChanged
        {
            Actor = actor,
            Model = model,
            PolicyVersion = version,
            PolicyJson = RegistryStore.ProtoJson.Format(policy),
            Reason = request.Reason,
        });
        await tx.CommitAsync(context.CancellationToken);
        return (await store.GetPolicyAsync(model, version, context.CancellationToken))!;
    }

    /// <inheritdoc />
    public override async Task<Policy> GetPolicy(GetPolicyRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var name = ModelName(violations, "model", request.Model);
        violations.Require(request.Version >= 0, "version", "must not be negative (0: the policy in effect)");
        violations.ThrowIfAny();
        var model = await LoadModelAsync(name, context.CancellationToken);
        if (request.Version == 0)
        {
            return await workflow.PolicyInEffectAsync(model, context.CancellationToken);
        }

        return await store.GetPolicyAsync(name, request.Version, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("policy", $"{name}/{request.Version}", $"Version {request.Version} of the policy of '{name}' was not found.");
    }

    // ------------------------------------------------------------------ helpers

    private async Task<RegisteredModel> LoadModelAsync(string name, CancellationToken cancellationToken) =>
        await store.GetModelAsync(name, cancellationToken) ?? throw ServiceErrors.NotFound("registered_model", name);

    private async Task<ModelVersion> LoadVersionAsync(string model, int version, CancellationToken cancellationToken)
    {
        var found = await store.GetVersionAsync(model, version, cancellationToken);
        if (found is null)
        {
            await LoadModelAsync(model, cancellationToken);
            throw ServiceErrors.NotFound("model_version", $"{model}/{version}", $"Version {version} of '{model}' was not found.");
        }

        return found.Version;
    }

    private async Task<PromotionRequest> LoadRequestAsync(Guid requestId, CancellationToken cancellationToken) =>
        await store.GetRequestAsync(requestId, cancellationToken) ?? throw ServiceErrors.NotFound("promotion_request", requestId.ToString());

    [LoggerMessage(Level = LogLevel.Information, Message = "The ledger has no index for decision {EventId} yet ({Status})")]
    private static partial void LogLedgerUnknown(ILogger logger, Guid eventId, StatusCode status);
}

using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ModelOps.Ledger.V1;
using ModelOps.Registry.V1;
using ModelOps.Tracking.V1;

namespace ModelOps.Dossier;

/// <summary>
/// Gathers a version's dossier from the registry, tracking and the ledger, as the person whose headers it is given (the
/// services check that person's roles; an auditor reads everything a dossier holds). The ledger entries are those about
/// the version (<c>model_version</c>) and about its run (<c>run_id</c>), each proven against the latest checkpoint.
/// </summary>
public sealed class DossierBuilder(
    RegistryService.RegistryServiceClient registry, TrackingService.TrackingServiceClient tracking, LedgerService.LedgerServiceClient ledger,
    MonitoringClients monitoring)
{
    /// <summary>At most this many ledger entries go into one dossier; a version with more is refused, not cut short.</summary>
    public const int MaxLedgerEntries = 5000;

    /// <summary>
    /// The dossier of <paramref name="model"/> version <paramref name="version"/>; without <paramref name="proofs"/>, its
    /// ledger entries come without their inclusion proofs (a page shows them at once and proves them after, with
    /// <see cref="ProveAsync"/>). <paramref name="decisions"/> are request ids whose logged decisions the dossier explains
    /// (at most <see cref="DossierDecisions.MaxRequested"/>), beside examples of the version's newest.
    /// </summary>
    public async Task<AuditDossier> BuildAsync(
        string model, int version, string generatedBy, Metadata headers, CancellationToken cancellationToken, bool proofs = true,
        IReadOnlyList<string>? decisions = null)
    {
        CallOptions Call() => new(headers, cancellationToken: cancellationToken);
        var registeredCall = registry.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = model }, Call()).ResponseAsync;
        var found = await registry.GetModelVersionAsync(new GetModelVersionRequest { Model = model, Version = version }, Call());

        // What does not depend on another answer is asked at once: a page waits for the slowest service, not their sum.
        var run = string.IsNullOrEmpty(found.RunId) ? Task.FromResult<RunFacts?>(null) : RunAsync(found.RunId, Call);
        var artifacts = string.IsNullOrEmpty(found.RunId) ? Task.FromResult<IReadOnlyList<ArtifactFacts>>([]) : ArtifactsAsync(found.RunId, Call);
        var promotions = PromotionsAsync(model, version, Call);
        var deployments = DeploymentsAsync(model, version, Call);
        var watched = monitoring.GatherAsync(model, version, Call);
        var entries = LedgerAsync($"{model}/{version}", found.RunId, Call, proofs, cancellationToken);
        var decided = DossierDecisions.GatherAsync(monitoring.Explainability, model, version, decisions ?? [], Call);
        var registered = await registeredCall;
        await Task.WhenAll(run, artifacts, promotions, deployments, watched, entries, decided);

        return new AuditDossier(
            AuditDossier.FormatName,
            DateTimeOffset.UtcNow,
            generatedBy,
            new ModelCard(
                registered.Name, registered.Description, registered.Owner, Names.Of(registered.RiskTier), registered.Tags.ToDictionary(),
                registered.Tags.GetValueOrDefault("intended_use"), registered.Tags.GetValueOrDefault("limitations"),
                Names.At(registered.CreatedAt), registered.CreatedBy),
            new VersionFacts(
                found.Version, Names.Of(found.Stage), [.. found.Aliases], found.RunId, found.RunAuthor, found.ArtifactPath, found.ArtifactUri,
                found.ArtifactSha256, found.ArtifactSize, found.Description, Names.At(found.CreatedAt), found.CreatedBy, found.RunRecordSha256),
            await run,
            await artifacts,
            await promotions,
            await deployments,
            await watched,
            await entries,
            await decided);
    }

    private async Task<RunFacts?> RunAsync(string runId, Func<CallOptions> call)
    {
        var provenanceCall = tracking.GetProvenanceAsync(new GetProvenanceRequest { RunId = runId }, call()).ResponseAsync;
        var run = await tracking.GetRunAsync(new GetRunRequest { RunId = runId }, call());
        var provenance = await provenanceCall;
        return new RunFacts(
            run.RunId, run.RunName, run.Status.ToString(), run.Author, Names.At(run.StartTime), Names.At(run.EndTime),
            run.Params.ToDictionary(), Flatten(provenance.Provenance), [.. provenance.Present], [.. provenance.Missing],
            [.. run.Inputs.Select(i => new DatasetFacts(i.DatasetId, i.Hash, Names.At(i.SnapshotAt), i.SourceUri, i.Context))],
            [.. run.LatestMetrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => new MetricFacts(m.Key, m.Value, m.Step))]);
    }

    private async Task<IReadOnlyList<ArtifactFacts>> ArtifactsAsync(string runId, Func<CallOptions> call)
    {
        var list = new List<ArtifactFacts>();
        var request = new ListArtifactsRequest { RunId = runId, PageSize = 1000 };
        do
        {
            var page = await tracking.ListArtifactsAsync(request, call());
            list.AddRange(page.Artifacts.Select(a => new ArtifactFacts(a.Path, a.Sha256, a.Size)));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        return list;
    }

    private async Task<IReadOnlyList<PromotionFacts>> PromotionsAsync(string model, int version, Func<CallOptions> call)
    {
        var list = new List<PromotionFacts>();
        var request = new ListPromotionRequestsRequest { Model = model, PageSize = 500 };
        do
        {
            var page = await registry.ListPromotionRequestsAsync(request, call());
            list.AddRange(page.Requests.Where(r => r.Version == version).Select(ToFacts));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        return [.. list.OrderBy(p => p.CreatedAt)];
    }

    /// <summary>A promotion request as the dossier shows it.</summary>
    public static PromotionFacts ToFacts(PromotionRequest request) => new(
        request.RequestId, Names.Of(request.Target), Names.Of(request.State), request.Requester, request.Justification,
        Names.At(request.CreatedAt), request.PolicyVersion,
        [.. request.Gates.Select(g => new GateFacts(g.Name, g.Kind, Names.Of(g.Status), g.Reason, new SortedDictionary<string, string>(g.Evidence, StringComparer.Ordinal)))],
        [.. request.Approvals.Select(a => new ApprovalFacts(a.Reviewer, a.Comment, Names.At(a.At)))],
        request.DecidedBy, Names.At(request.DecidedAt), request.DecisionComment);

    private async Task<IReadOnlyList<DeploymentFacts>> DeploymentsAsync(string model, int version, Func<CallOptions> call)
    {
        var list = new List<DeploymentFacts>();
        var request = new ListHistoryRequest { Model = model, PageSize = 500 };
        do
        {
            var page = await registry.ListHistoryAsync(request, call());
            list.AddRange(page.Assignments.Where(a => a.Version == version).Select(a => new DeploymentFacts(
                Names.Of(a.Target), Names.At(a.Since), Names.At(a.Until), a.RequestId, a.DecidedBy, a.OverrideReason)));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        return list;
    }

    /// <summary>The same entries, each with its inclusion proof in the tree of <paramref name="ledgerProofs"/>' checkpoint.</summary>
    public async Task<LedgerProofs> ProveAsync(LedgerProofs ledgerProofs, Metadata headers, CancellationToken cancellationToken) =>
        ledgerProofs with
        {
            Entries = await ProveEachAsync(ledgerProofs.Entries, ledgerProofs.TreeSize, () => new CallOptions(headers, cancellationToken: cancellationToken), cancellationToken),
        };

    private async Task<LedgerProofs> LedgerAsync(string modelVersion, string runId, Func<CallOptions> call, bool prove, CancellationToken cancellationToken)
    {
        var keyCall = ledger.GetVerifierKeyAsync(new GetVerifierKeyRequest(), call()).ResponseAsync;
        var checkpoint = await ledger.GetCheckpointAsync(new GetCheckpointRequest(), call());
        var key = await keyCall;
        var entries = new SortedDictionary<long, Entry>();
        await CollectAsync("model_version", modelVersion);
        if (runId.Length > 0)
        {
            await CollectAsync("run_id", runId);
        }

        IReadOnlyList<ProvenEntry> listed = [.. entries.Values.Select(entry => new ProvenEntry(
            entry.Index, entry.EventId, entry.EventType, entry.Actor, Names.At(entry.OccurredAt), entry.Data.ToByteArray(), []))];
        return new LedgerProofs(checkpoint.Origin, key.VerifierKey_, checkpoint.Note, checkpoint.TreeSize,
            prove ? await ProveEachAsync(listed, checkpoint.TreeSize, call, cancellationToken) : listed);

        async Task CollectAsync(string kind, string value)
        {
            var request = new ListEntriesBySubjectRequest { Kind = kind, Value = value, PageSize = 1000 };
            do
            {
                var page = await ledger.ListEntriesBySubjectAsync(request, call());
                // Entries sequenced after the checkpoint cannot be proven against it; the next dossier holds them.
                foreach (var entry in page.Entries.Where(e => e.Index >= 0 && e.Index < checkpoint.TreeSize))
                {
                    entries[entry.Index] = entry;
                }

                if (entries.Count > MaxLedgerEntries)
                {
                    throw new RpcException(new Status(StatusCode.ResourceExhausted,
                        $"The version has more than {MaxLedgerEntries} ledger entries; export the ledger with 'modelops ledger export' instead."));
                }

                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0);
        }
    }

    // One proof per entry, several at a time (the ledger reads each proof's nodes from PostgreSQL).
    private async Task<IReadOnlyList<ProvenEntry>> ProveEachAsync(IReadOnlyList<ProvenEntry> entries, long treeSize, Func<CallOptions> call, CancellationToken cancellationToken)
    {
        var proven = new ProvenEntry[entries.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, entries.Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (i, _) =>
            {
                var proof = await ledger.GetInclusionProofAsync(new GetInclusionProofRequest { Index = entries[i].Index, TreeSize = treeSize }, call());
                proven[i] = entries[i] with { InclusionProof = [.. proof.Hashes.Select(h => h.ToByteArray())] };
            });
        return proven;
    }

    // The provenance record's fields as text, by their JSON names: strings as they are, anything else as JSON.
    private static IReadOnlyDictionary<string, string> Flatten(Provenance? provenance)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (provenance is null)
        {
            return map;
        }

        using var document = JsonDocument.Parse(JsonFormatter.Default.Format(provenance));
        foreach (var property in document.RootElement.EnumerateObject())
        {
            map[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
        }

        return map;
    }
}

/// <summary>How the dossier and the console name the registry's enums and times.</summary>
public static class Names
{
    /// <summary>"Production", "Staging", ...</summary>
    public static string Of(Stage stage) => stage switch
    {
        Stage.None => "None",
        Stage.Staging => "Staging",
        Stage.Production => "Production",
        Stage.Archived => "Archived",
        _ => "",
    };

    /// <summary>"low", "medium", "high".</summary>
    public static string Of(RiskTier tier) => tier switch
    {
        RiskTier.Low => "low",
        RiskTier.Medium => "medium",
        RiskTier.High => "high",
        _ => "",
    };

    /// <summary>"STABLE", "WARNING", "DRIFT".</summary>
    public static string Of(Drift.V1.DetectorState state) => state == Drift.V1.DetectorState.Unspecified ? "" : state.ToString().ToUpperInvariant();

    /// <summary>"OPEN", "APPROVED", ...</summary>
    public static string Of(RequestState state) => state == RequestState.Unspecified ? "" : state.ToString().ToUpperInvariant();

    /// <summary>"PASS", "FAIL", "PENDING".</summary>
    public static string Of(GateStatus status) => status == GateStatus.Unspecified ? "" : status.ToString().ToUpperInvariant();

    /// <summary>A stage's name, or an alias as <c>@name</c>.</summary>
    public static string Of(Target? target) => target?.KindCase switch
    {
        Target.KindOneofCase.Stage => Of(target.Stage),
        Target.KindOneofCase.Alias => $"@{target.Alias}",
        _ => "",
    };

    /// <summary>A protobuf time, or null when unset.</summary>
    public static DateTimeOffset? At(Timestamp? timestamp) => timestamp is null ? null : timestamp.ToDateTimeOffset();
}

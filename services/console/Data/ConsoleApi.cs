using Grpc.Core;
using Microsoft.Extensions.Options;
using ModelOps.Console.Identity;
using ModelOps.Dossier;
using ModelOps.Ledger.V1;
using ModelOps.Ledger.Verification;
using ModelOps.Registry.V1;
using ModelOps.Tracking.V1;

namespace ModelOps.Console.Data;

/// <summary>A watched version as the monitoring page shows it; null where nothing has been judged yet.</summary>
public sealed record WatchedVersion(
    string Model, int Version, DateTimeOffset? WatchedSince, double? DriftShare, bool Drifting, IReadOnlyList<string> Detectors,
    bool? Biased, bool? AttributionDrifted, int OpenAlerts);

/// <summary>What the console's pages read and do, each call made as the signed-in person.</summary>
public sealed class ConsoleApi(
    RegistryService.RegistryServiceClient registry,
    TrackingService.TrackingServiceClient tracking,
    LedgerService.LedgerServiceClient ledger,
    DossierBuilder dossiers,
    MonitoringClients monitoring,
    Person person,
    IOptions<ConsoleOptions> options)
{
    /// <summary>A chart shows at most this many points of one metric (tracking downsamples the rest).</summary>
    public const int ChartPoints = 400;

    /// <summary>How often an open page looks for changes.</summary>
    public TimeSpan Refresh => TimeSpan.FromSeconds(Math.Max(0.5, options.Value.RefreshSeconds));

    /// <summary>The signed-in person.</summary>
    public Person Person => person;

    /// <summary>One page of models whose name contains <paramref name="search"/>.</summary>
    public async Task<ListRegisteredModelsResponse> ListModelsAsync(string search, string pageToken, int pageSize, CancellationToken cancellationToken) =>
        await registry.ListRegisteredModelsAsync(
            new ListRegisteredModelsRequest { NameContains = search, PageToken = pageToken, PageSize = pageSize }, await CallAsync(cancellationToken));

    /// <summary>A model.</summary>
    public async Task<RegisteredModel> GetModelAsync(string name, CancellationToken cancellationToken) =>
        await registry.GetRegisteredModelAsync(new GetRegisteredModelRequest { Name = name }, await CallAsync(cancellationToken));

    /// <summary>Every version of a model, newest first.</summary>
    public async Task<IReadOnlyList<ModelVersion>> ListVersionsAsync(string model, CancellationToken cancellationToken)
    {
        var list = new List<ModelVersion>();
        var request = new ListModelVersionsRequest { Model = model, PageSize = 500 };
        do
        {
            var page = await registry.ListModelVersionsAsync(request, await CallAsync(cancellationToken));
            list.AddRange(page.Versions);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        return [.. list.OrderByDescending(v => v.Version)];
    }

    /// <summary>What held each stage and alias of a model, and when.</summary>
    public async Task<IReadOnlyList<Assignment>> HistoryAsync(string model, CancellationToken cancellationToken) =>
        (await registry.ListHistoryAsync(new ListHistoryRequest { Model = model, PageSize = 500 }, await CallAsync(cancellationToken))).Assignments;

    /// <summary>What held a model's stages and aliases at <paramref name="at"/>.</summary>
    public async Task<IReadOnlyList<Assignment>> AssignmentsAtAsync(string model, DateTimeOffset at, CancellationToken cancellationToken) =>
        (await registry.GetAssignmentsAtAsync(
            new GetAssignmentsAtRequest { Model = model, At = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(at) },
            await CallAsync(cancellationToken))).Assignments;

    /// <summary>A version.</summary>
    public async Task<ModelVersion> GetVersionAsync(string model, int version, CancellationToken cancellationToken) =>
        await registry.GetModelVersionAsync(new GetModelVersionRequest { Model = model, Version = version }, await CallAsync(cancellationToken));

    /// <summary>A run.</summary>
    public async Task<Run> GetRunAsync(string runId, CancellationToken cancellationToken) =>
        await tracking.GetRunAsync(new GetRunRequest { RunId = runId }, await CallAsync(cancellationToken));

    /// <summary>One metric's history, downsampled by tracking to at most <see cref="ChartPoints"/> points.</summary>
    public async Task<GetMetricHistoryResponse> MetricHistoryAsync(string runId, string key, CancellationToken cancellationToken) =>
        await tracking.GetMetricHistoryAsync(
            new GetMetricHistoryRequest { RunId = runId, MetricKey = key, MaxPoints = ChartPoints }, await CallAsync(cancellationToken));

    /// <summary>Promotion requests, of one model or all, in one state or all.</summary>
    public async Task<IReadOnlyList<PromotionRequest>> ListRequestsAsync(string? model, RequestState state, CancellationToken cancellationToken)
    {
        var list = new List<PromotionRequest>();
        var request = new ListPromotionRequestsRequest { Model = model ?? "", State = state, PageSize = 500 };
        do
        {
            var page = await registry.ListPromotionRequestsAsync(request, await CallAsync(cancellationToken));
            list.AddRange(page.Requests);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0 && list.Count < 5000);

        return list;
    }

    /// <summary>
    /// Decides a request as the person: <paramref name="action"/> is "approve", "reject" or "reevaluate" (its gates
    /// evaluated again, with <paramref name="comment"/> as the reason).
    /// </summary>
    public async Task<PromotionRequest> DecideAsync(string requestId, string action, string comment, CancellationToken cancellationToken)
    {
        var call = await CallAsync(cancellationToken);
        return action switch
        {
            "approve" => await registry.ApprovePromotionAsync(new ReviewPromotionRequest { RequestId = requestId, Comment = comment }, call),
            "reject" => await registry.RejectPromotionAsync(new ReviewPromotionRequest { RequestId = requestId, Comment = comment }, call),
            "reevaluate" => await registry.ReevaluatePromotionAsync(new ReevaluatePromotionRequest { RequestId = requestId, Reason = comment }, call),
            _ => throw new ArgumentOutOfRangeException(nameof(action), action, "approve, reject or reevaluate"),
        };
    }

    /// <summary>The latest signed checkpoint.</summary>
    public async Task<ModelOps.Ledger.V1.Checkpoint> CheckpointAsync(CancellationToken cancellationToken) =>
        await ledger.GetCheckpointAsync(new GetCheckpointRequest(), await CallAsync(cancellationToken));

    /// <summary>The verifier key the console trusts, and whether it was pinned by configuration (rather than named by the ledger).</summary>
    public async Task<(string Key, bool Pinned)> VerifierKeyAsync(CancellationToken cancellationToken) =>
        options.Value.LedgerVerifierKey is { Length: > 0 } pinned
            ? (pinned, true)
            : ((await ledger.GetVerifierKeyAsync(new GetVerifierKeyRequest(), await CallAsync(cancellationToken))).VerifierKey_, false);

    /// <summary>Entries about one subject (the first 1000).</summary>
    public async Task<IReadOnlyList<Entry>> EntriesAboutAsync(string kind, string value, CancellationToken cancellationToken) =>
        (await ledger.ListEntriesBySubjectAsync(
            new ListEntriesBySubjectRequest { Kind = kind, Value = value, PageSize = 1000 }, await CallAsync(cancellationToken))).Entries;

    /// <summary>
    /// Checks, in the console's server, that the latest checkpoint is signed by the trusted key and extends
    /// <paramref name="seenNote"/> (the checkpoint this browser saw last), with the consistency proof shown.
    /// </summary>
    public async Task<LedgerCheck> CheckLedgerAsync(string? seenNote, CancellationToken cancellationToken)
    {
        var (key, pinned) = await VerifierKeyAsync(cancellationToken);
        var latest = await CheckpointAsync(cancellationToken);
        IReadOnlyList<byte[]> proof = [];
        ModelOps.Ledger.Verification.Checkpoint? seen = null;
        if (!string.IsNullOrWhiteSpace(seenNote))
        {
            try
            {
                seen = ModelOps.Ledger.Verification.Checkpoint.Open(seenNote, new NoteVerifier(key));
            }
            catch (Exception exception) when (exception is NoteException or FormatException or ArgumentException)
            {
                return LedgerChecks.Fail(latest, key, pinned, $"The checkpoint this browser saw does not verify: {exception.Message}");
            }

            if (seen.Size > 0 && seen.Size < latest.TreeSize)
            {
                proof = (await ledger.GetConsistencyProofAsync(
                    new GetConsistencyProofRequest { OldSize = seen.Size, NewSize = latest.TreeSize }, await CallAsync(cancellationToken))).Hashes
                    .Select(h => h.ToByteArray()).ToList();
            }
        }

        return LedgerChecks.Check(latest.Note, latest.TreeSize, key, pinned, seen, proof);
    }

    /// <summary>Everything about a version, its ledger entries listed but not yet proven (see <see cref="ProveAsync"/>).</summary>
    public async Task<AuditDossier> VersionAsync(string model, int version, CancellationToken cancellationToken) =>
        await dossiers.BuildAsync(model, version, await person.SubjectAsync(), await person.HeadersAsync(), cancellationToken, proofs: false);

    /// <summary>What the model decided for a request, and why: each logged decision of the request id, explained by the version that made it.</summary>
    public async Task<IReadOnlyList<DecisionFacts>> ExplainDecisionAsync(string model, string requestId, CancellationToken cancellationToken) =>
        [.. (await monitoring.Explainability.ExplainDecisionAsync(
            new ModelOps.Explainability.V1.ExplainDecisionRequest { Model = model, RequestId = requestId }, await CallAsync(cancellationToken))).Decisions
            .Select(DossierDecisions.Of)];

    /// <summary>Fetches each entry's inclusion proof and checks them all against the checkpoint, with the key the console trusts.</summary>
    public async Task<DossierCheck> ProveAsync(LedgerProofs entries, CancellationToken cancellationToken)
    {
        var (key, _) = await VerifierKeyAsync(cancellationToken);
        return DossierVerification.Verify(await dossiers.ProveAsync(entries, await person.HeadersAsync(), cancellationToken), new NoteVerifier(key));
    }

    /// <summary>
    /// Every watched version at a glance: its latest window's drift share, its concept-drift detectors, whether its
    /// latest fairness window crossed the policy's limits and its latest attribution window drifted, and its open alerts.
    /// </summary>
    public async Task<IReadOnlyList<WatchedVersion>> WatchedAsync(CancellationToken cancellationToken)
    {
        var statuses = new List<ModelOps.Drift.V1.ModelStatus>();
        var request = new ModelOps.Drift.V1.GetStatusRequest { PageSize = 500 };
        do
        {
            var page = await monitoring.Drift.GetStatusAsync(request, await CallAsync(cancellationToken));
            statuses.AddRange(page.Models.Where(m => m.Watched));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0 && statuses.Count < 1000);

        var alerts = new List<ModelOps.Alerting.V1.Alert>();
        var alertRequest = new ModelOps.Alerting.V1.ListAlertsRequest { ActiveOnly = false, PageSize = 1000 };
        do
        {
            var page = await monitoring.Alerting.ListAlertsAsync(alertRequest, await CallAsync(cancellationToken));
            alerts.AddRange(page.Alerts.Where(a => a.EndsAt is null || a.EndsAt.ToDateTimeOffset() > DateTimeOffset.UtcNow));
            alertRequest.PageToken = page.NextPageToken;
        }
        while (alertRequest.PageToken.Length > 0 && alerts.Count < 10_000);

        var rows = new List<WatchedVersion>(statuses.Count);
        foreach (var status in statuses)
        {
            var version = int.TryParse(status.Version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 0;
            var fairness = await monitoring.Fairness.ListWindowReportsAsync(
                new ModelOps.Fairness.V1.ListReportsRequest { Model = status.Model, Version = status.Version, PageSize = 1 }, await CallAsync(cancellationToken));
            var attribution = version > 0
                ? (await monitoring.Explainability.ListAttributionWindowsAsync(
                    new ModelOps.Explainability.V1.ListImportanceRequest { Model = status.Model, Version = version, PageSize = 1 }, await CallAsync(cancellationToken))).Windows
                : [];
            rows.Add(new WatchedVersion(
                status.Model, version, Names.At(status.WatchedSince), status.Latest?.DriftShare, status.Drifting,
                [.. status.Detectors.Select(d => $"{d.Detector}: {Names.Of(d.State)}")],
                fairness.Reports.FirstOrDefault()?.Window?.Biased,
                attribution.Count > 0 && attribution[0].Judged ? attribution[0].Drifted : null,
                alerts.Count(a => a.Labels.GetValueOrDefault("model") == status.Model && a.Labels.GetValueOrDefault("version") == status.Version)));
        }

        return rows;
    }

    private async Task<CallOptions> CallAsync(CancellationToken cancellationToken) =>
        new(await person.HeadersAsync(), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
}

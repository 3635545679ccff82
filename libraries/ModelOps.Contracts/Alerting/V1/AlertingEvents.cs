namespace ModelOps.Contracts.Alerting.V1;

// What alerting's events are about: the alert group, and the model and version when its labels name them.
internal static class AlertingSubjects
{
    public static IReadOnlyDictionary<string, string> Of(string groupKey, IReadOnlyDictionary<string, string> groupLabels)
    {
        var subjects = new Dictionary<string, string> { [SubjectKeys.AlertGroup] = groupKey };
        if (groupLabels.TryGetValue(FindingLabels.Model, out var model))
        {
            subjects[SubjectKeys.Model] = model;
            if (groupLabels.TryGetValue(FindingLabels.Version, out var version))
            {
                subjects[SubjectKeys.ModelVersion] = $"{model}/{version}";
            }
        }

        return subjects;
    }
}

/// <summary>A new version of the alerting configuration (routes, receivers, inhibition rules) took effect.</summary>
public sealed record AlertingConfigChanged : IntegrationEvent
{
    /// <summary>The version's number.</summary>
    public required int Version { get; init; }

    /// <summary>SHA-256 of its YAML, hex. Secrets are part of the YAML: the text itself is not in the event.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Why.</summary>
    public required string Comment { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { [SubjectKeys.AlertGroup] = "config" };
}

/// <summary>A silence was created, or ended early.</summary>
public sealed record SilenceChanged : IntegrationEvent
{
    /// <summary>The silence.</summary>
    public required Guid SilenceId { get; init; }

    /// <summary>Its matchers, as Alertmanager writes them.</summary>
    public required string Matchers { get; init; }

    /// <summary>When it starts.</summary>
    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>When it ends (for an expired one, when it was expired).</summary>
    public required DateTimeOffset EndsAt { get; init; }

    /// <summary>Its creator, as they gave it.</summary>
    public required string CreatedBy { get; init; }

    /// <summary>Why.</summary>
    public required string Comment { get; init; }

    /// <summary><c>created</c> or <c>expired</c>.</summary>
    public required string Change { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { [SubjectKeys.AlertGroup] = $"silence/{SilenceId}" };
}

/// <summary>
/// A receiver was told about an alert group, or could not be told after every retry: who was told what, when, and
/// whether it worked.
/// </summary>
public sealed record NotificationDelivered : IntegrationEvent
{
    /// <summary>The group's key (Alertmanager's).</summary>
    public required string GroupKey { get; init; }

    /// <summary>The labels that key the group.</summary>
    public required IReadOnlyDictionary<string, string> GroupLabels { get; init; }

    /// <summary>The receiver.</summary>
    public required string Receiver { get; init; }

    /// <summary>Which of its integrations: <c>webhook/0</c>, ...</summary>
    public required string Integration { get; init; }

    /// <summary><c>firing</c> or <c>resolved</c>.</summary>
    public required string Status { get; init; }

    /// <summary>Fingerprints of the alerts it carried.</summary>
    public required IReadOnlyList<string> Alerts { get; init; }

    /// <summary><c>sent</c>, or <c>dead</c> when it was given up.</summary>
    public required string Outcome { get; init; }

    /// <summary>How many attempts it took.</summary>
    public required int Attempts { get; init; }

    /// <summary>Why it was given up; empty when sent.</summary>
    public required string Reason { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => AlertingSubjects.Of(GroupKey, GroupLabels);
}

/// <summary>
/// A retraining policy was met by a finding: the pipeline is asked (through the policy's receiver) to retrain the
/// model. Its run names this request in its provenance (<c>correlation_ids.retrain_request_id</c>); the version it
/// produces goes through the registry's gates and approvals like any other.
/// </summary>
public sealed record RetrainRequested : IntegrationEvent
{
    /// <summary>The request; the run names it.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The policy that was met.</summary>
    public required string Policy { get; init; }

    /// <summary>The model to retrain.</summary>
    public required string Model { get; init; }

    /// <summary>The version the finding was about, when it named one.</summary>
    public string? Version { get; init; }

    /// <summary>The finding that met the policy.</summary>
    public required Guid FindingEventId { get; init; }

    /// <summary>The finding's alert labels.</summary>
    public required IReadOnlyDictionary<string, string> FindingLabels { get; init; }

    /// <summary>The finding's figures and text.</summary>
    public required IReadOnlyDictionary<string, string> FindingAnnotations { get; init; }

    /// <summary>Not before this instant (the policy's business hours).</summary>
    public required DateTimeOffset NotBefore { get; init; }

    /// <summary>How the pipeline links its run to this request.</summary>
    public string RunLink => $"set provenance correlation_ids.retrain_request_id = {RequestId} on the retraining run";

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RetrainSubjects.Of(RequestId, Model, Version, null);
}

/// <summary>
/// A retraining request ended: the run that names it finished (<c>completed</c>) or failed (<c>failed</c>), or no run
/// finished it within the policy's timeout (<c>expired</c>).
/// </summary>
public sealed record RetrainCompleted : IntegrationEvent
{
    /// <summary>The request.</summary>
    public required Guid RequestId { get; init; }

    /// <summary>The policy.</summary>
    public required string Policy { get; init; }

    /// <summary>The model.</summary>
    public required string Model { get; init; }

    /// <summary>The run that retrained it; null when it expired without one.</summary>
    public string? RunId { get; init; }

    /// <summary><c>completed</c>, <c>failed</c> or <c>expired</c>.</summary>
    public required string Outcome { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => RetrainSubjects.Of(RequestId, Model, null, RunId);
}

internal static class RetrainSubjects
{
    public static IReadOnlyDictionary<string, string> Of(Guid request, string model, string? version, string? runId)
    {
        var subjects = new Dictionary<string, string> { [SubjectKeys.RetrainRequest] = request.ToString(), [SubjectKeys.Model] = model };
        if (version is not null)
        {
            subjects[SubjectKeys.ModelVersion] = $"{model}/{version}";
        }

        if (runId is not null)
        {
            subjects[SubjectKeys.Run] = runId;
        }

        return subjects;
    }
}

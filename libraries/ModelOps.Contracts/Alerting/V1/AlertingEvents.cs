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

namespace ModelOps.Alerting.Domain;

/// <summary>
/// An alert as Alertmanager keeps it: identified by its labels, firing from <see cref="StartsAt"/> until
/// <see cref="EndsAt"/>. An alert sent without an end time ends <c>resolve_timeout</c> after it was last received
/// unless it is sent again (<see cref="Timeout"/>), which is how Prometheus keeps its alerts firing.
/// </summary>
public sealed record Alert
{
    /// <summary>The labels that identify it.</summary>
    public required LabelSet Labels { get; init; }

    /// <summary>Descriptive text: summary, description, links.</summary>
    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    /// <summary>When it began firing.</summary>
    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>When it stops (or stopped) firing.</summary>
    public required DateTimeOffset EndsAt { get; init; }

    /// <summary>A link to what generated it.</summary>
    public string? GeneratorUrl { get; init; }

    /// <summary>When it was last received.</summary>
    public required DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Whether <see cref="EndsAt"/> was set by the resolve timeout rather than by the sender.</summary>
    public bool Timeout { get; init; }

    /// <summary>Its fingerprint (<see cref="LabelSet.Fingerprint"/>).</summary>
    public ulong Fingerprint => Labels.Fingerprint();

    /// <summary>Whether it had stopped firing at <paramref name="at"/> (Alertmanager: EndsAt not after it).</summary>
    public bool ResolvedAt(DateTimeOffset at) => EndsAt <= at;

    /// <summary>
    /// The alert as received at <paramref name="now"/>: a missing start becomes now (or the end, when only that is
    /// given), a missing end becomes now plus <paramref name="resolveTimeout"/> with <see cref="Timeout"/> set, as
    /// Alertmanager's <c>POST /api/v2/alerts</c> does.
    /// </summary>
    public static Alert Received(
        LabelSet labels, IReadOnlyDictionary<string, string> annotations, DateTimeOffset? startsAt, DateTimeOffset? endsAt,
        string? generatorUrl, DateTimeOffset now, TimeSpan resolveTimeout) => new()
        {
            Labels = labels,
            Annotations = annotations,
            StartsAt = startsAt ?? endsAt ?? now,
            EndsAt = endsAt ?? now + resolveTimeout,
            Timeout = endsAt is null,
            GeneratorUrl = generatorUrl,
            UpdatedAt = now,
        };

    /// <summary>
    /// What is stored when <paramref name="received"/> arrives while this alert is known (Alertmanager's
    /// <c>mem.Alerts.Put</c> and <c>types.Alert.Merge</c>): when their active ranges overlap they merge, the younger
    /// one's content winning, the earliest start kept, and an explicit end kept over a timeout; otherwise the
    /// received alert replaces this one (a new episode).
    /// </summary>
    public Alert Absorb(Alert received)
    {
        var overlaps = (received.EndsAt > StartsAt && received.EndsAt < EndsAt) ||
                       (received.StartsAt > StartsAt && received.StartsAt < EndsAt);
        return overlaps ? Merge(this, received) : received;
    }

    private static Alert Merge(Alert a, Alert o)
    {
        if (o.UpdatedAt < a.UpdatedAt)
        {
            (a, o) = (o, a);
        }

        var startsAt = a.StartsAt < o.StartsAt ? a.StartsAt : o.StartsAt;
        var endsAt = o.EndsAt;
        if (o.ResolvedAt(o.UpdatedAt))
        {
            // The latest explicit resolution wins when both are resolved.
            if (a.ResolvedAt(o.UpdatedAt) && a.EndsAt > o.EndsAt)
            {
                endsAt = a.EndsAt;
            }
        }
        else if (a.EndsAt > o.EndsAt && !a.Timeout)
        {
            // An end the sender set rules over a timeout when it is the later one.
            endsAt = a.EndsAt;
        }

        return o with { StartsAt = startsAt, EndsAt = endsAt };
    }

    /// <summary>What is wrong with it, as Alertmanager's <c>Alert.Validate</c> says, or null.</summary>
    public string? Problem()
    {
        if (Labels.Count == 0)
        {
            return "at least one label pair required";
        }

        if (Labels.Labels.Keys.FirstOrDefault(n => !Matcher.LabelName().IsMatch(n)) is { } badName)
        {
            return $"invalid label name \"{badName}\"";
        }

        if (Annotations.Keys.FirstOrDefault(n => !Matcher.LabelName().IsMatch(n)) is { } badAnnotation)
        {
            return $"invalid annotation name \"{badAnnotation}\"";
        }

        return EndsAt < StartsAt ? "start time must be before end time" : null;
    }
}

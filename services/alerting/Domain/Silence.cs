namespace ModelOps.Alerting.Domain;

/// <summary>A silence's state at an instant, as Alertmanager names it.</summary>
public enum SilenceState
{
    /// <summary>Not started yet.</summary>
    Pending,

    /// <summary>Muting matching alerts.</summary>
    Active,

    /// <summary>Ended.</summary>
    Expired,
}

/// <summary>A silence: alerts matching every matcher are not notified between its start and end.</summary>
public sealed record Silence
{
    /// <summary>The longest comment accepted, in characters.</summary>
    public const int MaxCommentLength = 4096;

    /// <summary>The most matchers a silence may have.</summary>
    public const int MaxMatchers = 64;

    /// <summary>Its id.</summary>
    public required Guid Id { get; init; }

    /// <summary>What it mutes.</summary>
    public required Matchers Matchers { get; init; }

    /// <summary>When it starts muting.</summary>
    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>When it stops.</summary>
    public required DateTimeOffset EndsAt { get; init; }

    /// <summary>Who created it.</summary>
    public required string CreatedBy { get; init; }

    /// <summary>Why.</summary>
    public required string Comment { get; init; }

    /// <summary>When it was last changed.</summary>
    public required DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Its state at <paramref name="at"/>.</summary>
    public SilenceState StateAt(DateTimeOffset at) =>
        EndsAt <= at ? SilenceState.Expired : StartsAt > at ? SilenceState.Pending : SilenceState.Active;

    /// <summary>Whether it mutes <paramref name="labels"/> at <paramref name="at"/>.</summary>
    public bool Mutes(LabelSet labels, DateTimeOffset at) => StateAt(at) == SilenceState.Active && Matchers.Matches(labels);

    /// <summary>
    /// What is wrong with a new silence at <paramref name="now"/>, or null. As Alertmanager: at least one matcher,
    /// and one that does not match the empty string (else it would mute every alert); an end after the start and
    /// not in the past.
    /// </summary>
    public string? Problem(DateTimeOffset now)
    {
        if (Matchers.Items.Count == 0)
        {
            return "at least one matcher required";
        }

        if (Matchers.Items.Count > MaxMatchers)
        {
            return $"at most {MaxMatchers} matchers";
        }

        if (Matchers.Items.All(m => m.Matches(LabelSet.Empty)))
        {
            return "at least one matcher must not match the empty string";
        }

        if (EndsAt <= now)
        {
            return "the silence has already expired: its end time is in the past";
        }

        if (EndsAt < StartsAt)
        {
            return "end time must not be before start time";
        }

        if (string.IsNullOrWhiteSpace(CreatedBy))
        {
            return "createdBy is required";
        }

        if (string.IsNullOrWhiteSpace(Comment) || Comment.Length > MaxCommentLength)
        {
            return $"a comment of 1 to {MaxCommentLength} characters is required";
        }

        return null;
    }
}

/// <summary>
/// Alertmanager's inhibition (<c>inhibit.Inhibitor.Mutes</c>): an alert matching a rule's target matchers is muted
/// while a firing alert matches the rule's source matchers and has the same values of the rule's <c>equal</c> labels
/// (absent counting as empty). When the muted candidate matches the source matchers too, only sources that do not
/// also match the target matchers count, so that alerts matching both sides cannot mute each other.
/// </summary>
public sealed class Inhibitor(IReadOnlyList<InhibitRule> rules, IReadOnlyList<Alert> alerts, DateTimeOffset now)
{
    private readonly IReadOnlyList<(InhibitRule Rule, List<Alert> Sources)> _rules =
        [.. rules.Select(r => (r, alerts.Where(a => !a.ResolvedAt(now) && r.Source.Matches(a.Labels)).ToList()))];

    /// <summary>Whether <paramref name="labels"/> is muted.</summary>
    public bool Mutes(LabelSet labels) => InhibitedBy(labels) is not null;

    /// <summary>The fingerprint of a firing alert that mutes <paramref name="labels"/>, or null.</summary>
    public ulong? InhibitedBy(LabelSet labels)
    {
        foreach (var (rule, sources) in _rules)
        {
            if (!rule.Target.Matches(labels))
            {
                continue;
            }

            var excludeTwoSided = rule.Source.Matches(labels);
            var source = sources.FirstOrDefault(s => rule.Equal.All(n => s.Labels[n] == labels[n]) && !(excludeTwoSided && rule.Target.Matches(s.Labels)));
            if (source is not null)
            {
                return source.Fingerprint;
            }
        }

        return null;
    }
}

/// <summary>What mutes alerts at one instant: the active silences and the inhibition rules with their firing sources.</summary>
public sealed class Muting(IReadOnlyList<Silence> silences, Inhibitor inhibitor, DateTimeOffset at)
{
    /// <summary>The silences that mute <paramref name="labels"/>.</summary>
    public IEnumerable<Silence> SilencedBy(LabelSet labels) => silences.Where(s => s.Mutes(labels, at));

    /// <summary>The fingerprint of a firing alert that inhibits <paramref name="labels"/>, or null.</summary>
    public ulong? InhibitedBy(LabelSet labels) => inhibitor.InhibitedBy(labels);

    /// <summary>Whether <paramref name="labels"/> is silenced or inhibited.</summary>
    public bool Mutes(LabelSet labels) => SilencedBy(labels).Any() || InhibitedBy(labels) is not null;
}

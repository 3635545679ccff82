namespace ModelOps.Alerting.Domain;

/// <summary>
/// A node of the routing tree with its options inherited from its parent, as Alertmanager's dispatcher builds it
/// (<c>dispatch.NewRoute</c>): receiver, grouping and timers come from the nearest ancestor that sets them, with
/// Alertmanager's defaults at the root (group_wait 30 s, group_interval 5 m, repeat_interval 4 h, no grouping).
/// </summary>
public sealed class Route
{
    /// <summary>Alertmanager's defaults.</summary>
    public static readonly TimeSpan DefaultGroupWait = TimeSpan.FromSeconds(30);

    /// <inheritdoc cref="DefaultGroupWait"/>
    public static readonly TimeSpan DefaultGroupInterval = TimeSpan.FromMinutes(5);

    /// <inheritdoc cref="DefaultGroupWait"/>
    public static readonly TimeSpan DefaultRepeatInterval = TimeSpan.FromHours(4);

    private Route(RouteConfig config, Route? parent)
    {
        Parent = parent;
        Receiver = config.Receiver ?? parent?.Receiver ?? "";
        if (config.GroupBy is { } groupBy)
        {
            GroupByAll = groupBy.Contains("...");
            GroupBy = GroupByAll ? [] : [.. groupBy];
        }
        else
        {
            GroupByAll = parent?.GroupByAll ?? false;
            GroupBy = parent?.GroupBy ?? [];
        }

        GroupWait = config.GroupWait ?? parent?.GroupWait ?? DefaultGroupWait;
        GroupInterval = config.GroupInterval ?? parent?.GroupInterval ?? DefaultGroupInterval;
        RepeatInterval = config.RepeatInterval ?? parent?.RepeatInterval ?? DefaultRepeatInterval;
        Matchers = new Matchers(config.Matchers);
        Continue = config.Continue;
        Routes = [.. config.Routes.Select(c => new Route(c, this))];
    }

    /// <summary>The tree of <paramref name="root"/>.</summary>
    public static Route Build(RouteConfig root) => new(root, null);

    /// <summary>Its parent; null at the root.</summary>
    public Route? Parent { get; }

    /// <summary>The receiver its alerts go to.</summary>
    public string Receiver { get; }

    /// <summary>The labels its groups are keyed by.</summary>
    public IReadOnlyList<string> GroupBy { get; }

    /// <summary>Whether its groups are keyed by every label (<c>group_by: ['...']</c>).</summary>
    public bool GroupByAll { get; }

    /// <summary>How long a new group waits for more alerts before its first notification.</summary>
    public TimeSpan GroupWait { get; }

    /// <summary>How long a group waits before notifying about alerts added to it.</summary>
    public TimeSpan GroupInterval { get; }

    /// <summary>How long before an unchanged notification is sent again.</summary>
    public TimeSpan RepeatInterval { get; }

    /// <summary>What an alert must satisfy to enter this node.</summary>
    public Matchers Matchers { get; }

    /// <summary>Whether later siblings are tried after this one matched.</summary>
    public bool Continue { get; }

    /// <summary>Its children.</summary>
    public IReadOnlyList<Route> Routes { get; }

    /// <summary>
    /// The nodes <paramref name="labels"/> is routed to (<c>Route.Match</c>): depth first, left to right, a matching
    /// child stopping its siblings unless it continues; a node none of whose children match is itself the match.
    /// </summary>
    public IReadOnlyList<Route> Match(LabelSet labels)
    {
        if (!Matchers.Matches(labels))
        {
            return [];
        }

        List<Route> all = [];
        foreach (var child in Routes)
        {
            var matches = child.Match(labels);
            all.AddRange(matches);
            if (matches.Count > 0 && !child.Continue)
            {
                break;
            }
        }

        if (all.Count == 0)
        {
            all.Add(this);
        }

        return all;
    }

    // The tree never changes once built: its keys, asked for with every alert routed, are computed once.
    private string? _key;
    private string? _id;

    /// <summary>Alertmanager's route key: the matchers of each node from the root, joined by <c>/</c>.</summary>
    public string Key() => _key ??= Parent is null ? Matchers.ToString() : $"{Parent.Key()}/{Matchers}";

    /// <summary>
    /// A key unique within the tree: <see cref="Key"/> and the node's position among its siblings, as Alertmanager's
    /// <c>Route.ID</c>. Two siblings with equal matchers would otherwise share their groups.
    /// </summary>
    public string Id() => _id ??= Parent is null ? Key() : $"{Key()}/{Parent.Routes.ToList().IndexOf(this)}";

    /// <summary>
    /// The labels that key an alert's group on this route: those of <see cref="GroupBy"/> that it has, or all of them.
    /// </summary>
    public LabelSet GroupLabels(LabelSet labels) => GroupByAll ? labels : labels.Only(GroupBy);

    /// <summary>The groups <paramref name="labels"/> joins: one per route it matches, in routing order.</summary>
    public IReadOnlyList<GroupRef> GroupsOf(LabelSet labels) =>
        [.. Match(labels).Select(route => new GroupRef(route, route.GroupLabels(labels)))];

    /// <summary>Every node, depth first.</summary>
    public IEnumerable<Route> Walk()
    {
        yield return this;
        foreach (var node in Routes.SelectMany(r => r.Walk()))
        {
            yield return node;
        }
    }
}

/// <summary>An aggregation group: the alerts of one route that share the route's group labels.</summary>
/// <param name="Route">The route.</param>
/// <param name="Labels">The group labels.</param>
public sealed record GroupRef(Route Route, LabelSet Labels)
{
    /// <summary>Alertmanager's group key, sent to receivers (<c>route key:labels</c>).</summary>
    public string Key => $"{Route.Key()}:{Labels}";

    /// <summary>
    /// The group's identity in the store: <see cref="Key"/> with the route's position, so that sibling routes with
    /// the same matchers keep their groups (and their notification logs) apart.
    /// </summary>
    public string Id => $"{Route.Id()}:{Labels}";
}

namespace ModelOps.Fairness.Analysis;

/// <summary>Which way a disparity is judged.</summary>
public enum Direction
{
    /// <summary>A ratio: 1 is parity, a gate sets a minimum (the four-fifths rule: 0.8).</summary>
    Ratio,

    /// <summary>A difference: 0 is parity, a gate sets a maximum of its absolute value.</summary>
    Difference,
}

/// <summary>One disparity measure, as its anchor library defines it.</summary>
/// <param name="Name">Its name in reports and gates (<c>fairness.&lt;name&gt;</c>).</param>
/// <param name="Anchor">The library whose definition it follows.</param>
/// <param name="Formula">The definition, over the judged groups G (and the privileged group p for AIF360's).</param>
/// <param name="Direction">How it is judged.</param>
public sealed record DisparityDefinition(string Name, string Anchor, string Formula, Direction Direction);

/// <summary>A disparity's value on one grouping, with the groups that determine it; undefined (null) with a reason.</summary>
/// <param name="Value">The figure, or null when undefined.</param>
/// <param name="Groups">The groups it compares (lowest and highest, or unprivileged and privileged).</param>
/// <param name="Undefined">Why it is undefined, when it is.</param>
public readonly record struct DisparityValue(double? Value, int[] Groups, string? Undefined)
{
    /// <summary>An undefined value.</summary>
    public static DisparityValue None(string reason) => new(null, [], reason);
}

/// <summary>
/// The disparities between the groups of one grouping. Only judged groups count (at least the minimum size); a rate
/// undefined for a group (its TPR without positives) leaves that group out of that rate's comparison, and a disparity
/// with fewer than two groups to compare is undefined.
/// <para>
/// Fairlearn's (<c>fairlearn.metrics</c>, method "between_groups", agg "worst_case"): differences are max − min over
/// the groups, ratios min / max. AIF360's (<c>ClassificationMetric</c>) compare each unprivileged group u with the
/// privileged group p, and report the group furthest from parity; when no privileged group is named, p is the group
/// with the highest selection rate, so disparate impact becomes min / max.
/// </para>
/// </summary>
public static class Disparities
{
    /// <summary>Every disparity a report holds, in report order.</summary>
    public static readonly IReadOnlyList<DisparityDefinition> All =
    [
        new("demographic_parity_difference", "fairlearn", "max_g SR(g) − min_g SR(g), SR(g) = P(ŷ=1 | g)", Direction.Difference),
        new("demographic_parity_ratio", "fairlearn", "min_g SR(g) / max_g SR(g)", Direction.Ratio),
        new("equalized_odds_difference", "fairlearn", "max(max_g TPR − min_g TPR, max_g FPR − min_g FPR)", Direction.Difference),
        new("equalized_odds_ratio", "fairlearn", "min(min_g TPR / max_g TPR, min_g FPR / max_g FPR)", Direction.Ratio),
        new("equal_opportunity_difference", "fairlearn", "max_g TPR(g) − min_g TPR(g)", Direction.Difference),
        new("equal_opportunity_ratio", "fairlearn", "min_g TPR(g) / max_g TPR(g)", Direction.Ratio),
        new("disparate_impact", "aif360", "min_u SR(u) / SR(p) (the four-fifths rule: ≥ 0.8)", Direction.Ratio),
        new("statistical_parity_difference", "aif360", "SR(u) − SR(p), u furthest from p", Direction.Difference),
        new("average_odds_difference", "aif360", "½[(FPR(u) − FPR(p)) + (TPR(u) − TPR(p))], u furthest from 0", Direction.Difference),
        new("predictive_parity_difference", "aif360", "PPV(u) − PPV(p), u furthest from p", Direction.Difference),
    ];

    /// <summary>The definition named <paramref name="name"/>, or null.</summary>
    public static DisparityDefinition? Find(string name) => All.FirstOrDefault(d => d.Name == name);

    /// <summary>
    /// The privileged group AIF360's measures compare with: <paramref name="named"/> when judged, else the judged group
    /// with the highest selection rate (the lowest index on a tie); null when no group is judged.
    /// </summary>
    public static int? Privileged(IReadOnlyList<Confusion> groups, IReadOnlyList<bool> judged, int? named)
    {
        if (named is { } index && judged[index])
        {
            return index;
        }

        int? best = null;
        for (var g = 0; g < groups.Count; g++)
        {
            if (judged[g] && groups[g].SelectionRate is { } rate && (best is null || rate > groups[best.Value].SelectionRate!.Value))
            {
                best = g;
            }
        }

        return best;
    }

    /// <summary>Every disparity of <see cref="All"/>, in order, into <paramref name="values"/>.</summary>
    public static void Compute(IReadOnlyList<Confusion> groups, IReadOnlyList<bool> judged, int? privileged, Span<DisparityValue> values)
    {
        var sr = Spread(groups, judged, static c => c.SelectionRate);
        var tpr = Spread(groups, judged, static c => c.Tpr);
        var fpr = Spread(groups, judged, static c => c.Fpr);
        values[0] = sr.Difference();
        values[1] = sr.Ratio();
        values[2] = Worst(tpr.Difference(), fpr.Difference(), larger: true);
        values[3] = Worst(tpr.Ratio(), fpr.Ratio(), larger: false);
        values[4] = tpr.Difference();
        values[5] = tpr.Ratio();
        values[6] = DisparateImpact(groups, judged, privileged);
        values[7] = AgainstPrivileged(groups, judged, privileged, static c => c.SelectionRate, "selection rate");
        values[8] = AgainstPrivileged(groups, judged, privileged,
            static c => c.Tpr is { } t && c.Fpr is { } f ? (double?)(t + f) / 2 : null, "TPR and FPR");
        values[9] = AgainstPrivileged(groups, judged, privileged, static c => c.Ppv, "precision (no predicted positives)");
    }

    private static DisparityValue Worst(DisparityValue first, DisparityValue second, bool larger)
    {
        if (first.Value is not { } a)
        {
            return second;
        }

        if (second.Value is not { } b)
        {
            return first;
        }

        return (larger ? b > a : b < a) ? second : first;
    }

    private static DisparityValue DisparateImpact(IReadOnlyList<Confusion> groups, IReadOnlyList<bool> judged, int? privileged)
    {
        if (privileged is not { } p || groups[p].SelectionRate is not { } reference)
        {
            return DisparityValue.None("no judged group");
        }

        if (reference == 0)
        {
            return DisparityValue.None("the privileged group's selection rate is 0");
        }

        int? worst = null;
        var lowest = double.PositiveInfinity;
        for (var g = 0; g < groups.Count; g++)
        {
            if (g != p && judged[g] && groups[g].SelectionRate is { } rate && rate / reference < lowest)
            {
                (worst, lowest) = (g, rate / reference);
            }
        }

        return worst is { } u ? new DisparityValue(lowest, [u, p], null) : DisparityValue.None("fewer than two judged groups");
    }

    private static DisparityValue AgainstPrivileged(
        IReadOnlyList<Confusion> groups, IReadOnlyList<bool> judged, int? privileged, Func<Confusion, double?> measure, string what)
    {
        if (privileged is not { } p)
        {
            return DisparityValue.None("no judged group");
        }

        if (measure(groups[p]) is not { } reference)
        {
            return DisparityValue.None($"the privileged group's {what} is undefined");
        }

        int? worst = null;
        var furthest = 0.0;
        for (var g = 0; g < groups.Count; g++)
        {
            if (g != p && judged[g] && measure(groups[g]) is { } value && (worst is null || Math.Abs(value - reference) > Math.Abs(furthest)))
            {
                (worst, furthest) = (g, value - reference);
            }
        }

        return worst is { } u ? new DisparityValue(furthest, [u, p], null) : DisparityValue.None($"no other judged group has a defined {what}");
    }

    private static Extremes Spread(IReadOnlyList<Confusion> groups, IReadOnlyList<bool> judged, Func<Confusion, double?> measure)
    {
        var extremes = new Extremes(-1, -1, double.PositiveInfinity, double.NegativeInfinity, 0);
        for (var g = 0; g < groups.Count; g++)
        {
            if (!judged[g] || measure(groups[g]) is not { } value)
            {
                continue;
            }

            extremes = extremes with { Defined = extremes.Defined + 1 };
            if (value < extremes.Min)
            {
                extremes = extremes with { Low = g, Min = value };
            }

            if (value > extremes.Max)
            {
                extremes = extremes with { High = g, Max = value };
            }
        }

        return extremes;
    }

    private readonly record struct Extremes(int Low, int High, double Min, double Max, int Defined)
    {
        public DisparityValue Difference() => Defined < 2
            ? DisparityValue.None("fewer than two judged groups with the rate defined")
            : new DisparityValue(Max - Min, [Low, High], null);

        public DisparityValue Ratio() => Defined < 2
            ? DisparityValue.None("fewer than two judged groups with the rate defined")
            : Max == 0
                ? DisparityValue.None("the rate is 0 in every group")
                : new DisparityValue(Min / Max, [Low, High], null);
    }
}

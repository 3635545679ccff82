using Google.Protobuf.WellKnownTypes;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Contracts.Fairness.V1;
using ModelOps.Fairness.V1;

namespace ModelOps.Fairness.Analysis;

/// <summary>
/// The report of one window of production traffic from its counts per group (<see cref="WindowGroupsReported"/>), and
/// whether it crosses the limits of the model's fairness watch. Selection rates come from every record with a
/// prediction, so the demographic parity measures (demographic parity difference and ratio, disparate impact,
/// statistical parity difference) are judged on groups of at least the minimum size in records; the label-based ones
/// (equalized odds, equal opportunity, average odds, predictive parity) on groups with at least that many labels. AIF360's
/// measures compare with the group of the highest selection rate.
/// </summary>
public static class WindowAnalysis
{
    /// <summary>The default minimum demographic parity ratio and disparate impact: the four-fifths rule.</summary>
    public const double DefaultMinRatio = 0.8;

    /// <summary>The default maximum equalized odds difference.</summary>
    public const double DefaultMaxDifference = 0.1;

    /// <summary>The default minimum group size.</summary>
    public const int DefaultMinGroupSize = 30;

    // The disparities computed from selection counts; the others come from the labelled confusion counts.
    private static readonly HashSet<string> SelectionBased = ["demographic_parity_difference", "demographic_parity_ratio", "disparate_impact", "statistical_parity_difference"];

    /// <summary>The window's report (its id, model and version are the caller's) and the disparities beyond the limits, worst first.</summary>
    public static (FairnessReport Report, IReadOnlyList<BiasFigure> Violations) Analyze(WindowGroupsReported window)
    {
        var minRatio = window.MinRatio > 0 ? window.MinRatio : DefaultMinRatio;
        var maxDifference = window.MaxDifference > 0 ? window.MaxDifference : DefaultMaxDifference;
        var minGroupSize = window.MinGroupSize > 0 ? window.MinGroupSize : DefaultMinGroupSize;
        var columns = window.SensitiveColumns;
        var report = new FairnessReport
        {
            Model = window.Model, Version = window.Version,
            Settings = new Settings { MinGroupSize = minGroupSize },
            Window = new ProductionWindow
            {
                Start = Timestamp.FromDateTimeOffset(window.WindowStart), End = Timestamp.FromDateTimeOffset(window.WindowEnd),
                Records = window.Groups.Sum(g => g.Records), Labelled = window.Groups.Sum(g => g.TrueNegatives + g.FalsePositives + g.FalseNegatives + g.TruePositives),
                Watched = window.Watched, MinRatio = minRatio, MaxDifference = maxDifference, OmittedGroups = window.OmittedGroups,
            },
        };
        report.Rows = report.Window.Records;
        report.Overall = Metrics(FairnessAnalysis.Everyone, [], window.Groups, minGroupSize);
        report.Overall.TooSmall = false;
        var violations = new List<BiasFigure>();
        foreach (var subset in FairnessAnalysis.Subsets(columns.Count))
        {
            var names = subset.Select(c => columns[c]).ToArray();
            var grouping = new Grouping { Name = string.Join(" × ", names), Columns = { names } };
            // The groups in the order a dataset's report gives them: by their values, ordinally, the missing value last.
            var members = window.Groups
                .GroupBy(g => names.Select(n => g.Values.GetValueOrDefault(n)).ToArray(), FairnessAnalysis.KeyComparer.Instance)
                .OrderBy(g => g.Key, FairnessAnalysis.KeyComparer.Instance)
                .ToList();
            var selection = new List<Confusion>();
            var labelled = new List<Confusion>();
            foreach (var member in members)
            {
                var values = member.Key;
                var groupValues = names.Select((n, i) => new GroupValue { Column = n, Value = values[i] ?? "", Missing = values[i] is null });
                grouping.Groups.Add(Metrics(FairnessAnalysis.Label(names, values), [.. groupValues], [.. member], minGroupSize));
                selection.Add(new Confusion(member.Sum(g => g.Records - g.Selected), member.Sum(g => g.Selected), 0, 0));
                labelled.Add(new Confusion(member.Sum(g => g.TrueNegatives), member.Sum(g => g.FalsePositives), member.Sum(g => g.FalseNegatives), member.Sum(g => g.TruePositives)));
            }

            var bySelection = selection.Select(c => c.Count >= minGroupSize).ToArray();
            var byLabels = labelled.Select(c => c.Count >= minGroupSize).ToArray();
            var privileged = Disparities.Privileged(selection, bySelection, null);
            if (privileged is { } p)
            {
                grouping.Privileged = grouping.Groups[p].Label;
            }

            var fromSelection = new DisparityValue[Disparities.All.Count];
            var fromLabels = new DisparityValue[Disparities.All.Count];
            Disparities.Compute(selection, bySelection, privileged, fromSelection);
            Disparities.Compute(labelled, byLabels, privileged, fromLabels);
            for (var d = 0; d < Disparities.All.Count; d++)
            {
                var definition = Disparities.All[d];
                var computed = SelectionBased.Contains(definition.Name) ? fromSelection[d] : fromLabels[d];
                var disparity = new Disparity
                {
                    Name = definition.Name, Anchor = definition.Anchor, Formula = definition.Formula,
                    Kind = definition.Direction == Direction.Ratio ? "ratio" : "difference",
                    Groups = { computed.Groups.Select(g => grouping.Groups[g].Label) }, Undefined = computed.Undefined ?? "",
                };
                if (computed.Value is { } value)
                {
                    disparity.Value = value;
                    if (definition.Name is "demographic_parity_ratio" or "disparate_impact" && value < minRatio)
                    {
                        violations.Add(new BiasFigure(grouping.Name, definition.Name, value, minRatio, [.. disparity.Groups]));
                    }
                    else if (definition.Name == "equalized_odds_difference" && value > maxDifference)
                    {
                        violations.Add(new BiasFigure(grouping.Name, definition.Name, value, maxDifference, [.. disparity.Groups]));
                    }
                }

                grouping.Disparities.Add(disparity);
            }

            report.Groupings.Add(grouping);
        }

        report.Window.Biased = violations.Count > 0;
        // The worst first: the furthest beyond its limit, relative to it.
        return (report, [.. violations.OrderByDescending(v => v.Name == "equalized_odds_difference" ? v.Value / v.Limit : v.Limit / Math.Max(v.Value, 1e-12))]);
    }

    private static GroupMetrics Metrics(string label, IReadOnlyList<GroupValue> values, IReadOnlyList<GroupCounts> groups, int minGroupSize)
    {
        var labelled = new Confusion(groups.Sum(g => g.TrueNegatives), groups.Sum(g => g.FalsePositives), groups.Sum(g => g.FalseNegatives), groups.Sum(g => g.TruePositives));
        var metrics = new GroupMetrics { Label = label, Values = { values } };
        FairnessAnalysis.Fill(metrics, labelled);
        long records = groups.Sum(g => g.Records), selected = groups.Sum(g => g.Selected);
        metrics.Count = records;
        metrics.ClearSelectionRate();
        if (records > 0)
        {
            metrics.SelectionRate = (double)selected / records;
        }

        metrics.TooSmall = records < minGroupSize;
        return metrics;
    }
}

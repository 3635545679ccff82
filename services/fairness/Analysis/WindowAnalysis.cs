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
        if (window.CountWindow is { } number)
        {
            report.Window.CountWindow = number;
        }

        report.Rows = report.Window.Records;
        report.Overall = Metrics(FairnessAnalysis.Everyone, [], window.Groups, minGroupSize);
        report.Overall.TooSmall = false;
        var violations = new List<BiasFigure>();
        var plans = new List<Plan>();
        foreach (var subset in FairnessAnalysis.Subsets(columns.Count))
        {
            var names = subset.Select(c => columns[c]).ToArray();
            var grouping = new Grouping { Name = string.Join(" × ", names), Columns = { names } };
            // The groups in the order a dataset's report gives them: by their values, ordinally, the missing value last.
            var members = Enumerable.Range(0, window.Groups.Count)
                .GroupBy(i => names.Select(n => window.Groups[i].Values.GetValueOrDefault(n)).ToArray(), FairnessAnalysis.KeyComparer.Instance)
                .OrderBy(g => g.Key, FairnessAnalysis.KeyComparer.Instance)
                .ToList();
            var selection = new List<Confusion>();
            var labelled = new List<Confusion>();
            var map = new int[window.Groups.Count];
            foreach (var indices in members)
            {
                foreach (var i in indices)
                {
                    map[i] = selection.Count;
                }

                var member = indices.Select(i => window.Groups[i]).ToList();
                var values = indices.Key;
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
            plans.Add(new Plan(grouping, map, members.Count, bySelection, byLabels, privileged));
        }

        Bootstrap(window, plans, report.Window.Start.ToDateTimeOffset().ToUnixTimeMilliseconds());
        report.Settings.Resamples = Resamples;
        report.Settings.Confidence = Confidence;
        report.Window.Biased = violations.Count > 0;
        // The worst first: the furthest beyond its limit, relative to it.
        return (report, [.. violations.OrderByDescending(v => v.Name == "equalized_odds_difference" ? v.Value / v.Limit : v.Limit / Math.Max(v.Value, 1e-12))]);
    }

    /// <summary>Bootstrap resamples of a window's intervals.</summary>
    public const int Resamples = 200;

    /// <summary>The intervals' level.</summary>
    public const double Confidence = 0.95;

    // One grouping of the window: its report, which of its groups each reported group belongs to, and how it is judged.
    private sealed record Plan(Grouping Grouping, int[] Map, int Groups, bool[] BySelection, bool[] ByLabels, int? Privileged);

    /// <summary>
    /// Percentile intervals for every disparity, by the same multinomial bootstrap as a dataset's report: each record of
    /// the window falls in one cell of its group — unlabelled and predicted 0 or 1, or labelled TN, FP, FN or TP — and a
    /// resample draws the window's records over those cells. The seed is the window's start, so a report is reproducible.
    /// </summary>
    private static void Bootstrap(WindowGroupsReported window, List<Plan> plans, long seed)
    {
        const int cellsPerGroup = 6;
        var weights = new long[cellsPerGroup * window.Groups.Count];
        for (var i = 0; i < window.Groups.Count; i++)
        {
            var g = window.Groups[i];
            var at = cellsPerGroup * i;
            weights[at] = Math.Max(0, g.Records - g.Selected - g.TrueNegatives - g.FalseNegatives);
            weights[at + 1] = Math.Max(0, g.Selected - g.FalsePositives - g.TruePositives);
            (weights[at + 2], weights[at + 3], weights[at + 4], weights[at + 5]) = (g.TrueNegatives, g.FalsePositives, g.FalseNegatives, g.TruePositives);
        }

        var n = weights.Sum();
        var drawn = new long[weights.Length];
        var random = new Random(unchecked((int)(seed ^ (seed >> 32))));
        var samples = plans.Select(_ => Disparities.All.Select(_ => new List<double>(Resamples)).ToArray()).ToArray();
        var fromSelection = new DisparityValue[Disparities.All.Count];
        var fromLabels = new DisparityValue[Disparities.All.Count];
        for (var resample = 0; resample < Resamples && n > 0; resample++)
        {
            Binomial.Multinomial(random, n, weights, drawn);
            for (var p = 0; p < plans.Count; p++)
            {
                var plan = plans[p];
                var selection = new Confusion[plan.Groups];
                var labelled = new Confusion[plan.Groups];
                for (var i = 0; i < window.Groups.Count; i++)
                {
                    var c = drawn.AsSpan(cellsPerGroup * i, cellsPerGroup);
                    selection[plan.Map[i]] += new Confusion(c[0] + c[2] + c[4], c[1] + c[3] + c[5], 0, 0);
                    labelled[plan.Map[i]] += new Confusion(c[2], c[3], c[4], c[5]);
                }

                Disparities.Compute(selection, plan.BySelection, plan.Privileged, fromSelection);
                Disparities.Compute(labelled, plan.ByLabels, plan.Privileged, fromLabels);
                for (var d = 0; d < Disparities.All.Count; d++)
                {
                    if ((SelectionBased.Contains(Disparities.All[d].Name) ? fromSelection[d] : fromLabels[d]).Value is { } value)
                    {
                        samples[p][d].Add(value);
                    }
                }
            }
        }

        var tail = (1 - Confidence) / 2;
        for (var p = 0; p < plans.Count; p++)
        {
            for (var d = 0; d < Disparities.All.Count; d++)
            {
                var disparity = plans[p].Grouping.Disparities[d];
                var sample = samples[p][d];
                disparity.Resamples = sample.Count;
                if (sample.Count > 0 && disparity.HasValue)
                {
                    sample.Sort();
                    disparity.Lower = FairnessAnalysis.Percentile(sample, tail);
                    disparity.Upper = FairnessAnalysis.Percentile(sample, 1 - tail);
                }
            }
        }
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

using ModelOps.Fairness.V1;

namespace ModelOps.Fairness.Analysis;

/// <summary>The settings of one analysis, defaults filled in.</summary>
/// <param name="MinGroupSize">Groups smaller than this are never judged.</param>
/// <param name="Resamples">Bootstrap resamples.</param>
/// <param name="Seed">The bootstrap's seed.</param>
/// <param name="Confidence">The intervals' two-sided level.</param>
/// <param name="Privileged">Column → the privileged value.</param>
/// <param name="CalibrationBins">Equal-width score bins.</param>
public sealed record AnalysisSettings(
    int MinGroupSize, int Resamples, ulong Seed, double Confidence, IReadOnlyDictionary<string, string> Privileged, int CalibrationBins);

/// <summary>
/// A fairness report of a dataset: per-group metrics of every grouping of its sensitive columns and the disparities of
/// <see cref="Disparities"/>, with percentile bootstrap intervals.
/// <para>
/// The bootstrap resamples the rows with replacement, as a row bootstrap does, but draws each resample's counts
/// directly: the number of resampled rows falling in each (intersectional group, confusion cell) is exactly
/// Multinomial(n, cell count / n), so a resample costs one multinomial variate over the cells instead of n row draws.
/// The resampled intersection counts are summed into every grouping, so all groupings see the same resample.
/// </para>
/// </summary>
public static class FairnessAnalysis
{
    /// <summary>The label of the group of every row.</summary>
    public const string Everyone = "all";

    /// <summary>The report of <paramref name="data"/> (its id, model, version, dataset and dates are the caller's).</summary>
    public static FairnessReport Analyze(EvaluationData data, AnalysisSettings settings)
    {
        var columns = data.Attributes.Select(a => a.Name).ToArray();
        var table = new GroupTable(columns, data.Scores is null ? 0 : settings.CalibrationBins);
        table.Add(data);
        var groupings = Groupings(table, settings);
        var report = new FairnessReport { Rows = data.Rows };
        var everyone = Enumerable.Range(0, table.Count).ToArray();
        report.Overall = Metrics(table, everyone, Everyone, [], data.IsClassification, settings.MinGroupSize);
        report.Overall.TooSmall = false;
        foreach (var grouping in groupings)
        {
            report.Groupings.Add(grouping.Describe(table, data.IsClassification, settings));
        }

        if (data.IsClassification)
        {
            Bootstrap(table, groupings, report, settings);
        }

        return report;
    }

    /// <summary>The column subsets a report groups by: every non-empty subset of up to four columns, else each column and all of them.</summary>
    public static IReadOnlyList<int[]> Subsets(int columns)
    {
        if (columns > 4)
        {
            return [.. Enumerable.Range(0, columns).Select(c => new[] { c }), Enumerable.Range(0, columns).ToArray()];
        }

        return [.. Enumerable.Range(1, (1 << columns) - 1)
            .Select(mask => Enumerable.Range(0, columns).Where(c => (mask & (1 << c)) != 0).ToArray())
            .OrderBy(s => s.Length).ThenBy(s => string.Join(',', s))];
    }

    /// <summary>The label of a group: "sex=F, region=(missing)".</summary>
    public static string Label(IReadOnlyList<string> columns, IReadOnlyList<string?> values) =>
        string.Join(", ", columns.Select((c, i) => $"{c}={values[i] ?? "(missing)"}"));

    private static List<GroupingPlan> Groupings(GroupTable table, AnalysisSettings settings)
    {
        var plans = new List<GroupingPlan>();
        foreach (var subset in Subsets(table.Attributes.Count))
        {
            var keys = new List<string?[]>();
            var map = new int[table.Count];
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            var order = Enumerable.Range(0, table.Count)
                .Select(g => subset.Select(c => table.Keys[g][c]).ToArray())
                .Distinct(KeyComparer.Instance)
                .OrderBy(k => k, KeyComparer.Instance)
                .ToList();
            foreach (var key in order)
            {
                index[KeyComparer.Text(key)] = keys.Count;
                keys.Add(key);
            }

            for (var g = 0; g < table.Count; g++)
            {
                map[g] = index[KeyComparer.Text([.. subset.Select(c => table.Keys[g][c])])];
            }

            var names = subset.Select(c => table.Attributes[c]).ToArray();
            int? privileged = null;
            if (names.All(settings.Privileged.ContainsKey))
            {
                var wanted = names.Select(n => settings.Privileged[n]).ToArray();
                var at = keys.FindIndex(k => k.SequenceEqual(wanted));
                privileged = at >= 0 ? at : null;
            }

            plans.Add(new GroupingPlan(names, keys, map, privileged));
        }

        return plans;
    }

    private static GroupMetrics Metrics(GroupTable table, IReadOnlyList<int> members, string label, IReadOnlyList<GroupValue> values,
        bool classification, int minGroupSize)
    {
        var metrics = new GroupMetrics { Label = label, Values = { values } };
        if (classification)
        {
            var confusion = members.Aggregate(default(Confusion), (sum, g) => sum + table.ConfusionOf(g));
            metrics.Count = confusion.Count;
            Fill(metrics, confusion);
            for (var bin = 0; bin < table.CalibrationBins; bin++)
            {
                double count = 0, scores = 0, positives = 0;
                foreach (var g in members)
                {
                    var at = 3 * ((g * table.CalibrationBins) + bin);
                    (count, scores, positives) = (count + table.Calibration[at], scores + table.Calibration[at + 1], positives + table.Calibration[at + 2]);
                }

                var calibrationBin = new CalibrationBin
                {
                    Lower = (double)bin / table.CalibrationBins, Upper = (double)(bin + 1) / table.CalibrationBins, Count = (long)count,
                };
                if (count > 0)
                {
                    calibrationBin.MeanScore = scores / count;
                    calibrationBin.ObservedRate = positives / count;
                }

                metrics.Calibration.Add(calibrationBin);
            }
        }
        else
        {
            double count = 0, estimates = 0, absolute = 0, squares = 0;
            foreach (var g in members)
            {
                count += table.Regression[4 * g];
                estimates += table.Regression[(4 * g) + 1];
                absolute += table.Regression[(4 * g) + 2];
                squares += table.Regression[(4 * g) + 3];
            }

            metrics.Count = (long)count;
            if (count > 0)
            {
                metrics.MeanPrediction = estimates / count;
                metrics.MeanAbsoluteError = absolute / count;
                metrics.RootMeanSquaredError = Math.Sqrt(squares / count);
            }
        }

        metrics.TooSmall = metrics.Count < minGroupSize;
        return metrics;
    }

    /// <summary>Sets the counts and every defined rate of <paramref name="confusion"/>.</summary>
    public static void Fill(GroupMetrics metrics, Confusion confusion)
    {
        metrics.TruePositives = confusion.Tp;
        metrics.FalsePositives = confusion.Fp;
        metrics.TrueNegatives = confusion.Tn;
        metrics.FalseNegatives = confusion.Fn;
        Set(confusion.SelectionRate, v => metrics.SelectionRate = v);
        Set(confusion.BaseRate, v => metrics.BaseRate = v);
        Set(confusion.Tpr, v => metrics.TruePositiveRate = v);
        Set(confusion.Fpr, v => metrics.FalsePositiveRate = v);
        Set(confusion.Fnr, v => metrics.FalseNegativeRate = v);
        Set(confusion.Tnr, v => metrics.TrueNegativeRate = v);
        Set(confusion.Ppv, v => metrics.Precision = v);
        Set(confusion.Npv, v => metrics.NegativePredictiveValue = v);
        Set(confusion.Accuracy, v => metrics.Accuracy = v);
    }

    private static void Set(double? value, Action<double> set)
    {
        if (value is { } defined)
        {
            set(defined);
        }
    }

    private static void Bootstrap(GroupTable table, List<GroupingPlan> plans, FairnessReport report, AnalysisSettings settings)
    {
        var definitions = Disparities.All.Count;
        var weights = table.Cells.ToArray();
        var n = weights.Sum();
        var drawn = new long[weights.Length];
        var samples = plans.Select(_ => Enumerable.Range(0, definitions).Select(_ => new List<double>(settings.Resamples)).ToArray()).ToArray();
        var values = new DisparityValue[definitions];
        var random = new Random(unchecked((int)(settings.Seed ^ (settings.Seed >> 32))));
        for (var resample = 0; resample < settings.Resamples; resample++)
        {
            Binomial.Multinomial(random, n, weights, drawn);
            for (var p = 0; p < plans.Count; p++)
            {
                var plan = plans[p];
                var groups = new Confusion[plan.Keys.Count];
                for (var g = 0; g < table.Count; g++)
                {
                    groups[plan.Map[g]] += Confusion.FromCells(drawn.AsSpan(4 * g, 4));
                }

                Disparities.Compute(groups, plan.Judged!, plan.PrivilegedUsed, values);
                for (var d = 0; d < definitions; d++)
                {
                    if (values[d].Value is { } value)
                    {
                        samples[p][d].Add(value);
                    }
                }
            }
        }

        var tail = (1 - settings.Confidence) / 2;
        for (var p = 0; p < plans.Count; p++)
        {
            for (var d = 0; d < definitions; d++)
            {
                var disparity = report.Groupings[p].Disparities[d];
                var sample = samples[p][d];
                disparity.Resamples = sample.Count;
                if (sample.Count > 0 && disparity.HasValue)
                {
                    sample.Sort();
                    disparity.Lower = Percentile(sample, tail);
                    disparity.Upper = Percentile(sample, 1 - tail);
                }
            }
        }
    }

    /// <summary>The <paramref name="q"/>-quantile of sorted values, interpolated linearly (numpy's default).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        var h = (sorted.Count - 1) * q;
        var low = (int)Math.Floor(h);
        return low + 1 >= sorted.Count ? sorted[^1] : sorted[low] + ((h - low) * (sorted[low + 1] - sorted[low]));
    }

    private sealed class GroupingPlan(string[] names, List<string?[]> keys, int[] map, int? privileged)
    {
        public string[] Names { get; } = names;

        public List<string?[]> Keys { get; } = keys;

        public int[] Map { get; } = map;

        public bool[]? Judged { get; private set; }

        public int? PrivilegedUsed { get; private set; }

        public Grouping Describe(GroupTable table, bool classification, AnalysisSettings settings)
        {
            var grouping = new Grouping { Name = string.Join(" × ", Names), Columns = { Names } };
            var confusions = new Confusion[Keys.Count];
            var memberships = Enumerable.Range(0, Keys.Count).Select(_ => new List<int>()).ToArray();
            for (var g = 0; g < table.Count; g++)
            {
                memberships[Map[g]].Add(g);
            }

            for (var k = 0; k < Keys.Count; k++)
            {
                var members = memberships[k];
                var values = Names.Select((name, i) => new GroupValue { Column = name, Value = Keys[k][i] ?? "", Missing = Keys[k][i] is null });
                var metrics = Metrics(table, members, Label(Names, Keys[k]), [.. values], classification, settings.MinGroupSize);
                grouping.Groups.Add(metrics);
                confusions[k] = members.Aggregate(default(Confusion), (sum, g) => sum + table.ConfusionOf(g));
            }

            Judged = [.. grouping.Groups.Select(g => !g.TooSmall)];
            if (!classification)
            {
                return grouping;
            }

            PrivilegedUsed = Disparities.Privileged(confusions, Judged, privileged);
            if (PrivilegedUsed is { } used)
            {
                grouping.Privileged = grouping.Groups[used].Label;
                grouping.PrivilegedNamed = used == privileged;
            }

            var computed = new DisparityValue[Disparities.All.Count];
            Disparities.Compute(confusions, Judged, PrivilegedUsed, computed);
            for (var d = 0; d < computed.Length; d++)
            {
                var definition = Disparities.All[d];
                var disparity = new Disparity
                {
                    Name = definition.Name, Anchor = definition.Anchor, Formula = definition.Formula,
                    Kind = definition.Direction == Direction.Ratio ? "ratio" : "difference",
                    Groups = { computed[d].Groups.Select(g => grouping.Groups[g].Label) },
                    Undefined = computed[d].Undefined ?? "",
                };
                if (computed[d].Value is { } value)
                {
                    disparity.Value = value;
                }

                grouping.Disparities.Add(disparity);
            }

            return grouping;
        }
    }

    /// <summary>Orders group keys by their values, ordinally, the missing value last.</summary>
    internal sealed class KeyComparer : IComparer<string?[]>, IEqualityComparer<string?[]>
    {
        public static readonly KeyComparer Instance = new();

        public static string Text(string?[] key) => string.Join('\u001f', key.Select(v => v is null ? "\u0000" : "\u0001" + v));

        public int Compare(string?[]? x, string?[]? y)
        {
            for (var i = 0; i < x!.Length; i++)
            {
                var order = (x[i], y![i]) switch
                {
                    (null, null) => 0,
                    (null, _) => 1,
                    (_, null) => -1,
                    var (a, b) => string.CompareOrdinal(a, b),
                };
                if (order != 0)
                {
                    return order;
                }
            }

            return 0;
        }

        public bool Equals(string?[]? x, string?[]? y) => Compare(x, y) == 0;

        public int GetHashCode(string?[] obj) => Text(obj).GetHashCode(StringComparison.Ordinal);
    }
}

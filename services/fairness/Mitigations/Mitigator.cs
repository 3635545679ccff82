using System.Security.Cryptography;
using System.Text.Json;
using Google.Protobuf;
using ModelOps.Fairness.Analysis;
using ModelOps.Fairness.V1;

namespace ModelOps.Fairness.Mitigations;

/// <summary>
/// Mitigations of a dataset's groups (every combination of values of its sensitive columns), each with its outcome
/// before and after on the same data, and an artifact (JSON) a pipeline applies and logs: per-group thresholds
/// (<see cref="ThresholdOptimizer"/>) or AIF360's reweighing.
/// </summary>
public static class Mitigator
{
    /// <summary>The thresholds artifact's file name.</summary>
    public const string ThresholdsArtifact = "fairness-thresholds.json";

    /// <summary>The reweighing artifact's file name.</summary>
    public const string WeightsArtifact = "fairness-weights.json";

    /// <summary>
    /// Per-group thresholds on the scores; groups below <paramref name="minGroupSize"/> keep <paramref name="threshold"/>
    /// and are not constrained. Outcome: accuracy, and the constrained disparity (demographic parity difference, or
    /// equalized odds difference) over the constrained groups.
    /// </summary>
    public static Mitigation Thresholds(EvaluationData data, double threshold, ParityConstraint constraint, double tolerance, int minGroupSize)
    {
        var (table, rows) = Groups(data);
        var constrained = Enumerable.Range(0, table.Count).Select(g => table.ConfusionOf(g).Count >= minGroupSize).ToArray();
        var cuts = ThresholdOptimizer.Optimize(rows, data.Labels!, data.Scores!, constrained, threshold, constraint, tolerance);
        var cells = new long[4 * table.Count];
        for (var row = 0; row < data.Rows; row++)
        {
            var predicted = cuts[rows[row]].Selects(data.Scores![row]) ? 1 : 0;
            cells[(4 * rows[row]) + (2 * data.Labels![row]) + predicted]++;
        }

        var after = Enumerable.Range(0, table.Count).Select(g => Confusion.FromCells(cells.AsSpan(4 * g, 4))).ToArray();

        var before = Enumerable.Range(0, table.Count).Select(table.ConfusionOf).ToArray();
        var disparity = constraint == ParityConstraint.DemographicParity ? 0 : 2;
        var mitigation = new Mitigation
        {
            Method = MitigationMethod.Thresholds,
            Constraint = constraint == ParityConstraint.DemographicParity ? Constraint.DemographicParity : Constraint.EqualizedOdds,
            Tolerance = tolerance,
            MinGroupSize = minGroupSize,
            Columns = { table.Attributes },
            Before = Outcome(before, constrained, disparity),
            After = Outcome(after, constrained, disparity),
            ArtifactName = ThresholdsArtifact,
        };
        for (var g = 0; g < table.Count; g++)
        {
            var cut = new GroupThreshold
            {
                Group = FairnessAnalysis.Label(table.Attributes, table.Keys[g]), Values = { Values(table, g) }, Count = before[g].Count,
                TooSmall = !constrained[g], Threshold = cuts[g].SelectNone ? 1 : cuts[g].Threshold, SelectNone = cuts[g].SelectNone,
            };
            Set(before[g].SelectionRate, v => cut.SelectionRateBefore = v);
            Set(after[g].SelectionRate, v => cut.SelectionRateAfter = v);
            Set(before[g].Tpr, v => cut.TruePositiveRateBefore = v);
            Set(after[g].Tpr, v => cut.TruePositiveRateAfter = v);
            Set(before[g].Fpr, v => cut.FalsePositiveRateBefore = v);
            Set(after[g].Fpr, v => cut.FalsePositiveRateAfter = v);
            mitigation.Thresholds.Add(cut);
        }

        return mitigation;
    }

    /// <summary>
    /// AIF360's Reweighing (Kamiran and Calders, 2012): w(g, y) = n_g · n_y / (n · n_gy) for every group g and label y
    /// present, after which the weighted base rate is the same in every group. Outcome: the label's demographic parity
    /// difference (max − min base rate over the judged groups), unweighted before and weighted after; accuracy is the
    /// retrained model's to measure.
    /// </summary>
    public static Mitigation Reweighing(EvaluationData data, int minGroupSize)
    {
        var (table, _) = Groups(data);
        var groups = Enumerable.Range(0, table.Count).Select(table.ConfusionOf).ToArray();
        long n = groups.Sum(g => g.Count), positives = groups.Sum(g => g.Positives), negatives = n - positives;
        var judged = groups.Select(g => g.Count >= minGroupSize).ToArray();
        var mitigation = new Mitigation
        {
            Method = MitigationMethod.Reweighing, MinGroupSize = minGroupSize, Columns = { table.Attributes }, ArtifactName = WeightsArtifact,
            Before = new Outcome { Disparity = "label_demographic_parity_difference" },
            After = new Outcome { Disparity = "label_demographic_parity_difference" },
        };
        var weightedRates = new List<double>();
        var rates = new List<double>();
        for (var g = 0; g < table.Count; g++)
        {
            var group = groups[g];
            double weightedPositives = 0, weightedTotal = 0;
            foreach (var (label, count, total) in new[] { (1, group.Positives, positives), (0, group.Negatives, negatives) })
            {
                if (count == 0)
                {
                    continue;
                }

                var weight = (double)group.Count * total / ((double)n * count);
                mitigation.Weights.Add(new GroupWeight
                {
                    Group = FairnessAnalysis.Label(table.Attributes, table.Keys[g]), Values = { Values(table, g) }, Label = label, Count = count, Weight = weight,
                });
                weightedTotal += weight * count;
                weightedPositives += label == 1 ? weight * count : 0;
            }

            if (judged[g])
            {
                rates.Add((double)group.Positives / group.Count);
                weightedRates.Add(weightedPositives / weightedTotal);
            }
        }

        if (rates.Count >= 2)
        {
            mitigation.Before.DisparityValue = rates.Max() - rates.Min();
            mitigation.After.DisparityValue = weightedRates.Max() - weightedRates.Min();
        }

        return mitigation;
    }

    /// <summary>Fills the artifact: a JSON document a pipeline reads, and its SHA-256.</summary>
    public static void WriteArtifact(Mitigation mitigation, string scoreColumn)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            var thresholds = mitigation.Method == MitigationMethod.Thresholds;
            json.WriteStartObject();
            json.WriteString("kind", thresholds ? "modelops.fairness.thresholds/v1" : "modelops.fairness.reweighing/v1");
            json.WriteString("model", mitigation.Model);
            json.WriteString("version", mitigation.Version);
            json.WriteStartObject("dataset");
            json.WriteString("run_id", mitigation.Dataset.RunId);
            json.WriteString("artifact_path", mitigation.Dataset.ArtifactPath);
            json.WriteString("sha256", mitigation.DatasetSha256);
            json.WriteEndObject();
            json.WriteStartArray("columns");
            foreach (var column in mitigation.Columns)
            {
                json.WriteStringValue(column);
            }

            json.WriteEndArray();
            if (thresholds)
            {
                json.WriteString("score_column", scoreColumn);
                json.WriteString("constraint", mitigation.Constraint == Constraint.DemographicParity ? "demographic_parity" : "equalized_odds");
                json.WriteNumber("tolerance", mitigation.Tolerance);
                json.WriteString("rule", "predict 1 when the score is at least the threshold of the row's group; never when select_none; a group not listed keeps default_threshold");
                json.WriteNumber("default_threshold", mitigation.Dataset.Threshold);
                json.WriteStartArray("groups");
                foreach (var cut in mitigation.Thresholds)
                {
                    json.WriteStartObject();
                    WriteValues(json, cut.Values);
                    json.WriteNumber("threshold", cut.Threshold);
                    json.WriteBoolean("select_none", cut.SelectNone);
                    json.WriteEndObject();
                }
            }
            else
            {
                json.WriteString("label_column", mitigation.Dataset.LabelColumn);
                json.WriteString("rule", "weight each training row by the weight of its group and label");
                json.WriteStartArray("weights");
                foreach (var weight in mitigation.Weights)
                {
                    json.WriteStartObject();
                    WriteValues(json, weight.Values);
                    json.WriteNumber("label", weight.Label);
                    json.WriteNumber("weight", weight.Weight);
                    json.WriteEndObject();
                }
            }

            json.WriteEndArray();
            foreach (var (name, outcome) in new[] { ("before", mitigation.Before), ("after", mitigation.After) })
            {
                json.WriteStartObject(name);
                if (outcome.HasAccuracy)
                {
                    json.WriteNumber("accuracy", outcome.Accuracy);
                }

                if (outcome.HasDisparityValue)
                {
                    json.WriteNumber(outcome.Disparity, outcome.DisparityValue);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        var bytes = buffer.ToArray();
        mitigation.Artifact = ByteString.CopyFrom(bytes);
        mitigation.ArtifactSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    private static void WriteValues(Utf8JsonWriter json, IEnumerable<GroupValue> values)
    {
        json.WriteStartObject("group");
        foreach (var value in values)
        {
            if (value.Missing)
            {
                json.WriteNull(value.Column);
            }
            else
            {
                json.WriteString(value.Column, value.Value);
            }
        }

        json.WriteEndObject();
    }

    private static (GroupTable Table, int[] Rows) Groups(EvaluationData data)
    {
        var table = new GroupTable([.. data.Attributes.Select(a => a.Name)], 0);
        table.Add(data);
        return (table, table.GroupsOf(data));
    }

    private static IEnumerable<GroupValue> Values(GroupTable table, int group) =>
        table.Attributes.Select((column, i) => new GroupValue { Column = column, Value = table.Keys[group][i] ?? "", Missing = table.Keys[group][i] is null });

    private static Outcome Outcome(Confusion[] groups, bool[] judged, int disparity)
    {
        var total = groups.Aggregate(default(Confusion), (sum, g) => sum + g);
        var values = new DisparityValue[Disparities.All.Count];
        Disparities.Compute(groups, judged, Disparities.Privileged(groups, judged, null), values);
        var outcome = new Outcome { Disparity = Disparities.All[disparity].Name };
        Set(total.Accuracy, v => outcome.Accuracy = v);
        Set(values[disparity].Value, v => outcome.DisparityValue = v);
        return outcome;
    }

    private static void Set(double? value, Action<double> set)
    {
        if (value is { } defined)
        {
            set(defined);
        }
    }
}

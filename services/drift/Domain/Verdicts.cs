using ModelOps.Drift.Data;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.Statistics;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>A window judged against its reference under the model's monitoring policy.</summary>
public static class Verdicts
{
    /// <summary>
    /// The features (every reference column but the prediction column) as a dataset, with the policy's per-column
    /// rules, importance and threshold (else <paramref name="defaultThreshold"/>); and the prediction column on its own.
    /// A rule whose method does not apply to its column's kind (a numeric test on labels) is not used.
    /// </summary>
    public static WindowVerdict Judge(StoredReference reference, DatasetProfile current, MonitoringPolicy? policy, double defaultThreshold)
    {
        var predictionColumn = reference.Prediction?.Column;
        var rules = new Dictionary<string, Statistics.ColumnRule>(StringComparer.Ordinal);
        foreach (var rule in policy?.Rules ?? [])
        {
            if (reference.Profile.ByName.TryGetValue(rule.Column, out var column) && Applies(rule.Method, column.Kind))
            {
                rules[rule.Column] = new Statistics.ColumnRule(Method(rule.Method), rule.Threshold > 0 ? rule.Threshold : null, rule.MinimumEffect);
            }
        }

        var threshold = policy is { DatasetThreshold: > 0 } ? policy.DatasetThreshold : defaultThreshold;
        var preset = Preset(policy?.Preset ?? V1.DriftPreset.Unspecified);
        var features = DriftAnalysis.CompareDataset(
            [.. reference.Profile.Columns.Where(c => c.Name != predictionColumn)], current.ByName, rules,
            policy is { Importance.Count: > 0 } ? policy.Importance : null, threshold, preset);
        if (policy?.Weighted == true)
        {
            features = features with { Drifted = features.Columns.Count > 0 && features.WeightedDriftShare >= threshold };
        }

        ColumnDrift? prediction = null;
        if (predictionColumn is not null && reference.Profile.ByName.TryGetValue(predictionColumn, out var referenceOutput) &&
            current.ByName.TryGetValue(predictionColumn, out var currentOutput))
        {
            prediction = DriftAnalysis.Compare(referenceOutput, currentOutput, rules.GetValueOrDefault(predictionColumn), preset);
        }

        return new WindowVerdict(features, prediction, preset);
    }

    /// <summary>Whether <paramref name="method"/> can measure a column of <paramref name="kind"/>: KS and Wasserstein need numbers.</summary>
    public static bool Applies(V1.DriftMethod method, Profiles.ColumnKind kind) =>
        method is not (V1.DriftMethod.KolmogorovSmirnov or V1.DriftMethod.NormedWasserstein) || kind == Profiles.ColumnKind.Numeric;

    /// <summary>The statistics' method of a proto method (Unspecified: Auto).</summary>
    public static Statistics.DriftMethod Method(V1.DriftMethod method) => method switch
    {
        V1.DriftMethod.KolmogorovSmirnov => Statistics.DriftMethod.KolmogorovSmirnov,
        V1.DriftMethod.NormedWasserstein => Statistics.DriftMethod.NormedWasserstein,
        V1.DriftMethod.JensenShannon => Statistics.DriftMethod.JensenShannon,
        V1.DriftMethod.PopulationStabilityIndex => Statistics.DriftMethod.PopulationStabilityIndex,
        V1.DriftMethod.ChiSquare => Statistics.DriftMethod.ChiSquare,
        V1.DriftMethod.TotalVariation => Statistics.DriftMethod.TotalVariation,
        V1.DriftMethod.ZTest => Statistics.DriftMethod.ZTest,
        _ => Statistics.DriftMethod.Auto,
    };

    /// <summary>The statistics' preset of a proto preset (Unspecified: ModelOps's).</summary>
    public static Statistics.DriftPreset Preset(V1.DriftPreset preset) =>
        preset == V1.DriftPreset.Evidently ? Statistics.DriftPreset.Evidently : Statistics.DriftPreset.ModelOps;
}

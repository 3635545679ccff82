using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>How far a window's attributions moved from the version's reference importance.</summary>
internal static class AttributionDrift
{
    public const double DefaultMaxShift = 0.25;
    public const int DefaultTopK = 5;
    public const double DefaultMinOverlap = 0.6;

    /// <summary>
    /// The shift (total variation between the two normalised importance distributions: ½ Σ |w_window − w_reference| over
    /// every feature of either, in [0, 1]), and the share of the reference's top-k features (mean |φ| &gt; 0) among the
    /// window's (1 when the reference has none).
    /// </summary>
    public static (double Shift, double Overlap, List<string> WindowTop, List<string> ReferenceTop) Compare(ImportanceReport window, ImportanceReport reference, int topK)
    {
        var features = window.Weights.Keys.Union(reference.Weights.Keys, StringComparer.Ordinal);
        var shift = 0.5 * features.Sum(f => Math.Abs(window.Weights.GetValueOrDefault(f) - reference.Weights.GetValueOrDefault(f)));
        var windowTop = Top(window, topK);
        var referenceTop = Top(reference, topK);
        var overlap = referenceTop.Count == 0 ? 1 : (double)referenceTop.Intersect(windowTop, StringComparer.Ordinal).Count() / referenceTop.Count;
        return (Math.Min(1, shift), overlap, windowTop, referenceTop);
    }

    /// <summary>The two-sample Kolmogorov–Smirnov distance sup |F_a − F_b| of two samples.</summary>
    public static double KolmogorovSmirnov(IEnumerable<double> a, IEnumerable<double> b)
    {
        var x = a.Order().ToArray();
        var y = b.Order().ToArray();
        if (x.Length == 0 || y.Length == 0)
        {
            return 0;
        }

        int i = 0, j = 0;
        var distance = 0.0;
        while (i < x.Length && j < y.Length)
        {
            var value = Math.Min(x[i], y[j]);
            while (i < x.Length && x[i] <= value)
            {
                i++;
            }

            while (j < y.Length && y[j] <= value)
            {
                j++;
            }

            distance = Math.Max(distance, Math.Abs(((double)i / x.Length) - ((double)j / y.Length)));
        }

        return distance;
    }

    private static List<string> Top(ImportanceReport report, int k) =>
        [.. report.Features.Where(f => f.MeanAbs > 0).Take(k).Select(f => f.Feature)];
}

using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>Global importance over a dataset's attributions.</summary>
internal static class Importance
{
    /// <summary>Rows kept for the beeswarm plot.</summary>
    public const int BeeswarmRows = 1000;

    /// <summary>Features in the beeswarm plot.</summary>
    public const int BeeswarmFeatures = 20;

    private static readonly double[] Percentiles = [5, 25, 50, 75, 95];

    /// <summary>
    /// Per feature: mean |φ|, mean φ, φ's percentiles (numpy's linear interpolation) and the share of rows missing it;
    /// features ranked by mean |φ| (ties by the model's order); weights = mean |φ| / Σ mean |φ| (equal when all are 0);
    /// and up to <see cref="BeeswarmRows"/> evenly spaced rows of the <see cref="BeeswarmFeatures"/> most important.
    /// </summary>
    public static ImportanceReport Summarise(IReadOnlyList<string> features, double[] rows, double[] phi, int count, IReadOnlyDictionary<string, FeatureEntry> dictionary)
    {
        var m = features.Count;
        var report = new ImportanceReport { Rows = count };
        var figures = new List<FeatureImportance>(m);
        var column = new double[count];
        for (var f = 0; f < m; f++)
        {
            double abs = 0, sum = 0;
            long missing = 0;
            for (var r = 0; r < count; r++)
            {
                var value = phi[(r * m) + f];
                column[r] = value;
                abs += Math.Abs(value);
                sum += value;
                missing += double.IsNaN(rows[(r * m) + f]) ? 1 : 0;
            }

            Array.Sort(column);
            var entry = dictionary.GetValueOrDefault(features[f]);
            var figure = new FeatureImportance
            {
                Feature = features[f], DisplayName = entry?.DisplayName is { Length: > 0 } display ? display : features[f],
                MeanAbs = abs / count, Mean = sum / count, MissingShare = (double)missing / count,
            };
            figure.Quantiles.Add(Percentiles.Select(p => Quantile(column, p / 100)));
            figures.Add(figure);
        }

        var order = Enumerable.Range(0, m).OrderByDescending(f => figures[f].MeanAbs).ThenBy(f => f).ToArray();
        var total = figures.Sum(f => f.MeanAbs);
        for (var rank = 0; rank < m; rank++)
        {
            var figure = figures[order[rank]];
            figure.Rank = rank + 1;
            report.Features.Add(figure);
            report.Weights[figure.Feature] = total > 0 ? figure.MeanAbs / total : 1.0 / m;
        }

        var sample = Enumerable.Range(0, Math.Min(count, BeeswarmRows)).Select(i => (int)((long)i * count / Math.Min(count, BeeswarmRows))).ToArray();
        foreach (var f in order.Take(BeeswarmFeatures))
        {
            var bee = new BeeswarmFeature { Feature = features[f] };
            var values = sample.Select(r => rows[(r * m) + f]).ToArray();
            var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
            foreach (var (r, value) in sample.Zip(values))
            {
                bee.Attributions.Add(phi[(r * m) + f]);
                bee.ValueRanks.Add(double.IsNaN(value) ? -1 : Rank(sorted, value));
            }

            report.Beeswarm.Add(bee);
        }

        return report;
    }

    /// <summary>The <paramref name="q"/>-quantile of sorted values, interpolated linearly (numpy's default).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }

    // The value's mid-rank among the sample's values, in [0, 1].
    private static double Rank(double[] sorted, double value)
    {
        if (sorted.Length <= 1)
        {
            return 0.5;
        }

        var below = LowerBound(sorted, value);
        var upTo = LowerBound(sorted, Math.BitIncrement(value));
        return ((below + upTo - 1) / 2.0) / (sorted.Length - 1);
    }

    private static int LowerBound(double[] sorted, double value)
    {
        var (lo, hi) = (0, sorted.Length);
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}

using ModelOps.Drift.Profiles;

namespace ModelOps.Drift.Statistics;

/// <summary>A method a column's drift is measured with.</summary>
public enum DriftMethod
{
    /// <summary>Chosen by kind and reference size (see <see cref="DriftAnalysis.DefaultMethod"/>).</summary>
    Auto,

    /// <summary>Two-sample Kolmogorov–Smirnov test (p-value; effect size D).</summary>
    KolmogorovSmirnov,

    /// <summary>Wasserstein distance in units of the reference's standard deviation.</summary>
    NormedWasserstein,

    /// <summary>Jensen–Shannon distance (natural logarithm).</summary>
    JensenShannon,

    /// <summary>Population stability index.</summary>
    PopulationStabilityIndex,

    /// <summary>Pearson's chi-square goodness of fit (p-value; effect size Cramér's V).</summary>
    ChiSquare,

    /// <summary>Total variation distance.</summary>
    TotalVariation,

    /// <summary>Z-test for a difference of proportions (Evidently's test for two values; p-value, effect the difference).</summary>
    ZTest,
}

/// <summary>How one column is judged; unset values take the defaults.</summary>
/// <param name="Method">The method, or Auto.</param>
/// <param name="Threshold">For a test, drift when p ≤ it (default 0.05); for a distance, drift when ≥ it (default 0.1; PSI 0.2).</param>
/// <param name="MinimumEffect">For a test, drift also needs an effect size at least this (default 0: the p-value alone).</param>
public sealed record ColumnRule(DriftMethod Method = DriftMethod.Auto, double? Threshold = null, double MinimumEffect = 0);

/// <summary>Data quality of a column in the current window.</summary>
/// <param name="MissingRate">Share of missing values (null, NaN, ±∞, empty).</param>
/// <param name="TypeViolations">Values of the wrong type.</param>
/// <param name="OutOfRange">Numeric values below the reference's minimum or above its maximum (exact while the window keeps its values exactly, else to the grid's accuracy).</param>
/// <param name="Constant">Whether the window holds one distinct value (or none).</param>
public sealed record ColumnQuality(double MissingRate, long TypeViolations, long OutOfRange, bool Constant);

/// <summary>One column's verdict.</summary>
public sealed record ColumnDrift(
    string Column,
    ColumnKind Kind,
    DriftMethod Method,
    double Statistic,
    double? PValue,
    double Effect,
    double Threshold,
    bool Drifted,
    double StatisticBound,
    IReadOnlyList<string> UnseenLabels,
    ColumnQuality Quality,
    IReadOnlyList<(string Bin, double ReferenceShare, double CurrentShare)> Histogram);

/// <summary>A window's verdict over every column.</summary>
/// <param name="Columns">Per column, in the reference's order.</param>
/// <param name="DriftShare">Share of compared columns that drifted.</param>
/// <param name="WeightedDriftShare">The same weighted by feature importance (equal weights when none are given).</param>
/// <param name="Drifted">Whether the drift share reached the dataset threshold.</param>
public sealed record DatasetDrift(IReadOnlyList<ColumnDrift> Columns, double DriftShare, double WeightedDriftShare, bool Drifted);

/// <summary>
/// Compares a current window's profiles with the reference's, column by column, and the dataset as a whole. The
/// defaults follow Evidently's: with at most 1000 reference values, a test (KS for numbers, chi-square for labels,
/// drift at p ≤ 0.05); with more, a distance (normed Wasserstein for numbers, Jensen–Shannon for labels, drift at ≥
/// 0.1) — on large samples a test flags negligible shifts. A test's verdict may also require an effect size.
/// The dataset drifts when at least <c>datasetThreshold</c> (0.5) of its columns do.
/// </summary>
public static class DriftAnalysis
{
    /// <summary>Reference sizes up to this use a test by default, larger ones a distance.</summary>
    public const long SmallReference = 1000;

    /// <summary>The default method for a column of <paramref name="kind"/> with <paramref name="referenceCount"/> values.</summary>
    public static DriftMethod DefaultMethod(ColumnKind kind, long referenceCount) => (kind, referenceCount <= SmallReference) switch
    {
        (ColumnKind.Numeric, true) => DriftMethod.KolmogorovSmirnov,
        (ColumnKind.Numeric, false) => DriftMethod.NormedWasserstein,
        (_, true) => DriftMethod.ChiSquare,
        _ => DriftMethod.JensenShannon,
    };

    /// <summary>The default threshold of <paramref name="method"/>.</summary>
    public static double DefaultThreshold(DriftMethod method) => method switch
    {
        DriftMethod.KolmogorovSmirnov or DriftMethod.ChiSquare => 0.05,
        DriftMethod.PopulationStabilityIndex => 0.2,
        _ => 0.1,
    };

    /// <summary>
    /// Compares one column under <paramref name="preset"/>'s conventions; null when the current window holds no value
    /// of it (an empty window is not drift).
    /// </summary>
    public static ColumnDrift? Compare(ColumnProfile reference, ColumnProfile current, ColumnRule? rule = null, DriftPreset preset = DriftPreset.ModelOps)
    {
        rule ??= new ColumnRule();
        if (current.Count == 0 || reference.Count == 0)
        {
            return null;
        }

        var numeric = reference.Kind == ColumnKind.Numeric;
        var evidently = preset == DriftPreset.Evidently;
        // Both sides kept exactly: the statistics of the rows. Otherwise those of the histograms, with their bound.
        ExactSample? exactReference = numeric && reference.IsExact && current.IsExact ? reference.ExactValues() : null;
        ExactSample? exactCurrent = exactReference is null ? null : current.ExactValues();
        var sketches = numeric && exactReference is null ? Sketches.Of(reference, current) : null;
        var method = rule.Method != DriftMethod.Auto ? rule.Method
            : evidently ? EvidentlyPreset.DefaultMethod(reference.Kind, reference.Count, Distinct(reference, current, exactReference, exactCurrent))
            : DefaultMethod(reference.Kind, reference.Count);
        var threshold = rule.Threshold ?? (evidently ? EvidentlyPreset.DefaultThreshold(method) : DefaultThreshold(method));
        var (referenceCounts, currentCounts, labels, bins) = Distribution(reference, current, exactReference, exactCurrent, sketches, method, preset);
        double statistic, effect, bound = 0;
        double? pValue = null;
        switch (method)
        {
            case DriftMethod.KolmogorovSmirnov when numeric:
                (var ks, bound) = exactReference is { } r1 && exactCurrent is { } c1
                    ? (ExactComparison.KolmogorovSmirnov(r1, c1), 0)
                    : ProfileComparison.KolmogorovSmirnov(sketches!.Reference, sketches.Current);
                (statistic, pValue, effect) = (ks.Statistic, ks.PValue, ks.Statistic);
                break;
            case DriftMethod.NormedWasserstein when numeric:
                var (distance, error) = exactReference is { } r2 && exactCurrent is { } c2
                    ? (ExactComparison.Wasserstein(r2, c2), 0)
                    : ProfileComparison.Wasserstein(sketches!.Reference, sketches.Current);
                // Centred histograms measure in units of their scale.
                var unit = (sketches?.Centring?.Scale ?? 1) / Math.Max(reference.StandardDeviation, Distances.MinimumScale);
                (statistic, bound) = (distance * unit, error * unit);
                effect = statistic;
                break;
            case DriftMethod.ChiSquare:
                var chi = Distances.ChiSquare(referenceCounts, currentCounts);
                var categories = referenceCounts.Zip(currentCounts).Count(c => c.First > 0 || c.Second > 0);
                (statistic, pValue) = (chi.Statistic, chi.PValue);
                // Cramér's V for goodness of fit, √(χ² / (n (k − 1))), over the same k categories as the test: it does
                // not grow with the sample size, and is +∞ with the statistic when a category the reference never saw appears.
                effect = categories > 1 ? Math.Sqrt(chi.Statistic / (currentCounts.Sum() * (categories - 1))) : 0;
                break;
            case DriftMethod.ZTest:
                (var z, effect) = EvidentlyPreset.ZTest(referenceCounts, currentCounts);
                (statistic, pValue) = (z.Statistic, z.PValue);
                break;
            case DriftMethod.JensenShannon:
                statistic = effect = evidently
                    ? EvidentlyPreset.JensenShannonBits(referenceCounts, currentCounts)
                    : Distances.JensenShannon(referenceCounts, currentCounts);
                break;
            case DriftMethod.PopulationStabilityIndex:
                statistic = effect = evidently
                    ? EvidentlyPreset.PopulationStabilityIndex(referenceCounts, currentCounts)
                    : Distances.PopulationStabilityIndex(referenceCounts, currentCounts);
                break;
            case DriftMethod.TotalVariation:
                statistic = effect = Distances.TotalVariation(referenceCounts, currentCounts);
                break;
            default:
                throw new ArgumentException($"{method} does not apply to a {reference.Kind} column ({reference.Name}).", nameof(rule));
        }

        var drifted = pValue is { } p
            ? (evidently ? EvidentlyPreset.TestDrifts(method, p, threshold) : p <= threshold) && effect >= rule.MinimumEffect
            : statistic >= threshold;
        double referenceTotal = referenceCounts.Sum(), currentTotal = currentCounts.Sum();
        var histogram = bins.Select((bin, k) => (bin, referenceTotal > 0 ? referenceCounts[k] / referenceTotal : 0, currentTotal > 0 ? currentCounts[k] / currentTotal : 0)).ToList();
        return new ColumnDrift(reference.Name, reference.Kind, method, statistic, pValue, effect, threshold, drifted, bound,
            labels, Quality(reference, current, sketches), histogram);
    }

    /// <summary>
    /// Compares every column of the reference that the window has values for; <paramref name="importance"/> weights the
    /// weighted share (missing weights count 0; no weights at all count every column equally).
    /// </summary>
    public static DatasetDrift CompareDataset(
        IReadOnlyList<ColumnProfile> reference, IReadOnlyDictionary<string, ColumnProfile> current,
        IReadOnlyDictionary<string, ColumnRule>? rules = null, IReadOnlyDictionary<string, double>? importance = null,
        double datasetThreshold = 0.5, DriftPreset preset = DriftPreset.ModelOps)
    {
        var columns = new List<ColumnDrift>();
        foreach (var column in reference)
        {
            if (current.TryGetValue(column.Name, out var window) &&
                Compare(column, window, rules?.GetValueOrDefault(column.Name), preset) is { } result)
            {
                columns.Add(result);
            }
        }

        if (columns.Count == 0)
        {
            return new DatasetDrift(columns, 0, 0, false);
        }

        var share = (double)columns.Count(c => c.Drifted) / columns.Count;
        var weights = columns.Select(c => importance is { Count: > 0 } ? Math.Max(importance.GetValueOrDefault(c.Column), 0) : 1.0).ToList();
        var totalWeight = weights.Sum();
        var weighted = totalWeight > 0 ? columns.Select((c, i) => c.Drifted ? weights[i] : 0).Sum() / totalWeight : 0;
        return new DatasetDrift(columns, share, weighted, share >= datasetThreshold);
    }

    // Distinct values of both samples together: exact while both keep their values (or labels), else more than any limit.
    private static long Distinct(ColumnProfile reference, ColumnProfile current, ExactSample? exactReference, ExactSample? exactCurrent) =>
        reference.Kind != ColumnKind.Numeric ? reference.Labels.Keys.Union(current.Labels.Keys).LongCount()
        : exactReference is { } r && exactCurrent is { } c ? r.Values.Union(c.Values).LongCount()
        : long.MaxValue;

    // The two distributions a binned method compares, in the preset's bins.
    private static (double[] Reference, double[] Current, IReadOnlyList<string> Unseen, IReadOnlyList<string> Bins) Distribution(
        ColumnProfile reference, ColumnProfile current, ExactSample? exactReference, ExactSample? exactCurrent, Sketches? sketches, DriftMethod method, DriftPreset preset)
    {
        if (preset != DriftPreset.Evidently)
        {
            return reference.Kind == ColumnKind.Numeric ? Binned(exactReference, exactCurrent, sketches) : Counted(reference, current);
        }

        if (reference.Kind != ColumnKind.Numeric)
        {
            // Evidently's categories in sorted order: its Z-test counts the first one against the rest.
            var labels = reference.Labels.Keys.Union(current.Labels.Keys).Order(StringComparer.Ordinal).ToList();
            return (labels.Select(l => (double)reference.Labels.GetValueOrDefault(l)).ToArray(), labels.Select(l => (double)current.Labels.GetValueOrDefault(l)).ToArray(),
                [.. labels.Where(l => !reference.Labels.ContainsKey(l))], labels);
        }

        // Numbers as categories: for the tests on few values, and for the distances while the reference has few.
        var byValue = method is DriftMethod.ChiSquare or DriftMethod.ZTest ||
            (exactReference is { } r && r.Values.Length <= EvidentlyPreset.ValueBinnedDistinct);
        if (byValue && exactReference is { } er && exactCurrent is { } ec)
        {
            return EvidentlyPreset.ValueCounts(er, ec);
        }

        // Each side counted from its own values where it keeps them (already read when both do).
        var (referenceCounts, currentCounts, edges) = EvidentlyPreset.SturgesBinned(reference, current,
            exactReference ?? (reference.IsExact ? reference.ExactValues() : null), exactCurrent ?? (current.IsExact ? current.ExactValues() : null));
        var bins = Enumerable.Range(0, edges.Length - 1).Select(k => $"{Format(edges[k])} – {Format(edges[k + 1])}").ToList();
        return (referenceCounts, currentCounts, [], bins);
    }

    private static (double[] Reference, double[] Current, IReadOnlyList<string> Unseen, IReadOnlyList<string> Bins) Binned(
        ExactSample? exactReference, ExactSample? exactCurrent, Sketches? sketches)
    {
        var (r, c, edges) = exactReference is { } er && exactCurrent is { } ec
            ? ExactComparison.QuantileBinned(er, ec, ProfileComparison.QuantileBins)
            : ProfileComparison.QuantileBinned(sketches!.Reference, sketches.Current);
        if (sketches?.Centring is { } centring)
        {
            edges = [.. edges.Select(centring.Invert)];
        }

        var bins = new List<string>();
        for (var k = 0; k <= edges.Length; k++)
        {
            bins.Add(k == 0 ? $"≤ {Format(edges[0])}" : k == edges.Length ? $"> {Format(edges[^1])}" : $"{Format(edges[k - 1])} – {Format(edges[k])}");
        }

        return (r, c, [], edges.Length == 0 ? ["all"] : bins);
    }

    private static string Format(double value) => value.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);

    // Counts over the union of labels, reference labels first; labels only the current window has are reported.
    private static (double[] Reference, double[] Current, IReadOnlyList<string> Unseen, IReadOnlyList<string> Bins) Counted(ColumnProfile reference, ColumnProfile current)
    {
        var labels = reference.Labels.Keys.Order(StringComparer.Ordinal).ToList();
        var unseen = current.Labels.Keys.Where(l => !reference.Labels.ContainsKey(l)).Order(StringComparer.Ordinal).ToList();
        labels.AddRange(unseen);
        return (labels.Select(l => (double)reference.Labels.GetValueOrDefault(l)).ToArray(),
                labels.Select(l => (double)current.Labels.GetValueOrDefault(l)).ToArray(),
                unseen, labels);
    }

    private static ColumnQuality Quality(ColumnProfile reference, ColumnProfile current, Sketches? sketches)
    {
        var total = current.Count + current.Missing;
        long outOfRange = 0;
        if (reference.Kind == ColumnKind.Numeric && current.CountOutside(reference.Min, reference.Max) is { } exact)
        {
            outOfRange = exact;
        }
        else if (reference.Kind == ColumnKind.Numeric)
        {
            // To the grid's accuracy: buckets beyond those of the reference's extremes.
            var low = sketches!.Current.UpperBoundOf(sketches.ToSketch(reference.Min));
            var high = sketches.Current.UpperBoundOf(sketches.ToSketch(reference.Max));
            foreach (var (upper, count) in sketches.Current.Buckets())
            {
                outOfRange += upper < low || upper > high ? count : 0;
            }
        }

        var constant = reference.Kind == ColumnKind.Numeric ? current.Min == current.Max : current.Labels.Count <= 1;
        return new ColumnQuality(total > 0 ? (double)current.Missing / total : 0, current.TypeViolations, outOfRange, constant);
    }

    // The histograms compared when the two sides do not both keep their values exactly: those of the values centred
    // alike (the window's centring, which is its reference's) where both sides have one — a side still exact is
    // bucketed for it — else the plain ones; and the centring (null: values as they are).
    private sealed record Sketches(LogHistogram Reference, LogHistogram Current, Centring? Centring)
    {
        public static Sketches Of(ColumnProfile reference, ColumnProfile current) =>
            (current.Centring ?? reference.Centring) is { } centring &&
            reference.CentredHistogram(centring) is { } r && current.CentredHistogram(centring) is { } c
                ? new Sketches(r, c, centring)
                : new Sketches(reference.Histogram, current.Histogram, null);

        public double ToSketch(double value) => Centring is { } centring ? centring.Apply(value) : value;
    }
}

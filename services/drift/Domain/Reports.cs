using Google.Protobuf.WellKnownTypes;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.Statistics;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>A window's verdict: its features as a dataset, and the model's output on its own.</summary>
/// <param name="Features">Every feature column, and the dataset's share.</param>
/// <param name="Prediction">The prediction column's drift, when the reference names one and the window has predictions.</param>
/// <param name="Preset">The conventions the columns were judged by.</param>
public sealed record WindowVerdict(DatasetDrift Features, ColumnDrift? Prediction, Statistics.DriftPreset Preset = Statistics.DriftPreset.ModelOps);

/// <summary>Window reports as the API returns them.</summary>
public static class Reports
{
    /// <summary>The report of a window's verdict.</summary>
    public static WindowReport Build(string model, string version, DateTimeOffset start, DateTimeOffset end, long rows, WindowVerdict verdict)
    {
        var drift = verdict.Features;
        var report = new WindowReport
        {
            Model = model,
            Version = version,
            WindowStart = Timestamp.FromDateTimeOffset(start),
            WindowEnd = Timestamp.FromDateTimeOffset(end),
            Rows = rows,
            DriftShare = drift.DriftShare,
            WeightedDriftShare = drift.WeightedDriftShare,
            DatasetDrifted = drift.Drifted,
            ReportedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            Preset = verdict.Preset == Statistics.DriftPreset.Evidently ? V1.DriftPreset.Evidently : V1.DriftPreset.Modelops,
        };
        report.Columns.AddRange(drift.Columns.Select(Column));
        if (verdict.Prediction is { } prediction)
        {
            report.Prediction = Column(prediction);
        }

        return report;
    }

    /// <summary>Most bins a column's histogram shows: a categorical column's most frequent labels, the rest in one bin.</summary>
    public const int MaxBins = 20;

    /// <summary>Most unseen labels a column's report names (all are counted).</summary>
    public const int MaxUnseenLabels = 10;

    /// <summary>Longest label a report shows; longer ones are cut, with an ellipsis.</summary>
    public const int MaxShownLabel = 64;

    /// <summary>
    /// One column's verdict as the API shows it. What it shows is bounded whatever was ingested — at most
    /// <see cref="MaxBins"/> bins and <see cref="MaxUnseenLabels"/> unseen labels, each label cut to
    /// <see cref="MaxShownLabel"/> characters — so a report of the largest schema stays far below a client's message limit.
    /// </summary>
    public static ColumnReport Column(ColumnDrift column)
    {
        var item = new ColumnReport
        {
            Column = column.Column,
            Kind = ProfileCodec.Kind(column.Kind),
            Method = Method(column.Method),
            Statistic = column.Statistic,
            Effect = column.Effect,
            Threshold = column.Threshold,
            Drifted = column.Drifted,
            StatisticBound = column.StatisticBound,
            UnseenLabels = { column.UnseenLabels.Take(MaxUnseenLabels).Select(Shown) },
            UnseenLabelCount = column.UnseenLabels.Count,
            MissingRate = column.Quality.MissingRate,
            OutOfRange = column.Quality.OutOfRange,
            Constant = column.Quality.Constant,
        };
        item.Histogram.AddRange(Bins(column.Histogram));
        if (column.PValue is { } p)
        {
            item.PValue = p;
        }

        return item;
    }

    private static IEnumerable<HistogramBin> Bins(IReadOnlyList<(string Bin, double ReferenceShare, double CurrentShare)> histogram)
    {
        if (histogram.Count <= MaxBins)
        {
            return histogram.Select(b => new HistogramBin { Label = Shown(b.Bin), ReferenceShare = b.ReferenceShare, CurrentShare = b.CurrentShare });
        }

        // The labels that weigh most on either side keep a bin each, in their order; the rest share one.
        var kept = histogram.Select((b, i) => (b, i)).OrderByDescending(x => Math.Max(x.b.ReferenceShare, x.b.CurrentShare)).ThenBy(x => x.i)
            .Take(MaxBins - 1).Select(x => x.i).ToHashSet();
        var rest = histogram.Where((_, i) => !kept.Contains(i)).ToList();
        return histogram.Where((_, i) => kept.Contains(i))
            .Select(b => new HistogramBin { Label = Shown(b.Bin), ReferenceShare = b.ReferenceShare, CurrentShare = b.CurrentShare })
            .Append(new HistogramBin
            {
                Label = $"({rest.Count} other labels)",
                ReferenceShare = rest.Sum(b => b.ReferenceShare),
                CurrentShare = rest.Sum(b => b.CurrentShare),
            });
    }

    private static string Shown(string label) => label.Length <= MaxShownLabel ? label : label[..(MaxShownLabel - 1)] + "…";

    /// <summary>The proto name of a method.</summary>
    public static V1.DriftMethod Method(Statistics.DriftMethod method) => method switch
    {
        Statistics.DriftMethod.KolmogorovSmirnov => V1.DriftMethod.KolmogorovSmirnov,
        Statistics.DriftMethod.NormedWasserstein => V1.DriftMethod.NormedWasserstein,
        Statistics.DriftMethod.JensenShannon => V1.DriftMethod.JensenShannon,
        Statistics.DriftMethod.PopulationStabilityIndex => V1.DriftMethod.PopulationStabilityIndex,
        Statistics.DriftMethod.ChiSquare => V1.DriftMethod.ChiSquare,
        Statistics.DriftMethod.TotalVariation => V1.DriftMethod.TotalVariation,
        Statistics.DriftMethod.ZTest => V1.DriftMethod.ZTest,
        _ => V1.DriftMethod.Unspecified,
    };
}

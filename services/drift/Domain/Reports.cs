using Google.Protobuf.WellKnownTypes;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.Statistics;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>A window's verdict: its features as a dataset, and the model's output on its own.</summary>
/// <param name="Features">Every feature column, and the dataset's share.</param>
/// <param name="Prediction">The prediction column's drift, when the reference names one and the window has predictions.</param>
public sealed record WindowVerdict(DatasetDrift Features, ColumnDrift? Prediction);

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
        };
        report.Columns.AddRange(drift.Columns.Select(Column));
        if (verdict.Prediction is { } prediction)
        {
            report.Prediction = Column(prediction);
        }

        return report;
    }

    /// <summary>One column's verdict as the API shows it.</summary>
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
            UnseenLabels = { column.UnseenLabels },
            MissingRate = column.Quality.MissingRate,
            OutOfRange = column.Quality.OutOfRange,
            Constant = column.Quality.Constant,
        };
        item.Histogram.AddRange(column.Histogram.Select(b => new HistogramBin { Label = b.Bin, ReferenceShare = b.ReferenceShare, CurrentShare = b.CurrentShare }));
        if (column.PValue is { } p)
        {
            item.PValue = p;
        }

        return item;
    }

    /// <summary>The proto name of a method.</summary>
    public static V1.DriftMethod Method(Statistics.DriftMethod method) => method switch
    {
        Statistics.DriftMethod.KolmogorovSmirnov => V1.DriftMethod.KolmogorovSmirnov,
        Statistics.DriftMethod.NormedWasserstein => V1.DriftMethod.NormedWasserstein,
        Statistics.DriftMethod.JensenShannon => V1.DriftMethod.JensenShannon,
        Statistics.DriftMethod.PopulationStabilityIndex => V1.DriftMethod.PopulationStabilityIndex,
        Statistics.DriftMethod.ChiSquare => V1.DriftMethod.ChiSquare,
        Statistics.DriftMethod.TotalVariation => V1.DriftMethod.TotalVariation,
        _ => V1.DriftMethod.Unspecified,
    };
}

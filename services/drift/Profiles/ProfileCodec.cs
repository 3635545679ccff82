using Google.Protobuf;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Profiles;

/// <summary>Profiles to and from the bytes the service stores (<c>modelops.drift.v1.StoredProfile</c>); a round trip changes nothing.</summary>
public static class ProfileCodec
{
    /// <summary>The kind of a proto column kind.</summary>
    public static Profiles.ColumnKind Kind(V1.ColumnKind kind) => kind switch
    {
        V1.ColumnKind.Numeric => Profiles.ColumnKind.Numeric,
        V1.ColumnKind.Categorical => Profiles.ColumnKind.Categorical,
        V1.ColumnKind.Boolean => Profiles.ColumnKind.Boolean,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a column kind"),
    };

    /// <summary>The proto column kind of a kind.</summary>
    public static V1.ColumnKind Kind(Profiles.ColumnKind kind) => kind switch
    {
        Profiles.ColumnKind.Numeric => V1.ColumnKind.Numeric,
        Profiles.ColumnKind.Categorical => V1.ColumnKind.Categorical,
        _ => V1.ColumnKind.Boolean,
    };

    /// <summary>The stored form of a profile.</summary>
    public static byte[] Encode(DatasetProfile profile)
    {
        var stored = new StoredProfile { Rows = profile.Rows };
        foreach (var column in profile.Columns)
        {
            var data = new StoredColumnProfile
            {
                Name = column.Name,
                Kind = Kind(column.Kind),
                Count = column.Count,
                Missing = column.Missing,
                TypeViolations = column.TypeViolations,
                Min = column.Min,
                Max = column.Max,
                Mean = column.Mean,
                SquaredDeviations = column.SquaredDeviations,
                Labels = { column.Labels },
            };
            if (column.Kind == Profiles.ColumnKind.Numeric)
            {
                data.Exact = column.IsExact;
                var (values, counts) = column.ExactValues();
                data.ExactValues.AddRange(values);
                data.ExactCounts.AddRange(counts);
                if (column.Centring is { } centring)
                {
                    (data.Centre, data.Scale) = (centring.Centre, centring.Scale);
                }

                // While the values are exact they are the histogram: it is bucketed from them when read back.
                if (!data.Exact)
                {
                    data.Zeros = column.Histogram.Zeros;
                    Store(column.Histogram, data.PositiveIndex, data.PositiveCount, data.NegativeIndex, data.NegativeCount);
                }

                if (column.Centred is { } centred)
                {
                    data.Centred = new StoredHistogram { Zeros = centred.Zeros };
                    Store(centred, data.Centred.PositiveIndex, data.Centred.PositiveCount, data.Centred.NegativeIndex, data.Centred.NegativeCount);
                }
            }

            stored.Columns.Add(data);
        }

        return stored.ToByteArray();
    }

    /// <summary>A profile back from its stored form.</summary>
    public static DatasetProfile Decode(byte[] bytes)
    {
        var stored = StoredProfile.Parser.ParseFrom(bytes);
        var profile = new DatasetProfile([.. stored.Columns.Select(c => new ColumnSchema(c.Name, Kind(c.Kind)))]);
        profile.RestoreRows(stored.Rows);
        for (var i = 0; i < stored.Columns.Count; i++)
        {
            var data = stored.Columns[i];
            var column = profile.Columns[i];
            column.Restore(data.Count, data.Missing, data.TypeViolations, data.Min, data.Max, data.Mean, data.SquaredDeviations);
            // A profile stored before exact values were kept has none: exact only when it has no value at all.
            column.RestoreExact(data.Exact || data.Count == 0, data.ExactValues, data.ExactCounts);
            if (!column.IsExact)
            {
                column.Histogram.AddZeros(data.Zeros);
                Restore(column.Histogram, data.PositiveIndex, data.PositiveCount, data.NegativeIndex, data.NegativeCount);
            }

            LogHistogram? centred = null;
            if (data.Centred is { } histogram)
            {
                centred = new LogHistogram(Centring.HistogramAccuracy);
                centred.AddZeros(histogram.Zeros);
                Restore(centred, histogram.PositiveIndex, histogram.PositiveCount, histogram.NegativeIndex, histogram.NegativeCount);
            }

            column.RestoreCentred(data.HasCentre && data.HasScale ? new Centring(data.Centre, data.Scale) : null, centred);

            foreach (var (label, count) in data.Labels)
            {
                column.Labels[label] = count;
            }
        }

        return profile;
    }

    private static void Store(LogHistogram histogram, IList<int> positiveIndex, IList<long> positiveCount, IList<int> negativeIndex, IList<long> negativeCount)
    {
        foreach (var (index, count) in histogram.Indexed(positive: true))
        {
            positiveIndex.Add(index);
            positiveCount.Add(count);
        }

        foreach (var (index, count) in histogram.Indexed(positive: false))
        {
            negativeIndex.Add(index);
            negativeCount.Add(count);
        }
    }

    private static void Restore(LogHistogram histogram, IList<int> positiveIndex, IList<long> positiveCount, IList<int> negativeIndex, IList<long> negativeCount)
    {
        for (var k = 0; k < positiveIndex.Count; k++)
        {
            histogram.AddBucket(positive: true, positiveIndex[k], positiveCount[k]);
        }

        for (var k = 0; k < negativeIndex.Count; k++)
        {
            histogram.AddBucket(positive: false, negativeIndex[k], negativeCount[k]);
        }
    }
}

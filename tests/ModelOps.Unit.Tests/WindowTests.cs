extern alias drift;
using drift::ModelOps.Drift.Profiles;
using drift::ModelOps.Drift.Statistics;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Testing;

namespace ModelOps.Unit.Tests.Drift;

/// <summary>Production records into windows: grouping, bad records, replicas, and a shift found within one window.</summary>
public sealed class WindowTests
{
    private static readonly DateTimeOffset Midnight = new(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);

    private static readonly ColumnSchema[] Schema =
    [
        new("income", ColumnKind.Numeric), new("age", ColumnKind.Numeric), new("debt", ColumnKind.Numeric),
        new("tenure", ColumnKind.Numeric), new("region", ColumnKind.Categorical), new("owner", ColumnKind.Boolean),
    ];

    [Fact]
    public void TimeWindowsCloseInOrderOnceTheirLatenessHasPassedAndLaterRecordsAreDropped()
    {
        var windows = new WindowAccumulator(Schema, WindowPolicy.Hourly);
        var stream = new Applications(1);
        for (var minute = 0; minute < 3 * 60; minute++)
        {
            windows.Add(Midnight.AddMinutes(minute), stream.Row(shifted: false));
        }

        Assert.Empty(windows.Close(Midnight.AddHours(1).AddMinutes(4)));
        var closed = windows.Close(Midnight.AddHours(2).AddMinutes(5));
        Assert.Equal([(Midnight, Midnight.AddHours(1), 60L), (Midnight.AddHours(1), Midnight.AddHours(2), 60L)],
            closed.Select(w => (w.Start, w.End, w.Profile.Rows)));
        windows.Add(Midnight.AddMinutes(90), stream.Row(shifted: false));
        Assert.Equal(1, windows.LateRecords);
        Assert.Equal(1, windows.OpenWindows);
    }

    [Fact]
    public void CountWindowsCloseWhenFull()
    {
        var windows = new WindowAccumulator(Schema, WindowPolicy.OfRecords(1000));
        var stream = new Applications(2);
        var closed = Enumerable.Range(0, 2500).Select(i => windows.Add(Midnight.AddSeconds(i), stream.Row(shifted: false))).OfType<ClosedWindow>().ToList();
        Assert.Equal([(Midnight, Midnight.AddSeconds(999)), (Midnight.AddSeconds(1000), Midnight.AddSeconds(1999))], closed.Select(w => (w.Start, w.End)));
        Assert.All(closed, w => Assert.Equal(1000, w.Profile.Rows));
        Assert.Equal(1, windows.OpenWindows);
        Assert.Empty(windows.Close(Midnight.AddDays(1)));
    }

    [Fact]
    public void ARecordThatDoesNotFitTheSchemaIsRefusedNamingTheColumnAndNothingOfItIsCounted()
    {
        var windows = new WindowAccumulator(Schema, WindowPolicy.Hourly);
        var unknown = Assert.Throws<SchemaMismatchException>(() => windows.Add(Midnight, new Dictionary<string, FeatureValue> { ["salary"] = FeatureValue.Of(1.0) }));
        Assert.Equal("salary", unknown.Column);
        Assert.Equal(0, windows.OpenWindows);
        var wrongKind = Assert.Throws<SchemaMismatchException>(() => windows.Add(Midnight, new Dictionary<string, FeatureValue>
        {
            ["income"] = FeatureValue.Of(10.0), ["region"] = FeatureValue.Of(3.0),
        }));
        Assert.Equal(("region", "'region' is categorical in the reference schema; the record gives the number 3"), (wrongKind.Column, wrongKind.Message));

        // NaN, infinities, nulls, empty labels and absent columns are missing values, not errors.
        windows.Add(Midnight, new Dictionary<string, FeatureValue>
        {
            ["income"] = FeatureValue.Of(double.NaN), ["age"] = FeatureValue.Of(double.NegativeInfinity), ["debt"] = FeatureValue.Missing,
            ["region"] = FeatureValue.Of(""),
        });
        var window = windows.Close(Midnight.AddDays(1)).Single();
        Assert.Equal(1, window.Profile.Rows);
        Assert.All(window.Profile.Columns, c => Assert.Equal((0L, 1L), (c.Count, c.Missing)));
    }

    [Fact]
    public void TheSameWindowFromTwoReplicasMergesIntoTheProfileOfAllItsRecords()
    {
        var single = new WindowAccumulator(Schema, WindowPolicy.Hourly);
        var replicas = new[] { new WindowAccumulator(Schema, WindowPolicy.Hourly), new WindowAccumulator(Schema, WindowPolicy.Hourly) };
        var stream = new Applications(3);
        for (var i = 0; i < 5000; i++)
        {
            var row = stream.Row(shifted: false);
            var at = Midnight.AddSeconds(i / 2.0);
            single.Add(at, row);
            replicas[i % 2].Add(at, row);
        }

        var whole = single.Close(Midnight.AddDays(1)).Single().Profile;
        var merged = replicas[0].Close(Midnight.AddDays(1)).Single().Profile;
        merged.Merge(replicas[1].Close(Midnight.AddDays(1)).Single().Profile);
        Assert.Equal(whole.Rows, merged.Rows);
        for (var c = 0; c < Schema.Length; c++)
        {
            Assert.Equal((whole.Columns[c].Count, whole.Columns[c].Missing), (merged.Columns[c].Count, merged.Columns[c].Missing));
            Assert.Equal(whole.Columns[c].Histogram.Buckets(), merged.Columns[c].Histogram.Buckets());
            Assert.Equal(whole.Columns[c].Labels.OrderBy(l => l.Key), merged.Columns[c].Labels.OrderBy(l => l.Key));
        }
    }

    [Fact]
    public void AShiftInjectedIntoTwoFeaturesIsFoundInTheFirstWindowItAffects()
    {
        var stream = new Applications(4);
        var reference = new DatasetProfile(Schema);
        for (var i = 0; i < 20_000; i++)
        {
            reference.Add(stream.Row(shifted: false));
        }

        // Six hours of traffic, 2000 records an hour; from hour 4 on, income and debt move.
        var windows = new WindowAccumulator(Schema, WindowPolicy.Hourly);
        for (var i = 0; i < 6 * 2000; i++)
        {
            var at = Midnight.AddSeconds(i * 1.8);
            windows.Add(at, stream.Row(shifted: at >= Midnight.AddHours(4)));
        }

        var verdicts = windows.Close(Midnight.AddDays(1))
            .Select(w => (w.Start.Hour, Drifted: DriftAnalysis.CompareDataset(reference.Columns, w.Profile.ByName).Columns.Where(c => c.Drifted).Select(c => c.Column).ToList()))
            .ToList();
        Assert.Equal([0, 1, 2, 3, 4, 5], verdicts.Select(v => v.Hour));
        Assert.All(verdicts.Take(4), v => Assert.Empty(v.Drifted));
        Assert.All(verdicts.Skip(4), v => Assert.Equal(["income", "debt"], v.Drifted));
    }

    /// <summary>The shared loan traffic (ModelOps.Testing), as the domain's feature values.</summary>
    private sealed class Applications(ulong seed)
    {
        private readonly LoanTraffic _traffic = new(seed);

        public Dictionary<string, FeatureValue> Row(bool shifted) => _traffic.Features(shifted).ToDictionary(f => f.Key, f => f.Value.KindCase switch
        {
            Value.KindOneofCase.NumberValue => FeatureValue.Of(f.Value.NumberValue),
            Value.KindOneofCase.StringValue => FeatureValue.Of(f.Value.StringValue),
            Value.KindOneofCase.BoolValue => FeatureValue.Of(f.Value.BoolValue),
            _ => FeatureValue.Missing,
        });
    }
}

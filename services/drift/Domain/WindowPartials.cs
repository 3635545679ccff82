using ModelOps.Drift.Profiles;

namespace ModelOps.Drift.Domain;

/// <summary>One ingest call's contribution to one window: a profile that merges with the others of that window.</summary>
/// <param name="CountWindow">Whether the window is a count window.</param>
/// <param name="Key">A time window's start in Unix seconds, or a count window's index.</param>
/// <param name="First">Its earliest record's time.</param>
/// <param name="Last">Its latest record's time.</param>
/// <param name="Profile">The records' profile.</param>
/// <param name="DueAt">When a time window stops taking records (its end plus the allowed lateness); null for count windows.</param>
public sealed record WindowPartial(bool CountWindow, long Key, DateTimeOffset First, DateTimeOffset Last, DatasetProfile Profile, DateTimeOffset? DueAt);

/// <summary>A checked record of one model version.</summary>
/// <param name="At">When the prediction was made.</param>
/// <param name="Row">Its feature values (and its prediction, under the reference's prediction column).</param>
/// <param name="RequestId">Its request id, or empty.</param>
public sealed record CheckedRecord(DateTimeOffset At, IReadOnlyDictionary<string, FeatureValue> Row, string RequestId = "");

/// <summary>Groups records into the windows of a policy and profiles each group.</summary>
public static class WindowPartials
{
    /// <summary>
    /// The partials of <paramref name="records"/>: by time window, or, for count windows, by the index of each record's
    /// number (<paramref name="firstNumber"/> is the number of the first).
    /// </summary>
    public static List<WindowPartial> Build(
        IReadOnlyList<ColumnSchema> schema, WindowPolicy policy, IReadOnlyList<CheckedRecord> records, long firstNumber = 0, int exactCap = ColumnProfile.ExactCap)
    {
        var groups = new Dictionary<long, (DateTimeOffset First, DateTimeOffset Last, DatasetProfile Profile)>();
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            var key = Key(policy, record.At, firstNumber + i);
            if (!groups.TryGetValue(key, out var group))
            {
                group = (record.At, record.At, new DatasetProfile(schema, exactCap));
            }

            group.Profile.Add(record.Row);
            groups[key] = (record.At < group.First ? record.At : group.First, record.At > group.Last ? record.At : group.Last, group.Profile);
        }

        return [.. groups.OrderBy(g => g.Key).Select(g => new WindowPartial(
            policy.Duration is null, g.Key, g.Value.First, g.Value.Last, g.Value.Profile, Due(policy, g.Key)))];
    }

    /// <summary>
    /// The partials of the rows <paramref name="indices"/> of a column-by-column batch, grouped as <see cref="Build"/>
    /// groups records (for count windows, the k-th listed row has number <paramref name="firstNumber"/> + k).
    /// </summary>
    public static List<WindowPartial> BuildColumnar(
        IReadOnlyList<ColumnSchema> schema, WindowPolicy policy, IReadOnlyList<DateTimeOffset> at, IReadOnlyDictionary<string, ColumnValues> columns,
        IReadOnlyList<int> indices, long firstNumber = 0, int exactCap = ColumnProfile.ExactCap)
    {
        var groups = new Dictionary<long, (DateTimeOffset First, DateTimeOffset Last, List<int> Rows)>();
        for (var k = 0; k < indices.Count; k++)
        {
            var when = at[indices[k]];
            var key = Key(policy, when, firstNumber + k);
            groups[key] = groups.TryGetValue(key, out var group)
                ? (when < group.First ? when : group.First, when > group.Last ? when : group.Last, group.Rows)
                : (when, when, []);
            groups[key].Rows.Add(indices[k]);
        }

        return [.. groups.OrderBy(g => g.Key).Select(g =>
        {
            var profile = new DatasetProfile(schema, exactCap);
            profile.AddRows(columns, g.Value.Rows);
            return new WindowPartial(policy.Duration is null, g.Key, g.Value.First, g.Value.Last, profile, Due(policy, g.Key));
        })];
    }

    /// <summary>Partials of the same window merged into one (a call that sent both records and batches).</summary>
    public static List<WindowPartial> Combine(IEnumerable<WindowPartial> partials) =>
        [.. partials.GroupBy(p => p.Key).OrderBy(g => g.Key).Select(g => g.Aggregate((a, b) =>
        {
            a.Profile.Merge(b.Profile);
            return a with { First = a.First < b.First ? a.First : b.First, Last = a.Last > b.Last ? a.Last : b.Last };
        }))];

    /// <summary>The key of the window of a record made at <paramref name="at"/> with number <paramref name="number"/>: a time window's start in Unix seconds (durations are whole seconds), or a count window's index.</summary>
    public static long Key(WindowPolicy policy, DateTimeOffset at, long number) => policy.Duration is not null
        ? policy.WindowStart(at).ToUnixTimeSeconds()
        : number / policy.Records!.Value;

    private static DateTimeOffset? Due(WindowPolicy policy, long key) =>
        policy.Duration is not null ? policy.DueAt(DateTimeOffset.FromUnixTimeSeconds(key)) : null;
}

namespace ModelOps.Drift.Profiles;

/// <summary>How production records are grouped: tumbling windows of a fixed duration (aligned to the Unix epoch) or of a fixed number of records.</summary>
/// <param name="Duration">The length of a time window; null for count windows.</param>
/// <param name="Records">The size of a count window; null for time windows.</param>
/// <param name="AllowedLateness">How long after its end a time window still takes records that arrive late.</param>
public sealed record WindowPolicy(TimeSpan? Duration, long? Records, TimeSpan AllowedLateness)
{
    /// <summary>Hourly windows taking records up to five minutes late.</summary>
    public static WindowPolicy Hourly { get; } = new(TimeSpan.FromHours(1), null, TimeSpan.FromMinutes(5));

    /// <summary>Windows of <paramref name="records"/> records.</summary>
    public static WindowPolicy OfRecords(long records) => new(null, records, TimeSpan.Zero);

    /// <summary>The start of the time window that holds <paramref name="at"/>: windows are aligned to the Unix epoch, so every replica agrees.</summary>
    public DateTimeOffset WindowStart(DateTimeOffset at)
    {
        var length = Duration!.Value.Ticks;
        var ticks = (at - DateTimeOffset.UnixEpoch).Ticks;
        var index = ticks >= 0 ? ticks / length : -((-ticks + length - 1) / length);
        return DateTimeOffset.UnixEpoch + TimeSpan.FromTicks(index * length);
    }

    /// <summary>When the time window starting at <paramref name="start"/> stops taking records: its end plus the allowed lateness.</summary>
    public DateTimeOffset DueAt(DateTimeOffset start) => start + Duration!.Value + AllowedLateness;

    /// <summary>Whether a record made at <paramref name="at"/> comes too late, at <paramref name="now"/>, for its time window (never for count windows).</summary>
    public bool IsLate(DateTimeOffset at, DateTimeOffset now) => Duration is not null && DueAt(WindowStart(at)) <= now;
}

/// <summary>A window that will take no more records.</summary>
/// <param name="Start">Its start (inclusive): for a count window, its first record's time.</param>
/// <param name="End">Its end (exclusive): for a count window, its last record's time.</param>
/// <param name="Profile">What it held.</param>
public sealed record ClosedWindow(DateTimeOffset Start, DateTimeOffset End, DatasetProfile Profile);

/// <summary>
/// Groups one model version's records into tumbling windows and profiles each as records arrive; no row is kept.
/// Time windows are the same on every replica (aligned to the epoch), so their profiles from several replicas merge
/// into the window's; count windows are per replica. A record for a time window closed already is counted in
/// <see cref="LateRecords"/> and dropped.
/// </summary>
public sealed class WindowAccumulator(IReadOnlyList<ColumnSchema> schema, WindowPolicy policy)
{
    private readonly SortedDictionary<DateTimeOffset, DatasetProfile> _open = [];
    private DateTimeOffset _closedBefore = DateTimeOffset.MinValue;
    private (DateTimeOffset First, DateTimeOffset Last, DatasetProfile Profile)? _counting;

    /// <summary>Records dropped because their window had closed.</summary>
    public long LateRecords { get; private set; }

    /// <summary>Windows open now (time windows awaiting their end, or the current count window).</summary>
    public int OpenWindows => _open.Count + (_counting is null ? 0 : 1);

    /// <summary>Checks and adds a record; a full count window is returned closed.</summary>
    public ClosedWindow? Add(DateTimeOffset timestamp, IReadOnlyDictionary<string, FeatureValue> row)
    {
        if (policy.Duration is not null)
        {
            var start = policy.WindowStart(timestamp);
            if (start < _closedBefore)
            {
                LateRecords++;
                return null;
            }

            if (!_open.TryGetValue(start, out var profile))
            {
                profile = new DatasetProfile(schema);
                profile.Check(row);
                _open.Add(start, profile);
            }
            else
            {
                profile.Check(row);
            }

            profile.Add(row);
            return null;
        }

        var counting = _counting ?? (timestamp, timestamp, new DatasetProfile(schema));
        counting.Profile.Check(row);
        counting.Profile.Add(row);
        counting = (counting.First, timestamp > counting.Last ? timestamp : counting.Last, counting.Profile);
        if (counting.Profile.Rows >= policy.Records)
        {
            _counting = null;
            return new ClosedWindow(counting.First, counting.Last, counting.Profile);
        }

        _counting = counting;
        return null;
    }

    /// <summary>The time windows whose end plus the allowed lateness has passed at <paramref name="now"/>, oldest first.</summary>
    public IReadOnlyList<ClosedWindow> Close(DateTimeOffset now)
    {
        if (policy.Duration is not { } duration)
        {
            return [];
        }

        var closed = new List<ClosedWindow>();
        foreach (var (start, profile) in _open.ToList())
        {
            if (policy.DueAt(start) > now)
            {
                break;
            }

            _open.Remove(start);
            closed.Add(new ClosedWindow(start, start + duration, profile));
            _closedBefore = start + duration;
        }

        return closed;
    }
}

using Google.Protobuf.WellKnownTypes;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>
/// One rule for every <c>google.protobuf.Timestamp</c> a service accepts, and one precision for every instant it
/// stores and serves.
/// <list type="bullet">
/// <item>A timestamp is valid when its nanos lie in [0, 10⁹) and it falls in [1970-01-01T00:00:00Z,
/// 9999-12-31T23:59:59.999999Z].</item>
/// <item>An instant at which something happened (an end time, an event's time) may not lie more than
/// <see cref="FutureTolerance"/> ahead of the service's clock.</item>
/// <item>Instants are kept to the microsecond, PostgreSQL's precision: what is stored, signed and served is the
/// same instant.</item>
/// </list>
/// </summary>
public static class Timestamps
{
    /// <summary>The earliest instant accepted.</summary>
    public static readonly DateTimeOffset Earliest = DateTimeOffset.UnixEpoch;

    /// <summary>The latest instant accepted.</summary>
    public static readonly DateTimeOffset Latest = new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero).AddTicks(9_999_990);

    /// <summary>How far ahead of the service's clock a past event's time may be (clock skew between machines).</summary>
    public static readonly TimeSpan FutureTolerance = TimeSpan.FromMinutes(5);

    private const long MaxSeconds = 253_402_300_799; // 9999-12-31T23:59:59Z

    /// <summary>
    /// Checks <paramref name="value"/> against the rule; returns it truncated to the microsecond, or null when absent
    /// (a violation when <paramref name="required"/>). With <paramref name="happened"/>, it may not lie in the future.
    /// </summary>
    public static DateTimeOffset? Check(FieldViolations violations, string field, Timestamp? value, bool required = false, bool happened = false)
    {
        if (value is null)
        {
            violations.Require(!required, field, "is required");
            return null;
        }

        if (value.Nanos is < 0 or > 999_999_999 || value.Seconds is < 0 or > MaxSeconds)
        {
            violations.Add(field, "must lie in [1970-01-01T00:00:00Z, 9999-12-31T23:59:59.999999Z] with nanos in [0, 999999999]");
            return null;
        }

        var instant = Truncate(value.ToDateTimeOffset());
        if (happened && instant > DateTimeOffset.UtcNow + FutureTolerance)
        {
            violations.Add(field, "lies in the future");
            return null;
        }

        return instant;
    }

    /// <summary><paramref name="value"/> to the microsecond, in UTC.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);
    }

    /// <summary>The service's clock, to the microsecond.</summary>
    public static DateTimeOffset Now() => Truncate(DateTimeOffset.UtcNow);
}

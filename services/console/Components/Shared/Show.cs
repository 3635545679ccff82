using System.Globalization;
using Google.Protobuf.WellKnownTypes;

namespace ModelOps.Console.Components.Shared;

/// <summary>How the console's pages write times: UTC, to the minute, empty when unset.</summary>
public static class Show
{
    /// <summary>"2026-12-01 09:00 UTC".</summary>
    public static string Time(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "";

    /// <summary>A protobuf time, as <see cref="Time(DateTimeOffset?)"/>.</summary>
    public static string Time(Timestamp? at) => Time(at?.ToDateTimeOffset());
}

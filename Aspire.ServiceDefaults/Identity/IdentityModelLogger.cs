using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Abstractions;

namespace ModelOps.ServiceDefaults.Identity;

/// <summary>
/// Forwards Microsoft.IdentityModel's own log (where a failure to fetch an issuer's metadata or keys is reported)
/// to the service's logger; otherwise such failures surface only as unexplained 401s.
/// </summary>
internal sealed class IdentityModelLogger(ILogger logger) : IIdentityLogger
{
    public bool IsEnabled(EventLogLevel eventLogLevel) => logger.IsEnabled(Map(eventLogLevel));

    public void Log(LogEntry entry)
    {
#pragma warning disable CA2254 // The message is IdentityModel's own, already formatted.
        logger.Log(Map(entry.EventLogLevel), entry.Message);
#pragma warning restore CA2254
    }

    private static LogLevel Map(EventLogLevel level) => level switch
    {
        EventLogLevel.Critical => LogLevel.Critical,
        EventLogLevel.Error => LogLevel.Error,
        EventLogLevel.Warning => LogLevel.Warning,
        EventLogLevel.Informational => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}

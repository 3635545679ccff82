using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace ModelOps.ServiceDefaults;

/// <summary>
/// Logs readiness as it changes, in place of the health check service's own log, which writes a failure line for every
/// unhealthy check at every run: while a service starts, its bus is "not started" for a few seconds, and every probe
/// of <c>/health</c> printed that as a failure before the service was ready. Here, a check that is not healthy yet
/// before the service was first ready is told once, as information ("waiting for"); once ready, a check that turns
/// degraded or unhealthy is a warning or an error, told once per change, with its exception, and its recovery is told too.
/// Runs as a health check publisher (every <see cref="Period"/>).
/// </summary>
public sealed partial class HealthLog(ILogger<HealthLog> logger) : IHealthCheckPublisher
{
    /// <summary>How often the checks run for this log (and for the gRPC health service's cache).</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, HealthStatus> _last = [];
    private readonly Lock _lock = new();
    private bool _ready;

    /// <inheritdoc />
    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var (name, entry) in report.Entries)
            {
                var seen = _last.TryGetValue(name, out var before);
                if (seen && before == entry.Status)
                {
                    continue;
                }

                _last[name] = entry.Status;
                switch (entry.Status)
                {
                    case HealthStatus.Healthy when seen && _ready:
                        LogRecovered(logger, name);
                        break;
                    case HealthStatus.Healthy:
                        break;
                    case var status when !_ready:
                        LogWaiting(logger, name, entry.Description ?? status.ToString());
                        break;
                    case HealthStatus.Degraded:
                        LogDegraded(logger, entry.Exception, name, entry.Description ?? "");
                        break;
                    default:
                        LogUnhealthy(logger, entry.Exception, name, entry.Description ?? "");
                        break;
                }
            }

            if (!_ready && report.Status == HealthStatus.Healthy)
            {
                _ready = true;
                LogReady(logger, report.Entries.Count);
            }
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Waiting for {Check}: {Description}")]
    private static partial void LogWaiting(ILogger logger, string check, string description);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ready: all {Count} health checks pass")]
    private static partial void LogReady(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Health check {Check} is degraded: {Description}")]
    private static partial void LogDegraded(ILogger logger, Exception? exception, string check, string description);

    [LoggerMessage(Level = LogLevel.Error, Message = "Health check {Check} failed: {Description}")]
    private static partial void LogUnhealthy(ILogger logger, Exception? exception, string check, string description);

    [LoggerMessage(Level = LogLevel.Information, Message = "Health check {Check} is healthy again")]
    private static partial void LogRecovered(ILogger logger, string check);
}

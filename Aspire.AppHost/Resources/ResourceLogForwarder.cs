using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Logging;
using ModelOps.Hosting.Local;

namespace ModelOps.AppHost.Resources;

/// <summary>
/// What the local servers print, as the console logs of their resources in the dashboard (by resource name), instead of
/// the AppHost's console.
/// </summary>
public sealed class ResourceLogForwarder() : ProcessLog(TextWriter.Null, colour: false)
{
    private ResourceLoggerService? _loggers;

    /// <summary>Starts forwarding to <paramref name="loggers"/> (once the application is built).</summary>
    public void Attach(ResourceLoggerService loggers) => _loggers ??= loggers;

    /// <inheritdoc />
#pragma warning disable CA1848, CA2254 // A process's own line is the message; there is no template to cache.
    public override void Write(string resource, string line, bool isError = false)
    {
        if (_loggers?.GetLogger(resource) is { } logger)
        {
            logger.Log(isError ? LogLevel.Error : LogLevel.Information, line);
        }
    }
#pragma warning restore CA1848, CA2254
}

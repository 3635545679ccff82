using Microsoft.Extensions.Options;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Alerting.Dispatch;

/// <summary>
/// Loads the configuration before alerts are handled: the file named by <c>Alerting:ConfigFile</c> becomes a new
/// version when its text differs from the latest one; otherwise the latest stored version is used, or, on a new
/// database, one that records alerts and tells nobody. Then it follows versions other replicas store.
/// </summary>
public sealed partial class ConfigBootstrap(
    AlertStore store, ConfigState configs, IOptions<AlertingOptions> options, TimeProvider clock, ILogger<ConfigBootstrap> logger) : BackgroundService
{
    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // The database may still be starting: transient faults are waited out, a bad file is fatal.
        while (true)
        {
            try
            {
                await LoadAsync(cancellationToken);
                break;
            }
            catch (Exception exception) when (TransientFaults.IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                LogWaiting(logger, exception);
                await Task.Delay(TimeSpan.FromSeconds(1), clock, cancellationToken);
            }
        }

        await base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ConfigRefreshEvery, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                if (await store.LatestVersionAsync(stoppingToken) > configs.Current.Version && await store.LatestConfigAsync(stoppingToken) is { } latest)
                {
                    configs.Offer(latest);
                    LogFollowed(logger, latest.Version);
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogRefreshFailed(logger, exception);
            }
        }
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (options.Value.ConfigFile is { Length: > 0 } path)
        {
            var yaml = await File.ReadAllTextAsync(path, cancellationToken);
            try
            {
                var (config, changed) = await store.SaveConfigAsync(yaml, "alerting", $"loaded from {Path.GetFileName(path)} at start-up", now, cancellationToken);
                configs.Offer(config);
                LogLoaded(logger, config.Version, changed ? "a new version" : "unchanged");
                return;
            }
            catch (ConfigException e)
            {
                throw new InvalidOperationException($"Alerting:ConfigFile {path} is not a valid configuration: {e.Message}", e);
            }
        }

        var latest = await store.LatestConfigAsync(cancellationToken)
                     ?? (await store.SaveConfigAsync(ActiveConfig.Initial, "alerting", "initial configuration: nobody is notified", now, cancellationToken)).Config;
        configs.Offer(latest);
        LogLoaded(logger, latest.Version, "stored");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Alerting configuration version {Version} in force ({How})")]
    private static partial void LogLoaded(ILogger logger, int version, string how);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alerting configuration version {Version}, stored by another replica, is now in force")]
    private static partial void LogFollowed(ILogger logger, int version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for the database to load the alerting configuration")]
    private static partial void LogWaiting(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check for a newer alerting configuration")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);
}

using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using ModelOps.ServiceDefaults;

namespace ModelOps.Unit.Tests;

/// <summary>What a service logs of its readiness (<see cref="HealthLog"/>): start-up is not a failure, a change after it is.</summary>
public sealed class HealthLogTests
{
    [Fact]
    public async Task StartUpIsToldOnceAsWaitingThenReadyAndNoFailureIsLoggedBeforeReady()
    {
        var (log, lines) = Capture();
        // The bus is not started for a few probes, as it is while a service starts.
        for (var probe = 0; probe < 5; probe++)
        {
            await Publish(log, Report(("db", HealthStatus.Healthy, null), ("masstransit-bus", HealthStatus.Unhealthy, "Not ready: not started")));
        }

        await Publish(log, Report(("db", HealthStatus.Healthy, null), ("masstransit-bus", HealthStatus.Healthy, null)));
        await Publish(log, Report(("db", HealthStatus.Healthy, null), ("masstransit-bus", HealthStatus.Healthy, null)));

        Assert.Equal(
            [(LogLevel.Information, "Waiting for masstransit-bus: Not ready: not started"), (LogLevel.Information, "Ready: all 2 health checks pass")],
            lines);
    }

    [Fact]
    public async Task AfterReadyAFailureIsAnErrorOncePerChangeWithItsExceptionAndItsRecoveryIsTold()
    {
        var (log, lines) = Capture();
        await Publish(log, Report(("db", HealthStatus.Healthy, null)));
        var down = new InvalidOperationException("connection refused");
        for (var probe = 0; probe < 3; probe++)
        {
            await Publish(log, Report([("db", HealthStatus.Unhealthy, "The database does not answer")], down));
        }

        await Publish(log, Report(("db", HealthStatus.Degraded, "slow")));
        await Publish(log, Report(("db", HealthStatus.Healthy, null)));

        Assert.Equal(
        [
            (LogLevel.Information, "Ready: all 1 health checks pass"),
            (LogLevel.Error, "Health check db failed: The database does not answer (connection refused)"),
            (LogLevel.Warning, "Health check db is degraded: slow"),
            (LogLevel.Information, "Health check db is healthy again"),
        ], lines);
    }

    private static Task Publish(HealthLog log, HealthReport report) => log.PublishAsync(report, TestContext.Current.CancellationToken);

    private static HealthReport Report(params (string Name, HealthStatus Status, string? Description)[] checks) => Report(checks, null);

    // A report whose entries carry exception.
    private static HealthReport Report((string Name, HealthStatus Status, string? Description)[] checks, Exception? exception) =>
        new(checks.ToDictionary(c => c.Name, c => new HealthReportEntry(c.Status, c.Description, TimeSpan.Zero, exception, null)), TimeSpan.Zero);

    private static (HealthLog Log, List<(LogLevel, string)> Lines) Capture()
    {
        var lines = new List<(LogLevel, string)>();
        return (new HealthLog(new ListLogger(lines)), lines);
    }

    private sealed class ListLogger(List<(LogLevel, string)> lines) : ILogger<HealthLog>
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Add((logLevel, formatter(state, exception) + (exception is null ? "" : $" ({exception.Message})")));
    }
}

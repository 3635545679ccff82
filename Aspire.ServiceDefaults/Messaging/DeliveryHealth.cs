using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// What a service knows of the delivery of the events it consumes: which deliveries are being retried on a transient
/// fault of its infrastructure right now, and how many events are parked for a person to look at. Both turn the
/// service's health Degraded (visible in <c>/health</c>) and are counted as metrics, so that an outage and a poison
/// event are seen, not silently absorbed.
/// </summary>
public sealed partial class DeliveryHealth : IRetryObserver, IHealthCheck
{
    private readonly Lock _lock = new();
    private DateTimeOffset? _faultingSince;
    private string _fault = "";
    private readonly ConcurrentDictionary<string, long> _parked = new(StringComparer.Ordinal);
    private readonly ILogger<DeliveryHealth> _logger;
    private readonly Counter<long> _transientRetries;
    private readonly Counter<long> _redelivered;

    /// <summary>A monitor whose metrics are in <paramref name="service"/>'s meter.</summary>
    public DeliveryHealth(ServiceInfo service, ILogger<DeliveryHealth> logger)
    {
        _logger = logger;
        var meter = new Meter(service.ActivitySource.Name);
        _transientRetries = meter.CreateCounter<long>("modelops.messaging.transient_retries", description: "Deliveries retried on a transient fault");
        _redelivered = meter.CreateCounter<long>("modelops.messaging.redelivered", description: "Parked deliveries sent back to their queue");
        meter.CreateObservableGauge("modelops.messaging.retrying", () => Retrying ? 1L : 0L, description: "1 while deliveries are retried on a transient fault");
        meter.CreateObservableGauge("modelops.messaging.parked", () => _parked.Values.Sum(), description: "Events parked after every redelivery failed");
    }

    /// <summary>
    /// Whether deliveries are being retried on a transient fault: a transient fault was seen and no retried delivery has
    /// succeeded since (a count per delivery could leak; the fault's start and the first recovery cannot).
    /// </summary>
    public bool Retrying
    {
        get
        {
            lock (_lock)
            {
                return _faultingSince is not null;
            }
        }
    }

    /// <summary>Events parked, across this service's queues.</summary>
    public long Parked => _parked.Values.Sum();

    /// <summary>Records how many events <paramref name="queue"/> holds parked.</summary>
    public void SetParked(string queue, long count)
    {
        var previous = _parked.GetValueOrDefault(queue);
        _parked[queue] = count;
        if (count > previous)
        {
            LogParked(_logger, count, queue);
        }
    }

    /// <summary>Counts a parked delivery sent back to its queue.</summary>
    public void Redelivered(string queue) => _redelivered.Add(1, new KeyValuePair<string, object?>("queue", queue));

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var parked = Parked;
        DateTimeOffset? since;
        string fault;
        lock (_lock)
        {
            (since, fault) = (_faultingSince, _fault);
        }

        if (since is null && parked == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy("Every event is being delivered."));
        }

        var data = new Dictionary<string, object> { ["retrying"] = since is not null, ["parked"] = parked };
        var description = since is null
            ? $"{parked} events are parked after every redelivery failed: see the *_parked queues."
            : $"Deliveries are being retried on a transient fault ({fault}) since {since:O}.";
        return Task.FromResult(HealthCheckResult.Degraded(description, data: data));
    }

    /// <inheritdoc />
    public Task PostCreate<T>(RetryPolicyContext<T> context) where T : class, PipeContext => Task.CompletedTask;

    /// <inheritdoc />
    public Task PostFault<T>(RetryContext<T> context) where T : class, PipeContext
    {
        if (context.Exception is { } exception && TransientFaults.IsTransient(exception))
        {
            _transientRetries.Add(1);
            var started = false;
            lock (_lock)
            {
                if (_faultingSince is null)
                {
                    (_faultingSince, _fault, started) = (DateTimeOffset.UtcNow, exception.GetType().Name, true);
                }
            }

            if (started)
            {
                LogRetrying(_logger, exception.GetType().Name, exception.Message);
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task PreRetry<T>(RetryContext<T> context) where T : class, PipeContext => Task.CompletedTask;

    /// <inheritdoc />
    public Task RetryFault<T>(RetryContext<T> context) where T : class, PipeContext => Task.CompletedTask;

    /// <inheritdoc />
    public Task RetryComplete<T>(RetryContext<T> context) where T : class, PipeContext
    {
        DateTimeOffset? since;
        lock (_lock)
        {
            (since, _faultingSince) = (_faultingSince, null);
        }

        if (since is { } start)
        {
            LogRecovered(_logger, DateTimeOffset.UtcNow - start);
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivering an event failed on a transient fault ({Fault}: {Detail}); retrying until it succeeds")]
    private static partial void LogRetrying(ILogger logger, string fault, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "A delivery retried on a transient fault succeeded after {Elapsed}")]
    private static partial void LogRecovered(ILogger logger, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Count} events are parked in {Queue} after every redelivery failed: they need a person")]
    private static partial void LogParked(ILogger logger, long count, string queue);
}

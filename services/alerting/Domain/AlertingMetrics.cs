using System.Diagnostics.Metrics;

namespace ModelOps.Alerting.Domain;

/// <summary>Alerting's Prometheus metrics (on <c>/metrics</c>), on the service's meter (<c>ModelOps.Alerting</c>).</summary>
public sealed class AlertingMetrics
{
    private readonly Counter<long> _received;
    private readonly Counter<long> _notifications;
    private readonly Histogram<double> _latency;
    private long _firing;
    private long _pending;

    /// <summary>Creates the instruments.</summary>
    public AlertingMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ModelOps.Alerting");
        _received = meter.CreateCounter<long>("modelops.alerting.alerts_received", description: "Alerts received, by source (api, finding)");
        _notifications = meter.CreateCounter<long>("modelops.alerting.notifications",
            description: "Notification attempts by receiver, integration and outcome (sent, failed: to be retried, dead: given up)");
        _latency = meter.CreateHistogram<double>("modelops.alerting.notification_latency", unit: "s",
            description: "From a notification's decision (after group_wait or group_interval) to its receiver's acceptance");
        meter.CreateObservableGauge("modelops.alerting.alerts_firing", () => Interlocked.Read(ref _firing), description: "Alerts firing now");
        meter.CreateObservableGauge("modelops.alerting.deliveries_pending", () => Interlocked.Read(ref _pending),
            description: "Notifications decided and not yet accepted by their receiver");
    }

    /// <summary>Counts received alerts.</summary>
    public void Received(string source, int count) => _received.Add(count, new KeyValuePair<string, object?>("source", source));

    /// <summary>Counts an attempt's outcome, and the latency of a sent one.</summary>
    public void Attempted(string receiver, string integration, string outcome, TimeSpan? latency)
    {
        _notifications.Add(1, new("receiver", receiver), new("integration", integration), new("outcome", outcome));
        if (latency is { } l)
        {
            _latency.Record(l.TotalSeconds, new KeyValuePair<string, object?>("receiver", receiver));
        }
    }

    /// <summary>Sets the gauges from the stored state.</summary>
    public void Update(long firing, long pending)
    {
        Interlocked.Exchange(ref _firing, firing);
        Interlocked.Exchange(ref _pending, pending);
    }
}

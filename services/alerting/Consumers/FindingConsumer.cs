using MassTransit;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;
using ModelOps.Contracts;
using ModelOps.ServiceDefaults.Messaging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ModelOps.Alerting.Consumers;

/// <summary>
/// Turns every finding on the bus (<see cref="IFinding"/>: drift, concept drift, promotion requests and gate failures,
/// integrity violations, and any later kind) into an alert routed by its labels, or ends the alerts a resolution names.
/// Once per event: the inbox row and the alert commit together. A finding's alert fires from when the finding
/// occurred until a resolution ends it (or for <see cref="IFinding.FiresFor"/>).
/// </summary>
public sealed partial class FindingConsumer(
    NpgsqlDataSource dataSource, AlertStore store, ConfigState configs, AlertingMetrics metrics, IOptions<AlertingOptions> options, TimeProvider clock,
    ILogger<FindingConsumer> logger)
    : IdempotentConsumer<IFinding>(dataSource)
{
    /// <inheritdoc />
    protected override async Task ConsumeOnceAsync(ConsumeContext<IFinding> context, NpgsqlTransaction transaction)
    {
        var finding = context.Message;
        var labels = finding.AlertLabels ?? new Dictionary<string, string>();
        var now = clock.GetUtcNow();
        if (finding.Resolves)
        {
            // An empty set of labels would end every alert: a finding that says so is a defect, and is ignored.
            if (labels.Count == 0)
            {
                LogIgnored(logger, finding.EventId, "a resolution with no labels");
                return;
            }

            await store.ResolveAsync(transaction, labels, finding.OccurredAt, context.CancellationToken);
            return;
        }

        var alert = new Alert
        {
            Labels = new LabelSet(labels),
            Annotations = Annotations(finding),
            StartsAt = finding.OccurredAt,
            EndsAt = finding.FiresFor is { } span ? finding.OccurredAt + span : AlertStore.Forever,
            UpdatedAt = now,
        };
        if (alert.Problem() is { } problem)
        {
            LogIgnored(logger, finding.EventId, problem);
            return;
        }

        var config = configs.Current;
        await store.IngestAsync(transaction, [alert], "finding", config, now, context.CancellationToken);
        metrics.Received("finding", 1);

        // A finding that meets a retraining policy asks for a retraining (once, with the inbox row).
        foreach (var policy in config.Config.RetrainPolicies.Where(p => p.MetBy(alert) && alert.Labels.Contains("model")))
        {
            var (skip, request) = await AlertStore.RequestRetrainAsync(transaction, policy, finding, alert, config, now, context.CancellationToken);
            LogRetrain(logger, policy.Name, alert.Labels["model"], skip, request);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retrain policy {Policy} met for {Model}: {Skip} (request {Request})")]
    private static partial void LogRetrain(ILogger logger, string policy, string model, RetrainSkip skip, Guid? request);

    // The finding's own, and the trace of the request that led to it, so that a person can follow it from the message.
    private Dictionary<string, string> Annotations(IFinding finding)
    {
        var annotations = new Dictionary<string, string>(finding.AlertAnnotations ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (finding.TraceId is { Length: > 0 } traceId)
        {
            annotations.TryAdd("trace_id", traceId);
            if (options.Value.TraceUrl is { Length: > 0 } template)
            {
                annotations.TryAdd("trace_url", template.Replace("{traceId}", traceId, StringComparison.Ordinal));
            }
        }

        return annotations;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Finding {EventId} raises no alert: {Problem}")]
    private static partial void LogIgnored(ILogger logger, Guid eventId, string problem);
}

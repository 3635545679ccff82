using System.Text.Json;
using MassTransit;
using ModelOps.Alerting.Data;
using ModelOps.Contracts.Tracking.V1;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Alerting.Consumers;

/// <summary>
/// Links a training run to the retraining request it names in its provenance
/// (<c>correlation_ids.retrain_request_id</c>, given when the run starts): the request is then running.
/// </summary>
public sealed class RetrainRunStartedConsumer(NpgsqlDataSource dataSource, TimeProvider clock) : IdempotentConsumer<RunStarted>(dataSource)
{
    /// <summary>The correlation id a retraining run carries.</summary>
    public const string CorrelationKey = "retrain_request_id";

    /// <inheritdoc />
    protected override async Task ConsumeOnceAsync(ConsumeContext<RunStarted> context, NpgsqlTransaction transaction)
    {
        if (RequestOf(context.Message.ProvenanceJson) is { } requestId)
        {
            await AlertStore.StartRetrainAsync(transaction, requestId, context.Message.RunId, clock.GetUtcNow(), context.CancellationToken);
        }
    }

    /// <summary>The request a run's provenance (protobuf JSON) names, if any.</summary>
    public static Guid? RequestOf(string provenanceJson)
    {
        if (string.IsNullOrEmpty(provenanceJson))
        {
            return null;
        }

        try
        {
            using var provenance = JsonDocument.Parse(provenanceJson);
            if (provenance.RootElement.ValueKind == JsonValueKind.Object &&
                (provenance.RootElement.TryGetProperty("correlationIds", out var ids) || provenance.RootElement.TryGetProperty("correlation_ids", out ids)) &&
                ids.ValueKind == JsonValueKind.Object && ids.TryGetProperty(CorrelationKey, out var id) && Guid.TryParse(id.GetString(), out var requestId))
            {
                return requestId;
            }
        }
        catch (JsonException)
        {
            // Tracking wrote it; a run whose provenance is not JSON names no request.
        }

        return null;
    }
}

/// <summary>Ends the retraining a finished run was linked to: completed when the run FINISHED, failed otherwise.</summary>
public sealed class RetrainRunFinishedConsumer(NpgsqlDataSource dataSource, TimeProvider clock) : IdempotentConsumer<RunFinished>(dataSource)
{
    /// <inheritdoc />
    protected override Task ConsumeOnceAsync(ConsumeContext<RunFinished> context, NpgsqlTransaction transaction) =>
        AlertStore.FinishRetrainAsync(transaction, context.Message.RunId, context.Message.Status == "FINISHED", clock.GetUtcNow(), context.CancellationToken);
}

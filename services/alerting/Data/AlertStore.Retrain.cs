using System.Text.Json;
using ModelOps.Alerting.Domain;
using ModelOps.Contracts;
using ModelOps.Contracts.Alerting.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Alerting.Data;

/// <summary>Why a policy met by a finding did not request a retraining.</summary>
public enum RetrainSkip
{
    /// <summary>It did: a request was made.</summary>
    None,

    /// <summary>A request for the model is in flight.</summary>
    InFlight,

    /// <summary>The last request for the model is within the policy's cooldown.</summary>
    Cooldown,
}

public sealed partial class AlertStore
{
    /// <summary>
    /// Requests a retraining for <paramref name="policy"/>, met by <paramref name="finding"/>'s <paramref name="alert"/>,
    /// unless one for the model is in flight or the last was within the policy's cooldown: in
    /// <paramref name="transaction"/> (the finding's), so that a finding delivered twice requests once. A request
    /// whose timeout passed without a finished run expires first. The request is announced (<c>RetrainRequested</c>)
    /// and sent, as that event, to the policy's receiver's webhooks, not before its business hours open.
    /// </summary>
    public static async Task<(RetrainSkip Skip, Guid? Request)> RequestRetrainAsync(
        NpgsqlTransaction transaction, RetrainPolicy policy, IFinding finding, Alert alert, ActiveConfig config, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var connection = transaction.Connection!;
        var model = alert.Labels["model"];
        List<IIntegrationEvent> events = [];
        // One decision at a time per policy and model.
        await using (var serialize = connection.Command(transaction, "SELECT pg_advisory_xact_lock(hashtextextended('retrain:' || $1 || ':' || $2, 0))", policy.Name, model))
        {
            await serialize.ExecuteScalarAsync(cancellationToken);
        }

        await using (var expire = connection.Command(transaction,
                         """
                         UPDATE retrain_requests SET status = 'expired', finished_at = $4
                         WHERE policy = $1 AND model = $2 AND status IN ('requested', 'running') AND requested_at < $3
                         RETURNING id, run_id
                         """, policy.Name, model, now - policy.Timeout, now))
        await using (var reader = await expire.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                events.Add(new RetrainCompleted
                {
                    Actor = "alerting", RequestId = reader.GetGuid(0), Policy = policy.Name, Model = model,
                    RunId = reader.IsDBNull(1) ? null : reader.GetString(1), Outcome = "expired",
                });
            }
        }

        var skip = RetrainSkip.None;
        await using (var last = connection.Command(transaction,
                         "SELECT status, requested_at FROM retrain_requests WHERE policy = $1 AND model = $2 ORDER BY requested_at DESC LIMIT 1", policy.Name, model))
        await using (var reader = await last.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                skip = reader.GetString(0) is "requested" or "running" ? RetrainSkip.InFlight
                    : reader.GetFieldValue<DateTimeOffset>(1) > now - policy.Cooldown ? RetrainSkip.Cooldown
                    : RetrainSkip.None;
            }
        }

        Guid? requestId = null;
        if (skip == RetrainSkip.None)
        {
            var requested = new RetrainRequested
            {
                Actor = "alerting",
                RequestId = Guid.CreateVersion7(),
                Policy = policy.Name,
                Model = model,
                Version = alert.Labels.Contains("version") ? alert.Labels["version"] : null,
                FindingEventId = finding.EventId,
                FindingLabels = alert.Labels.Labels,
                FindingAnnotations = alert.Annotations,
                NotBefore = policy.BusinessHours?.NextOpen(now) ?? now,
            };
            requestId = requested.RequestId;
            var payload = JsonSerializer.SerializeToUtf8Bytes(requested, Outbox.SerializerOptions);
            await using (var insert = connection.Command(transaction,
                             """
                             INSERT INTO retrain_requests (id, policy, model, status, finding_event_id, evidence, requested_at, not_before)
                             VALUES ($1, $2, $3, 'requested', $4, $5, $6, $7)
                             """,
                             requested.RequestId, policy.Name, model, finding.EventId, Sql.Jsonb(System.Text.Encoding.UTF8.GetString(payload)), now, requested.NotBefore))
            {
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }

            // The pipeline is started by the receiver's webhooks, sent the request itself.
            var key = $"retrain/{requested.RequestId}";
            foreach (var (integration, settings) in config.Config.Receiver(policy.Receiver).Integrations.Where(i => i.Config is WebhookConfig))
            {
                await InsertDeliveryAsync(transaction, new PendingDelivery(
                    key, key, new Dictionary<string, string> { ["model"] = model, ["retrain_policy"] = policy.Name }, policy.Receiver, integration,
                    config.Version, true, [alert.Fingerprint], payload, requested.NotBefore), cancellationToken);
            }

            events.Add(requested);
        }

        await transaction.EnqueueAsync(events, cancellationToken);
        return (skip, requestId);
    }

    /// <summary>
    /// Links a run that names a retraining request in its provenance to the request, which is then running — or, when
    /// the run's end was seen first, finished.
    /// </summary>
    public static async Task StartRetrainAsync(NpgsqlTransaction transaction, Guid requestId, string runId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await SerializeRunAsync(transaction, runId, cancellationToken);
        await using (var update = transaction.Connection!.Command(transaction,
                         "UPDATE retrain_requests SET status = 'running', run_id = $2 WHERE id = $1 AND status = 'requested'", requestId, runId))
        {
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return;
            }
        }

        await using var finished = transaction.Connection!.Command(transaction, "SELECT succeeded FROM finished_runs WHERE run_id = $1", runId);
        if (await finished.ExecuteScalarAsync(cancellationToken) is bool succeeded)
        {
            await FinishRetrainAsync(transaction, runId, succeeded, now, cancellationToken);
        }
    }

    /// <summary>
    /// Ends the retraining a finished run was linked to, and announces it (<c>RetrainCompleted</c>); remembers the run's
    /// end in case its start has not been seen yet.
    /// </summary>
    public static async Task FinishRetrainAsync(
        NpgsqlTransaction transaction, string runId, bool succeeded, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await SerializeRunAsync(transaction, runId, cancellationToken);
        await using (var remember = transaction.Connection!.Command(transaction,
                         "INSERT INTO finished_runs (run_id, succeeded, finished_at) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING", runId, succeeded, now))
        {
            await remember.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var update = transaction.Connection!.Command(transaction,
            "UPDATE retrain_requests SET status = $2, finished_at = $3 WHERE run_id = $1 AND status = 'running' RETURNING id, policy, model",
            runId, succeeded ? "completed" : "failed", now);
        List<IIntegrationEvent> events = [];
        await using (var reader = await update.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                events.Add(new RetrainCompleted
                {
                    Actor = "alerting", RequestId = reader.GetGuid(0), Policy = reader.GetString(1), Model = reader.GetString(2), RunId = runId,
                    Outcome = succeeded ? "completed" : "failed",
                });
            }
        }

        await transaction.EnqueueAsync(events, cancellationToken);
    }

    // A run's start and end are handled one at a time (they arrive on two queues), so that whichever comes second sees
    // the first.
    private static async Task SerializeRunAsync(NpgsqlTransaction transaction, string runId, CancellationToken cancellationToken)
    {
        await using var serialize = transaction.Connection!.Command(transaction, "SELECT pg_advisory_xact_lock(hashtextextended('run:' || $1, 0))", runId);
        await serialize.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>Retraining requests, newest first, of one model or of all; from the <paramref name="offset"/>-th, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<RetrainRequestRecord>> ListRetrainRequestsAsync(string? model, long offset, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
            """
            SELECT id, policy, model, status, finding_event_id, requested_at, run_id, finished_at FROM retrain_requests
            WHERE ($1::text IS NULL OR model = $1) ORDER BY requested_at DESC, id OFFSET $2 LIMIT $3
            """,
            Sql.Typed(model, NpgsqlTypes.NpgsqlDbType.Text), offset, limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<RetrainRequestRecord> requests = [];
        while (await reader.ReadAsync(cancellationToken))
        {
            requests.Add(new RetrainRequestRecord(
                reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetGuid(4), reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7)));
        }

        return requests;
    }
}

/// <summary>A retraining request as listed.</summary>
public sealed record RetrainRequestRecord(
    Guid Id, string Policy, string Model, string Status, Guid FindingEventId, DateTimeOffset RequestedAt, string? RunId, DateTimeOffset? FinishedAt);

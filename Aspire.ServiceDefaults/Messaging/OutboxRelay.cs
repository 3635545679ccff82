using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// Publishes committed outbox rows to the broker and marks them published. Rows are claimed with
/// <c>FOR UPDATE SKIP LOCKED</c>, so any number of replicas relay side by side without publishing a row twice
/// while it is claimed; a row whose publish was confirmed but whose mark was lost (a crash in between) is
/// published again, which idempotent consumers absorb: delivery is at least once, effects exactly once.
/// </summary>
internal sealed partial class OutboxRelay(
    NpgsqlDataSource dataSource,
    IBus bus,
    ServiceInfo service,
    IOptions<OutboxOptions> options,
    OutboxHealth health,
    ILogger<OutboxRelay> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, Type?> _types = new();
    private DateTimeOffset _nextCleanup = DateTimeOffset.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var delay = settings.RetryDelay;
        NpgsqlConnection? listener = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                health.Turned();
                try
                {
                    if (listener is null)
                    {
                        // LISTEN before looking, so a commit between the look and the wait still wakes us.
                        listener = await dataSource.OpenConnectionAsync(stoppingToken);
                        await using var listen = new NpgsqlCommand($"LISTEN {Outbox.NotificationChannel}", listener);
                        await listen.ExecuteNonQueryAsync(stoppingToken);
                    }

                    var (published, complete) = await RelayBatchAsync(settings, stoppingToken);
                    await CleanupAsync(settings, stoppingToken);
                    if (!complete)
                    {
                        await Task.Delay(delay, stoppingToken);
                        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, settings.MaxRetryDelay.Ticks));
                        continue;
                    }

                    delay = settings.RetryDelay;
                    if (published < settings.BatchSize)
                    {
                        await listener.WaitAsync(settings.PollInterval, stoppingToken);
                    }
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRelayFailed(logger, exception);
                    health.Failed(exception.GetType().Name);
                    if (listener is not null)
                    {
                        await listener.DisposeAsync();
                        listener = null;
                    }

                    await Task.Delay(delay, stoppingToken);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, settings.MaxRetryDelay.Ticks));
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (listener is not null)
            {
                await listener.DisposeAsync();
            }
        }
    }

    /// <summary>Publishes one batch; <c>complete</c> is false when some row could not be published.</summary>
    private async Task<(int Published, bool Complete)> RelayBatchAsync(OutboxOptions settings, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var rows = new List<OutboxRow>();
        await using (var select = new NpgsqlCommand(
            """
            SELECT sequence, event_id, message_type, payload::text, trace_parent
            FROM outbox_messages
            WHERE published_at IS NULL
            ORDER BY sequence
            LIMIT $1
            FOR UPDATE SKIP LOCKED
            """, connection, transaction))
        {
            select.Parameters.Add(new NpgsqlParameter { Value = settings.BatchSize });
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new OutboxRow(
                    reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
        }

        if (rows.Count == 0)
        {
            await transaction.CommitAsync(cancellationToken);
            return (0, true);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.PublishTimeout);
        var publishes = rows.Select(row => PublishAsync(row, timeout.Token)).ToArray();
        try
        {
            // The token alone does not bound the wait: a publish caught in the broker client's reconnection has been
            // seen to ignore it, and one such publish held this batch's rows (and the relay) for good. So the wait
            // itself ends with the timeout; a publish still running is counted as failed and its row retried later
            // (if it lands after all, consumers are idempotent on the event id).
            await Task.WhenAll(publishes).WaitAsync(settings.PublishTimeout + TimeSpan.FromSeconds(1), cancellationToken);
        }
        catch (TimeoutException)
        {
        }

        var outcomes = publishes.Select(p => p.IsCompletedSuccessfully
            ? p.Result
            : $"The publish did not complete within {settings.PublishTimeout.TotalSeconds:F0} s.").ToArray();

        var published = rows.Where((_, i) => outcomes[i] is null).Select(row => row.Sequence).ToArray();
        var failed = rows.Select((row, i) => (row, error: outcomes[i])).Where(x => x.error is not null).ToList();

        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            if (published.Length > 0)
            {
                var mark = new NpgsqlBatchCommand("UPDATE outbox_messages SET published_at = now() WHERE sequence = ANY($1)");
                mark.Parameters.Add(new NpgsqlParameter { Value = published });
                batch.BatchCommands.Add(mark);
            }

            foreach (var (row, error) in failed)
            {
                var note = new NpgsqlBatchCommand(
                    "UPDATE outbox_messages SET attempts = attempts + 1, last_error = $2 WHERE sequence = $1");
                note.Parameters.Add(new NpgsqlParameter { Value = row.Sequence });
                note.Parameters.Add(new NpgsqlParameter { Value = error! });
                batch.BatchCommands.Add(note);
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        health.Relayed(published.Length, failed.Count, failed.Count > 0 ? failed[0].error : null);
        if (failed.Count > 0)
        {
            LogPublishFailed(logger, failed.Count, rows.Count, failed[0].error!);
        }

        return (published.Length, failed.Count == 0);
    }

    /// <summary>Publishes one row; returns null on success, else why it failed.</summary>
    private async Task<string?> PublishAsync(OutboxRow row, CancellationToken cancellationToken)
    {
        var type = _types.GetOrAdd(row.MessageType, name => Type.GetType(name, throwOnError: false));
        if (type is null)
        {
            return $"Unknown message type {row.MessageType}.";
        }

        try
        {
            var message = JsonSerializer.Deserialize(row.Payload, type, Outbox.SerializerOptions)!;
            // Continue the trace of the request that wrote the event, so one trace spans request, broker and consumers.
            ActivityContext.TryParse(row.TraceParent, null, out var parent);
            using var activity = service.ActivitySource.StartActivity("outbox publish", ActivityKind.Producer, parent);
            activity?.SetTag("messaging.message.id", row.EventId);
            await bus.Publish(message, type, context => context.MessageId = row.EventId, cancellationToken);
            return null;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            return exception.Message;
        }
    }

    private async Task CleanupAsync(OutboxOptions settings, CancellationToken cancellationToken)
    {
        if (DateTimeOffset.UtcNow < _nextCleanup)
        {
            return;
        }

        _nextCleanup = DateTimeOffset.UtcNow.AddMinutes(10);
        await using var delete = dataSource.CreateCommand(
            "DELETE FROM outbox_messages WHERE published_at < now() - $1");
        delete.Parameters.Add(new NpgsqlParameter { Value = settings.Retention });
        await delete.ExecuteNonQueryAsync(cancellationToken);
    }

    private sealed record OutboxRow(long Sequence, Guid EventId, string MessageType, string Payload, string? TraceParent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox relay failed; retrying")]
    private static partial void LogRelayFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish {Failed} of {Total} outbox events; retrying. First error: {Error}")]
    private static partial void LogPublishFailed(ILogger logger, int failed, int total, string error);
}

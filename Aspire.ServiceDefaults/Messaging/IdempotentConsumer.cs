using MassTransit;
using ModelOps.Contracts;
using Npgsql;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// A consumer that acts at most once per event, however often the broker delivers it: the event id is
/// recorded in the inbox in the same transaction as the handler's own changes (and any events it writes
/// to the outbox), so either both commit or neither does.
/// </summary>
/// <typeparam name="TEvent">The event consumed.</typeparam>
public abstract class IdempotentConsumer<TEvent>(NpgsqlDataSource dataSource) : IConsumer<TEvent>
    where TEvent : class, IIntegrationEvent
{
    /// <summary>The name under which this consumer records handled events; the type name by default.</summary>
    protected virtual string ConsumerName => GetType().Name;

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<TEvent> context)
    {
        var cancellationToken = context.CancellationToken;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // A concurrent duplicate blocks on the primary key until the first commits, then inserts nothing.
        await using (var claim = new NpgsqlCommand(
            "INSERT INTO inbox_messages (event_id, consumer) VALUES ($1, $2) ON CONFLICT DO NOTHING", connection, transaction))
        {
            claim.Parameters.Add(new NpgsqlParameter { Value = context.Message.EventId });
            claim.Parameters.Add(new NpgsqlParameter { Value = ConsumerName });
            if (await claim.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                await OnDuplicateAsync(context);
                return;
            }
        }

        await ConsumeOnceAsync(context, transaction);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Called instead of <see cref="ConsumeOnceAsync"/> when the event was handled before.</summary>
    protected virtual Task OnDuplicateAsync(ConsumeContext<TEvent> context) => Task.CompletedTask;

    /// <summary>Handles the event, writing through <paramref name="transaction"/>; runs once per event id.</summary>
    protected abstract Task ConsumeOnceAsync(ConsumeContext<TEvent> context, NpgsqlTransaction transaction);
}

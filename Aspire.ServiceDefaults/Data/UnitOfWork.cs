using ModelOps.Contracts;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.ServiceDefaults.Data;

/// <summary>
/// One transaction of a service's database and the events that describe what it changes:
/// <code>
/// await using var tx = await store.BeginAsync(cancellationToken);
/// var run = await store.EndRunAsync(tx, ...);
/// tx.Publish(new RunFinished { ... });
/// await tx.CommitAsync(cancellationToken);
/// </code>
/// The events are written to the outbox in the same transaction at commit, so they are published if and only if the
/// change commits. Disposed without a commit, everything is rolled back and no event is published.
/// </summary>
public sealed class UnitOfWork : IAsyncDisposable
{
    private readonly List<IIntegrationEvent> _events = [];

    private UnitOfWork(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        Connection = connection;
        Transaction = transaction;
    }

    /// <summary>The connection the work runs on.</summary>
    public NpgsqlConnection Connection { get; }

    /// <summary>The transaction every statement of the work joins.</summary>
    public NpgsqlTransaction Transaction { get; }

    /// <summary>Begins a unit of work on a connection of <paramref name="dataSource"/>.</summary>
    public static async Task<UnitOfWork> BeginAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            return new UnitOfWork(connection, await connection.BeginTransactionAsync(cancellationToken));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A command in this unit's transaction.</summary>
    public NpgsqlCommand Command(string sql, params object?[] values) => Connection.Command(Transaction, sql, values);

    /// <summary>A batch in this unit's transaction.</summary>
    public NpgsqlBatch Batch(params NpgsqlBatchCommand[] statements)
    {
        var batch = new NpgsqlBatch(Connection, Transaction);
        foreach (var statement in statements)
        {
            batch.BatchCommands.Add(statement);
        }

        return batch;
    }

    /// <summary>Announces <paramref name="event"/> if, and when, this unit commits.</summary>
    public void Publish(IIntegrationEvent @event) => _events.Add(@event);

    /// <summary>Writes the events to the outbox and commits, in the one transaction.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await Transaction.EnqueueAsync(_events, cancellationToken);
        await Transaction.CommitAsync(cancellationToken);
        _events.Clear();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Transaction.DisposeAsync();
        await Connection.DisposeAsync();
    }
}

using System.Threading.Channels;
using ModelOps.Ledger.Data;

namespace ModelOps.Ledger.Domain;

/// <summary>
/// Group commit for direct appends: concurrent <c>Append</c> calls are stored together, one transaction (and one
/// fsync) for all that arrived while the previous one was committing — as the bus consumer's batches are.
/// </summary>
public sealed class AppendBatcher(LedgerStore store) : BackgroundService
{
    /// <summary>Most entries one commit stores.</summary>
    public const int MaxBatch = 500;

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(
        new BoundedChannelOptions(10 * MaxBatch) { SingleReader = true });

    /// <summary>Stores <paramref name="entry"/> (durably, once committed); true when it was new, false when its event id was stored before.</summary>
    public async Task<bool> StoreAsync(LedgerEntry entry, CancellationToken cancellationToken)
    {
        var pending = new Pending(entry, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(pending, cancellationToken);
        return await pending.Stored.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(MaxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
                {
                    batch.Add(pending);
                }

                try
                {
                    var distinct = batch.DistinctBy(p => p.Entry.EventId).Select(p => p.Entry).ToList();
                    var inserted = new HashSet<Guid>(await store.EnqueueAsync(distinct, stoppingToken));
                    foreach (var pending in batch)
                    {
                        // Of two calls with one event id in a batch, the first stored it and the second is the duplicate.
                        pending.Stored.TrySetResult(inserted.Remove(pending.Entry.EventId));
                    }
                }
                catch (Exception exception)
                {
                    // Every caller hears of the failure and may retry: whether or not the commit took, the event id makes a retry safe.
                    batch.ForEach(p => p.Stored.TrySetException(exception));
                }

                batch.Clear();
            }
        }
        finally
        {
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var pending))
            {
                pending.Stored.TrySetCanceled(stoppingToken);
            }
        }
    }

    private sealed record Pending(LedgerEntry Entry, TaskCompletionSource<bool> Stored);
}

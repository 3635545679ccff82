using System.Collections.Concurrent;
using ModelOps.Ledger.Data;
using Npgsql;

namespace ModelOps.Ledger.Domain;

/// <summary>
/// What this replica knows of the tree without asking: a lower bound of its size, kept current by the sequencer's
/// <c>ledger_sequenced</c> notifications, and the direct appends waiting for their index. Every replica listens, so
/// an <c>Append</c> answered here learns its index whichever replica sequenced it.
/// </summary>
public sealed partial class TreeHead(NpgsqlDataSource dataSource, LedgerStore store, ILogger<TreeHead> logger) : BackgroundService
{
    // A notification lost while the listening connection was being replaced is made good by this sweep.
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<StoredEntry>> _waiters = new();
    private long _knownSize;
    private volatile bool _sequenced;

    /// <summary>A size the tree has reached; sizes only grow, so every size up to it is valid.</summary>
    public long KnownSize => Interlocked.Read(ref _knownSize);

    /// <summary>The tree's size if it is at least <paramref name="wanted"/> as far as this replica knows, else the stored size.</summary>
    public async Task<long> SizeAtLeastAsync(long wanted, CancellationToken cancellationToken)
    {
        var known = KnownSize;
        if (wanted <= known)
        {
            return known;
        }

        var size = await store.GetTreeSizeAsync(cancellationToken);
        Advance(size);
        return size;
    }

    /// <summary>
    /// Starts waiting for the entry of <paramref name="eventId"/> to be sequenced. Call it before storing the entry,
    /// so that no notification of its sequencing can come before the wait.
    /// </summary>
    public Waiter Watch(Guid eventId) =>
        new(this, eventId, _waiters.GetOrAdd(eventId, _ => new TaskCompletionSource<StoredEntry>(TaskCreationOptions.RunContinuationsAsynchronously)));

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, notification) =>
                {
                    if (long.TryParse(notification.Payload, out var size))
                    {
                        Advance(size);
                    }

                    _sequenced = true;
                };
                await TreeStore.ListenAsync(connection, TreeStore.SequencedChannel, stoppingToken);

                Advance(await store.GetTreeSizeAsync(stoppingToken));
                _sequenced = true;
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (_sequenced || !_waiters.IsEmpty)
                    {
                        // Cleared before the query, so a commit it misses raises the flag again.
                        _sequenced = false;
                        await CompleteWaitersAsync(stoppingToken);
                    }

                    await connection.WaitAsync(_waiters.IsEmpty ? TimeSpan.FromSeconds(30) : SweepInterval, stoppingToken);
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogListenFailed(logger, exception);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    private async Task CompleteWaitersAsync(CancellationToken cancellationToken)
    {
        var ids = _waiters.Keys.ToArray();
        if (ids.Length == 0)
        {
            return;
        }

        foreach (var entry in await store.GetSequencedAsync(ids, cancellationToken))
        {
            if (_waiters.TryRemove(entry.EventId, out var waiter))
            {
                waiter.TrySetResult(entry);
            }
        }
    }

    private async Task<StoredEntry> CurrentAsync(Guid eventId, CancellationToken cancellationToken) =>
        await store.GetByEventIdAsync(eventId, cancellationToken)
        ?? throw new InvalidOperationException($"Entry {eventId} vanished after it was stored.");

    private void Advance(long size)
    {
        var known = Interlocked.Read(ref _knownSize);
        while (size > known)
        {
            var seen = Interlocked.CompareExchange(ref _knownSize, size, known);
            if (seen == known)
            {
                return;
            }

            known = seen;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the notifications of sequencing; listening again")]
    private static partial void LogListenFailed(ILogger logger, Exception exception);

    /// <summary>One wait for one entry's index; dispose it to stop waiting.</summary>
    public sealed class Waiter(TreeHead head, Guid eventId, TaskCompletionSource<StoredEntry> completion) : IDisposable
    {
        /// <summary>The entry once sequenced, or as it stands (without an index) when <paramref name="timeout"/> passes first.</summary>
        public async Task<StoredEntry> SequencedAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            try
            {
                return await completion.Task.WaitAsync(timeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                return await head.CurrentAsync(eventId, cancellationToken);
            }
        }

        /// <inheritdoc />
        public void Dispose() =>
            head._waiters.TryRemove(new KeyValuePair<Guid, TaskCompletionSource<StoredEntry>>(eventId, completion));
    }
}

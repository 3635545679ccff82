using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using ModelOps.Contracts.Ledger.V1;
using ModelOps.Ledger.Data;
using ModelOps.Ledger.Verification;
using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Data;
using Npgsql;

namespace ModelOps.Ledger.Domain;

/// <summary>
/// The single writer of the tree. Whichever replica holds the PostgreSQL advisory lock gives waiting entries their
/// indices in arrival order, writes the subtree hashes they complete and the new tree head in one transaction, and
/// signs a checkpoint at most every <see cref="LedgerOptions.CheckpointInterval"/> while the tree grows. The others
/// wait for the lock; if the leader's connection dies, PostgreSQL releases the lock and another takes over.
/// </summary>
public sealed partial class Sequencer(
    NpgsqlDataSource dataSource,
    CheckpointSigner signer,
    ServiceInfo service,
    IOptions<LedgerOptions> options,
    ILogger<Sequencer> logger) : BackgroundService
{
    private readonly Counter<long> _sequenced =
        new Meter(service.ActivitySource.Name).CreateCounter<long>("modelops.ledger.entries.sequenced", description: "Entries given an index");

    private CompactRange _tree = new();
    private long _checkpointSize = -1;
    private DateTimeOffset _checkpointAt = DateTimeOffset.MinValue;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var leader = await dataSource.OpenConnectionAsync(stoppingToken);
                if (!await TreeStore.TryLeadAsync(leader, stoppingToken))
                {
                    await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
                    continue;
                }

                LogLeading(logger);
                try
                {
                    await LeadAsync(leader, stoppingToken);
                }
                finally
                {
                    // A session lock outlives the pooled connection's return to the pool: let it go now, so that
                    // another replica (or this one's next turn, on another connection) can lead at once.
                    await ReleaseLeadAsync(leader);
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // Whatever failed, the in-memory edge may no longer match the database: it is reloaded on the next turn.
                LogSequencerFailed(logger, exception);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    private async Task LeadAsync(NpgsqlConnection leader, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await TreeStore.ListenAsync(leader, LedgerStore.QueuedChannel, stoppingToken);

        await LoadAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            var placed = await SequenceBatchAsync(settings.SequencerBatchSize, stoppingToken);
            var checkpointDue = _tree.Size > _checkpointSize;
            if (checkpointDue && DateTimeOffset.UtcNow >= _checkpointAt + settings.CheckpointInterval)
            {
                await PublishCheckpointAsync(stoppingToken);
                checkpointDue = false;
            }

            if (placed < settings.SequencerBatchSize)
            {
                var wait = checkpointDue
                    ? Max(_checkpointAt + settings.CheckpointInterval - DateTimeOffset.UtcNow, TimeSpan.FromMilliseconds(1))
                    : settings.SequencerPollInterval;
                await leader.WaitAsync(wait, stoppingToken);
            }
        }
    }

    private async Task ReleaseLeadAsync(NpgsqlConnection leader)
    {
        if (leader.FullState != System.Data.ConnectionState.Open)
        {
            return; // A broken connection's session is gone, and its lock with it.
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await TreeStore.ReleaseLeadAsync(leader, timeout.Token);
        }
        catch (Exception exception) when (exception is NpgsqlException or OperationCanceledException)
        {
            LogReleaseFailed(logger, exception);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var size = await TreeStore.SizeAsync(connection, null, forUpdate: false, cancellationToken);
        _tree = await TreeStore.EdgeAsync(connection, null, size, cancellationToken);
        (_checkpointSize, _checkpointAt) = await TreeStore.LatestCheckpointAsync(connection, cancellationToken) ?? (-1, DateTimeOffset.MinValue);
    }

    /// <summary>Places up to <paramref name="limit"/> waiting entries; returns how many.</summary>
    private async Task<int> SequenceBatchAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Look before locking: taking the head's row lock writes and flushes WAL, which an idle ledger should not do.
        if (!await TreeStore.AnyWaitingAsync(connection, cancellationToken))
        {
            return 0;
        }

        using var activity = service.ActivitySource.StartActivity("ledger sequence");
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        var size = await TreeStore.SizeAsync(connection, transaction, forUpdate: true, cancellationToken);

        // The lock makes this the only writer, so the head should be ours; if not (an operator's hand, a split brain
        // that the lock prevents), build on what the database says rather than on memory.
        var tree = size == _tree.Size ? _tree : await TreeStore.EdgeAsync(connection, transaction, size, cancellationToken);
        var waiting = await TreeStore.WaitingAsync(connection, transaction, limit, cancellationToken);

        if (waiting.Count == 0)
        {
            await transaction.CommitAsync(cancellationToken);
            _tree = tree;
            return 0;
        }

        // Work on a copy: if the transaction fails, the edge in memory still describes the committed tree.
        var next = tree.Clone();
        var nodes = new List<(NodeId Node, byte[] Hash)>();
        foreach (var entry in waiting)
        {
            nodes.AddRange(next.Append(entry.LeafHash));
        }

        await TreeStore.PlaceAsync(connection, transaction, waiting, size, nodes, next.Size, next.Root(), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        _tree = next;
        _sequenced.Add(waiting.Count);
        activity?.SetTag("ledger.entries", waiting.Count);
        activity?.SetTag("ledger.tree_size", next.Size);
        TraceSequenced(waiting, size, activity?.StartTimeUtc ?? DateTime.UtcNow);
        return waiting.Count;
    }

    // A span per entry in the trace that brought it (when tracing is on), from the batch's start to its commit: the
    // sequencer works on many traces at once, and one span of its own would be found in none of them.
    private void TraceSequenced(IReadOnlyList<WaitingEntry> entries, long firstIndex, DateTime started)
    {
        if (!service.ActivitySource.HasListeners())
        {
            return;
        }

        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i].TraceParent is not { } traceParent || !ActivityContext.TryParse(traceParent, null, out var parent))
            {
                continue;
            }

            using var span = service.ActivitySource.StartActivity("ledger sequenced", ActivityKind.Internal, parent, startTime: started);
            span?.SetTag("ledger.index", firstIndex + i);
            span?.SetTag("ledger.event_id", entries[i].EventId.ToString());
        }
    }

    private async Task PublishCheckpointAsync(CancellationToken cancellationToken)
    {
        var size = _tree.Size;
        var root = _tree.Root();
        var note = signer.Sign(size, root);
        await using var tx = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await TreeStore.SaveCheckpointAsync(tx, size, root, note, cancellationToken);
        tx.Publish(new CheckpointPublished
        {
            Actor = $"service:{service.Name}",
            Origin = signer.Origin,
            TreeSize = size,
            RootHash = Convert.ToBase64String(root),
            Note = note,
        });
        await tx.CommitAsync(cancellationToken);
        _checkpointSize = size;
        _checkpointAt = DateTimeOffset.UtcNow;
        Activity.Current?.SetTag("ledger.checkpoint_size", size);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This replica is the ledger's sequencer")]
    private static partial void LogLeading(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release the sequencer lock; it goes with the connection")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The ledger sequencer failed; it will reload the tree and retry")]
    private static partial void LogSequencerFailed(ILogger logger, Exception exception);
}

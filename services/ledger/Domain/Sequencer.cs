using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using ModelOps.Contracts.Ledger.V1;
using ModelOps.Ledger.Data;
using ModelOps.Ledger.Verification;
using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

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
    /// <summary>The notification sent when entries are sequenced; the payload is the new tree size.</summary>
    public const string SequencedChannel = "ledger_sequenced";

    private const long LeaderLockKey = 0x4C65646765725351; // "LedgerSQ"

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
                if (!await TryLeadAsync(leader, stoppingToken))
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
        await using (var listen = new NpgsqlCommand($"LISTEN {LedgerStore.QueuedChannel}", leader))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken);
        }

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
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", leader);
            unlock.Parameters.Add(new NpgsqlParameter { Value = LeaderLockKey });
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await unlock.ExecuteScalarAsync(timeout.Token);
        }
        catch (Exception exception) when (exception is NpgsqlException or OperationCanceledException)
        {
            LogReleaseFailed(logger, exception);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static async Task<bool> TryLeadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = LeaderLockKey });
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        long size;
        await using (var head = new NpgsqlCommand("SELECT size FROM ledger_tree WHERE id = 1", connection))
        {
            size = (long)(await head.ExecuteScalarAsync(cancellationToken))!;
        }

        _tree = await LoadEdgeAsync(connection, null, size, cancellationToken);
        await using var checkpoint = new NpgsqlCommand(
            "SELECT size, signed_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1", connection);
        await using var reader = await checkpoint.ExecuteReaderAsync(cancellationToken);
        (_checkpointSize, _checkpointAt) = await reader.ReadAsync(cancellationToken)
            ? (reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1))
            : (-1, DateTimeOffset.MinValue);
    }

    private static async Task<CompactRange> LoadEdgeAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, long size, CancellationToken cancellationToken)
    {
        var edge = MerkleTree.PerfectSubtrees(0, size);
        var nodes = await LedgerStore.GetNodesAsync(connection, transaction, edge, cancellationToken);
        return new CompactRange(size, id => nodes.TryGetValue(id, out var hash)
            ? hash
            : throw new InvalidOperationException($"The tree node {id} of a tree of size {size} is missing from ledger_nodes."));
    }

    /// <summary>Places up to <paramref name="limit"/> waiting entries; returns how many.</summary>
    private async Task<int> SequenceBatchAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Look before locking: taking the head's row lock writes and flushes WAL, which an idle ledger should not do.
        await using (var any = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE idx IS NULL)", connection))
        {
            if (!(bool)(await any.ExecuteScalarAsync(cancellationToken))!)
            {
                return 0;
            }
        }

        using var activity = service.ActivitySource.StartActivity("ledger sequence");
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        long size;
        await using (var head = new NpgsqlCommand("SELECT size FROM ledger_tree WHERE id = 1 FOR UPDATE", connection, transaction))
        {
            size = (long)(await head.ExecuteScalarAsync(cancellationToken))!;
        }

        // The lock makes this the only writer, so the head should be ours; if not (an operator's hand, a split brain
        // that the lock prevents), build on what the database says rather than on memory.
        var tree = size == _tree.Size ? _tree : await LoadEdgeAsync(connection, transaction, size, cancellationToken);

        var waiting = new List<(Guid EventId, byte[] LeafHash, string? TraceParent)>();
        await using (var select = new NpgsqlCommand(
            "SELECT event_id, leaf_hash, trace_parent FROM ledger_entries WHERE idx IS NULL ORDER BY received LIMIT $1 FOR UPDATE",
            connection, transaction))
        {
            select.Parameters.Add(new NpgsqlParameter { Value = limit });
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                waiting.Add((reader.GetGuid(0), (byte[])reader[1], reader.IsDBNull(2) ? null : reader.GetString(2)));
            }
        }

        if (waiting.Count == 0)
        {
            await transaction.CommitAsync(cancellationToken);
            _tree = tree;
            return 0;
        }

        // Work on a copy: if the transaction fails, the edge in memory still describes the committed tree.
        var next = tree.Clone();
        var levels = new List<short>();
        var indices = new List<long>();
        var hashes = new List<byte[]>();
        foreach (var (_, leafHash, _) in waiting)
        {
            foreach (var (node, hash) in next.Append(leafHash))
            {
                levels.Add((short)node.Level);
                indices.Add(node.Index);
                hashes.Add(hash);
            }
        }

        var root = next.Root();
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            var place = new NpgsqlBatchCommand(
                """
                UPDATE ledger_entries e SET idx = p.idx, sequenced_at = now()
                FROM unnest($1::uuid[], $2::bigint[]) AS p(event_id, idx)
                WHERE e.event_id = p.event_id
                """);
            place.Parameters.Add(new NpgsqlParameter { Value = waiting.Select(w => w.EventId).ToArray() });
            place.Parameters.Add(new NpgsqlParameter { Value = Enumerable.Range(0, waiting.Count).Select(i => size + i).ToArray() });
            batch.BatchCommands.Add(place);

            var nodes = new NpgsqlBatchCommand(
                "INSERT INTO ledger_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])");
            nodes.Parameters.Add(new NpgsqlParameter { Value = levels.ToArray() });
            nodes.Parameters.Add(new NpgsqlParameter { Value = indices.ToArray() });
            nodes.Parameters.Add(new NpgsqlParameter { Value = hashes.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            batch.BatchCommands.Add(nodes);

            var advance = new NpgsqlBatchCommand("UPDATE ledger_tree SET size = $1, root = $2, updated_at = now() WHERE id = 1");
            advance.Parameters.Add(new NpgsqlParameter { Value = next.Size });
            advance.Parameters.Add(new NpgsqlParameter { Value = root });
            batch.BatchCommands.Add(advance);

            batch.BatchCommands.Add(new NpgsqlBatchCommand($"NOTIFY {SequencedChannel}, '{next.Size}'"));
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

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
    private void TraceSequenced(IReadOnlyList<(Guid EventId, byte[] LeafHash, string? TraceParent)> entries, long firstIndex, DateTime started)
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
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO ledger_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING",
            connection, transaction))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = size });
            insert.Parameters.Add(new NpgsqlParameter { Value = root });
            insert.Parameters.Add(new NpgsqlParameter { Value = note });
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.EnqueueAsync(new CheckpointPublished
        {
            Actor = $"service:{service.Name}",
            Origin = signer.Origin,
            TreeSize = size,
            RootHash = Convert.ToBase64String(root),
            Note = note,
        }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
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

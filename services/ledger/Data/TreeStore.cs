using ModelOps.Ledger.Verification;
using ModelOps.ServiceDefaults.Data;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Ledger.Data;

/// <summary>A waiting entry: stored, not yet given an index.</summary>
/// <param name="EventId">Its event id.</param>
/// <param name="LeafHash">Its leaf hash.</param>
/// <param name="TraceParent">The W3C id of the span that sent it, when there was one.</param>
public sealed record WaitingEntry(Guid EventId, byte[] LeafHash, string? TraceParent);

/// <summary>
/// The sequencer's statements: its leadership lock, the tree head, waiting entries, the nodes and head a batch writes,
/// and checkpoints. The tree arithmetic stays in <c>Domain/Sequencer</c>; only SQL is here.
/// </summary>
public static class TreeStore
{
    /// <summary>The notification sent when entries are sequenced; the payload is the new tree size.</summary>
    public const string SequencedChannel = "ledger_sequenced";

    // The session advisory lock whose holder is the sequencer: "LedgerSQ".
    private const long LeaderLockKey = 0x4C65646765725351;

    /// <summary>Takes the sequencer's lock on <paramref name="connection"/>'s session if it is free; true when taken.</summary>
    public static async Task<bool> TryLeadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.Command(null, "SELECT pg_try_advisory_lock($1)", LeaderLockKey);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Gives the sequencer's lock back (a session lock outlives a pooled connection's return to the pool).</summary>
    public static async Task ReleaseLeadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var unlock = connection.Command(null, "SELECT pg_advisory_unlock($1)", LeaderLockKey);
        await unlock.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>Subscribes <paramref name="connection"/> to <paramref name="channel"/>'s notifications.</summary>
    public static async Task ListenAsync(NpgsqlConnection connection, string channel, CancellationToken cancellationToken)
    {
        await using var listen = connection.Command(null, $"LISTEN {channel}");
        await listen.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The tree's size; with <paramref name="forUpdate"/>, the head's row stays locked until <paramref name="transaction"/> ends.</summary>
    public static async Task<long> SizeAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, bool forUpdate, CancellationToken cancellationToken)
    {
        await using var head = connection.Command(transaction, $"SELECT size FROM ledger_tree WHERE id = 1{(forUpdate ? " FOR UPDATE" : "")}");
        return (long)(await head.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The largest checkpoint's size and signing time, or null before the first.</summary>
    public static async Task<(long Size, DateTimeOffset SignedAt)?> LatestCheckpointAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var checkpoint = connection.Command(null, "SELECT size, signed_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1");
        await using var reader = await checkpoint.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1)) : null;
    }

    /// <summary>The hashes of the perfect subtrees that make up the left edge of a tree of <paramref name="size"/> leaves.</summary>
    public static async Task<CompactRange> EdgeAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, long size, CancellationToken cancellationToken)
    {
        var edge = MerkleTree.PerfectSubtrees(0, size);
        var nodes = await LedgerStore.GetNodesAsync(connection, transaction, edge, cancellationToken);
        return new CompactRange(size, id => nodes.TryGetValue(id, out var hash)
            ? hash
            : throw new InvalidOperationException($"The tree node {id} of a tree of size {size} is missing from ledger_nodes."));
    }

    /// <summary>Whether any entry waits for an index (read without locking anything).</summary>
    public static async Task<bool> AnyWaitingAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var any = connection.Command(null, "SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE idx IS NULL)");
        return (bool)(await any.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Up to <paramref name="limit"/> waiting entries in arrival order, locked until <paramref name="transaction"/> ends.</summary>
    public static async Task<List<WaitingEntry>> WaitingAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, int limit, CancellationToken cancellationToken)
    {
        var waiting = new List<WaitingEntry>();
        await using var select = connection.Command(transaction,
            "SELECT event_id, leaf_hash, trace_parent FROM ledger_entries WHERE idx IS NULL ORDER BY received LIMIT $1 FOR UPDATE", limit);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            waiting.Add(new WaitingEntry(reader.GetGuid(0), (byte[])reader[1], reader.IsDBNull(2) ? null : reader.GetString(2)));
        }

        return waiting;
    }

    /// <summary>
    /// Gives <paramref name="entries"/> the indices from <paramref name="firstIndex"/> on, stores the tree nodes they
    /// complete, moves the head to <paramref name="size"/> and <paramref name="root"/>, and notifies
    /// <see cref="SequencedChannel"/> at commit — one round trip.
    /// </summary>
    public static async Task PlaceAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<WaitingEntry> entries, long firstIndex,
        IReadOnlyList<(NodeId Node, byte[] Hash)> nodes, long size, byte[] root, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Sql.Statement(
            """
            UPDATE ledger_entries e SET idx = p.idx, sequenced_at = now()
            FROM unnest($1::uuid[], $2::bigint[]) AS p(event_id, idx)
            WHERE e.event_id = p.event_id
            """,
            entries.Select(w => w.EventId).ToArray(), Enumerable.Range(0, entries.Count).Select(i => firstIndex + i).ToArray()));
        batch.BatchCommands.Add(Sql.Statement(
            "INSERT INTO ledger_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
            nodes.Select(n => (short)n.Node.Level).ToArray(), nodes.Select(n => n.Node.Index).ToArray(),
            new NpgsqlParameter { Value = nodes.Select(n => n.Hash).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea }));
        batch.BatchCommands.Add(Sql.Statement("UPDATE ledger_tree SET size = $1, root = $2, updated_at = now() WHERE id = 1", size, root));
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"NOTIFY {SequencedChannel}, '{size}'"));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Stores a signed checkpoint (once per size).</summary>
    public static async Task SaveCheckpointAsync(UnitOfWork tx, long size, byte[] root, string note, CancellationToken cancellationToken)
    {
        await using var insert = tx.Command("INSERT INTO ledger_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING", size, root, note);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }
}

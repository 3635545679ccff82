using System.Collections.Concurrent;
using ModelOps.Ledger.Domain;
using ModelOps.Ledger.Verification;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Ledger.Data;

/// <summary>A sequenced (or still waiting) entry as stored.</summary>
public sealed record StoredEntry(
    long? Index, Guid EventId, string EventType, string Actor, DateTimeOffset OccurredAt, byte[] Data, byte[] LeafHash,
    DateTimeOffset? SequencedAt);

/// <summary>A signed checkpoint as stored.</summary>
public sealed record StoredCheckpoint(long Size, byte[] Root, string Note, DateTimeOffset SignedAt);

/// <summary>The ledger's tables: entries waiting and sequenced, subjects, tree nodes, tree head and checkpoints.</summary>
public sealed class LedgerStore(NpgsqlDataSource dataSource)
{
    /// <summary>The notification a commit of new entries sends, which wakes the sequencer.</summary>
    public const string QueuedChannel = "ledger_queued";

    // Nodes of level 8 and up cover 256 leaves or more: 4,096 of them for a million leaves, 32 bytes each.
    private const int CachedLevel = 8;
    private const int CacheCapacity = 1 << 18;

    private readonly ConcurrentDictionary<NodeId, byte[]> _upperNodes = new();

    private const string EntryColumns = "idx, event_id, event_type, actor, occurred_at, data, leaf_hash, sequenced_at";

    /// <summary>Stores entries not stored before (by event id) for the sequencer, in one transaction; returns the ids of those that were new.</summary>
    public async Task<IReadOnlySet<Guid>> EnqueueAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken)
    {
        var inserted = new HashSet<Guid>();
        if (entries.Count == 0)
        {
            return inserted;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var insert = new NpgsqlCommand(
            """
            INSERT INTO ledger_entries (event_id, event_type, actor, occurred_at, data, leaf_hash, trace_parent)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bytea[], $6::bytea[], $7::text[])
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
            """, connection, transaction))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.EventId).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.EventType).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.Actor).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.OccurredAt.ToUniversalTime()).ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.Data).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.LeafHash).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            insert.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.TraceParent).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await using var reader = await insert.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                inserted.Add(reader.GetGuid(0));
            }
        }

        var subjects = entries.SelectMany(e => e.Subjects.Select(s => (s.Key, s.Value, e.EventId))).ToList();
        await using var batch = new NpgsqlBatch(connection, transaction);
        if (subjects.Count > 0)
        {
            var insertSubjects = new NpgsqlBatchCommand(
                """
                INSERT INTO ledger_subjects (kind, value, event_id)
                SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])
                ON CONFLICT DO NOTHING
                """);
            insertSubjects.Parameters.Add(new NpgsqlParameter { Value = subjects.Select(s => s.Key).ToArray() });
            insertSubjects.Parameters.Add(new NpgsqlParameter { Value = subjects.Select(s => s.Value).ToArray() });
            insertSubjects.Parameters.Add(new NpgsqlParameter { Value = subjects.Select(s => s.EventId).ToArray() });
            batch.BatchCommands.Add(insertSubjects);
        }

        // NOTIFY is delivered at commit, so the sequencer never looks before the entries are visible.
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"NOTIFY {QueuedChannel}"));
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return inserted;
    }

    /// <summary>The entry recording event <paramref name="eventId"/>, sequenced or not.</summary>
    public async Task<StoredEntry?> GetByEventIdAsync(Guid eventId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {EntryColumns} FROM ledger_entries WHERE event_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = eventId });
        return (await ReadEntriesAsync(command, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Those of the entries recording <paramref name="eventIds"/> that have been sequenced.</summary>
    public async Task<IReadOnlyList<StoredEntry>> GetSequencedAsync(Guid[] eventIds, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {EntryColumns} FROM ledger_entries WHERE event_id = ANY($1) AND idx IS NOT NULL");
        command.Parameters.Add(new NpgsqlParameter { Value = eventIds });
        return await ReadEntriesAsync(command, cancellationToken);
    }

    /// <summary>The sequenced entry whose leaf hash is <paramref name="leafHash"/> with the lowest index.</summary>
    public async Task<StoredEntry?> GetByLeafHashAsync(byte[] leafHash, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {EntryColumns} FROM ledger_entries WHERE leaf_hash = $1 AND idx IS NOT NULL ORDER BY idx LIMIT 1");
        command.Parameters.Add(new NpgsqlParameter { Value = leafHash });
        return (await ReadEntriesAsync(command, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Sequenced entries with index in [<paramref name="start"/>, <paramref name="end"/>), at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<StoredEntry>> GetRangeAsync(long start, long end, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {EntryColumns} FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3");
        command.Parameters.Add(new NpgsqlParameter { Value = start });
        command.Parameters.Add(new NpgsqlParameter { Value = end });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        return await ReadEntriesAsync(command, cancellationToken);
    }

    /// <summary>Sequenced entries about one subject with index ≥ <paramref name="fromIndex"/>, by index.</summary>
    public async Task<IReadOnlyList<StoredEntry>> GetBySubjectAsync(
        string kind, string value, long fromIndex, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
             SELECT {string.Join(", ", EntryColumns.Split(", ").Select(c => "e." + c))}
             FROM ledger_subjects s JOIN ledger_entries e ON e.event_id = s.event_id
             WHERE s.kind = $1 AND s.value = $2 AND e.idx >= $3
             ORDER BY e.idx LIMIT $4
             """);
        command.Parameters.Add(new NpgsqlParameter { Value = kind });
        command.Parameters.Add(new NpgsqlParameter { Value = value });
        command.Parameters.Add(new NpgsqlParameter { Value = fromIndex });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        return await ReadEntriesAsync(command, cancellationToken);
    }

    /// <summary>The number of sequenced entries.</summary>
    public async Task<long> GetTreeSizeAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT size FROM ledger_tree WHERE id = 1");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// The stored hashes of <paramref name="nodes"/>; a node the store lacks is absent from the result. A stored node
    /// never changes, so the upper ones — few, and part of almost every proof — are kept in memory once read.
    /// </summary>
    public async Task<Dictionary<NodeId, byte[]>> GetNodesAsync(IEnumerable<NodeId> nodes, CancellationToken cancellationToken)
    {
        var result = new Dictionary<NodeId, byte[]>();
        var missing = new List<NodeId>();
        foreach (var node in nodes.Distinct())
        {
            if (node.Level >= CachedLevel && _upperNodes.TryGetValue(node, out var hash))
            {
                result[node] = hash;
            }
            else
            {
                missing.Add(node);
            }
        }

        if (missing.Count == 0)
        {
            return result;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        foreach (var (node, hash) in await GetNodesAsync(connection, null, missing, cancellationToken))
        {
            result[node] = hash;
            if (node.Level >= CachedLevel && _upperNodes.Count < CacheCapacity)
            {
                _upperNodes.TryAdd(node, hash);
            }
        }

        return result;
    }

    internal static async Task<Dictionary<NodeId, byte[]>> GetNodesAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, IEnumerable<NodeId> nodes, CancellationToken cancellationToken)
    {
        var wanted = nodes.Distinct().ToArray();
        var result = new Dictionary<NodeId, byte[]>(wanted.Length);
        if (wanted.Length == 0)
        {
            return result;
        }

        await using var command = new NpgsqlCommand(
            """
            SELECT n.level, n.idx, n.hash
            FROM unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
            JOIN ledger_nodes n ON n.level = w.level AND n.idx = w.idx
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = wanted.Select(n => (short)n.Level).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = wanted.Select(n => n.Index).ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result[new NodeId(reader.GetInt16(0), reader.GetInt64(1))] = (byte[])reader[2];
        }

        return result;
    }

    /// <summary>The newest signed checkpoint, if any.</summary>
    public async Task<StoredCheckpoint?> GetLatestCheckpointAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT size, root, note, signed_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new StoredCheckpoint(reader.GetInt64(0), (byte[])reader[1], reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3))
            : null;
    }

    private static async Task<IReadOnlyList<StoredEntry>> ReadEntriesAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var entries = new List<StoredEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(new StoredEntry(
                reader.IsDBNull(0) ? null : reader.GetInt64(0),
                reader.GetGuid(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4),
                (byte[])reader[5],
                (byte[])reader[6],
                reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7)));
        }

        return entries;
    }
}

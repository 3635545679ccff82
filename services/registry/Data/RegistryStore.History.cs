using Google.Protobuf.WellKnownTypes;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using Npgsql;

namespace ModelOps.Registry.Data;

/// <summary>What a stage or alias holds, held, and held at an instant.</summary>
public sealed partial class RegistryStore
{
    /// <summary>Every assignment of a model, or of one of its targets, newest first.</summary>
    public async Task<List<Assignment>> ListHistoryAsync(string model, Target? target, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = target is null
            ? Command(connection, null,
                $"SELECT {AssignmentColumns} FROM assignments a WHERE a.model = $1 ORDER BY a.valid_from DESC, a.assignment_id DESC LIMIT {limit} OFFSET {offset}", model)
            : Command(connection, null,
                $"SELECT {AssignmentColumns} FROM assignments a WHERE a.model = $1 AND a.target = $2 ORDER BY a.valid_from DESC, a.assignment_id DESC LIMIT {limit} OFFSET {offset}",
                model, Targets.Format(target));
        return await ReadAssignmentsAsync(command, cancellationToken);
    }

    /// <summary>The assignments of <paramref name="target"/> that held at <paramref name="at"/>, oldest first.</summary>
    public async Task<List<Assignment>> AssignmentsAtAsync(string model, Target target, DateTime at, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"""
             SELECT {AssignmentColumns} FROM assignments a
             WHERE a.model = $1 AND a.target = $2 AND a.valid_from <= $3 AND (a.valid_to IS NULL OR a.valid_to > $3)
             ORDER BY a.valid_from, a.assignment_id
             """,
            model, Targets.Format(target), at);
        return await ReadAssignmentsAsync(command, cancellationToken);
    }

    /// <summary>
    /// The newest assignment <paramref name="target"/> holds now, with the gate results that put it there (none for an
    /// override) and the decision's ledger index when known.
    /// </summary>
    public async Task<(Assignment Assignment, List<GateResult> Gates, long? LedgerIndex)?> CurrentAsync(string model, Target target, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"""
             SELECT {AssignmentColumns}, e.gates::text, a.ledger_index FROM assignments a LEFT JOIN gate_evaluations e USING (evaluation_id)
             WHERE a.model = $1 AND a.target = $2 AND a.valid_to IS NULL ORDER BY a.valid_from DESC, a.assignment_id DESC LIMIT 1
             """,
            model, Targets.Format(target));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return (ReadAssignment(reader), reader.IsDBNull(8) ? [] : ParseGates(reader.GetString(8)), reader.IsDBNull(9) ? null : reader.GetInt64(9));
    }

    /// <summary>Remembers where the ledger sequenced a decision.</summary>
    public async Task SetLedgerIndexAsync(Guid decisionEventId, long index, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("UPDATE assignments SET ledger_index = $2 WHERE decision_event_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = decisionEventId });
        command.Parameters.Add(new NpgsqlParameter { Value = index });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<List<Assignment>> ReadAssignmentsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var assignments = new List<Assignment>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            assignments.Add(ReadAssignment(reader));
        }

        return assignments;
    }

    private static Assignment ReadAssignment(NpgsqlDataReader reader)
    {
        var assignment = new Assignment
        {
            Target = Targets.Parse(reader.GetString(0)),
            Version = reader.GetInt32(1),
            Since = Timestamp.FromDateTime(reader.GetDateTime(2)),
            RequestId = reader.IsDBNull(4) ? "" : reader.GetGuid(4).ToString(),
            OverrideReason = reader.IsDBNull(5) ? "" : reader.GetString(5),
            DecidedBy = reader.GetString(6),
            DecisionEventId = reader.GetGuid(7).ToString(),
        };
        if (!reader.IsDBNull(3))
        {
            assignment.Until = Timestamp.FromDateTime(reader.GetDateTime(3));
        }

        return assignment;
    }
}

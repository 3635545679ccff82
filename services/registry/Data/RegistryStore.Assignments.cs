using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using Npgsql;
using NpgsqlTypes;

namespace ModelOps.Registry.Data;

/// <summary>A move of a version to a stage or alias, by a request whose gates passed or by an admin's override.</summary>
/// <param name="Version">The version that moves, with the stage it is in now.</param>
/// <param name="Target">Where to.</param>
/// <param name="RequestId">The deciding request; null for an override.</param>
/// <param name="EvaluationId">The evaluation whose gates passed; null for an override.</param>
/// <param name="OverrideReason">The override's reason; null for a request.</param>
/// <param name="Actor">Who decided: the last approver, or the admin.</param>
/// <param name="Reason">The request's justification, or the override's reason.</param>
public sealed record Transition(
    VersionSnapshot Version, Target Target, Guid? RequestId, Guid? EvaluationId, string? OverrideReason, string Actor, string Reason);

/// <summary>Assignments: what each stage and alias holds, held, and held at an instant, and the moves that change them.</summary>
public sealed partial class RegistryStore
{
    private const string AssignmentColumns = "a.target, a.version, a.valid_from, a.valid_to, a.request_id, a.override_reason, a.decided_by, a.decision_event_id";

    /// <summary>The stage a version is in now.</summary>
    public static async Task<Stage> StageAsync(UnitOfWork tx, string model, int version, CancellationToken cancellationToken)
    {
        await using var command = tx.Command("SELECT stage FROM model_versions WHERE model = $1 AND version = $2", model, version);
        return await command.ExecuteScalarAsync(cancellationToken) is string stage
            ? Targets.ParseStage(stage)
            : throw ServiceErrors.NotFound("model_version", $"{model}/{version}");
    }

    /// <summary>The version an alias points at now, or null.</summary>
    public static async Task<int?> AliasHolderAsync(UnitOfWork tx, string model, string alias, CancellationToken cancellationToken)
    {
        await using var command = tx.Command(
            "SELECT version FROM assignments WHERE model = $1 AND target = $2 AND valid_to IS NULL", model, "alias:" + alias);
        return await command.ExecuteScalarAsync(cancellationToken) as int?;
    }

    /// <summary>The versions in Production now other than <paramref name="except"/>, longest-serving first.</summary>
    public static async Task<List<VersionSnapshot>> ProductionAsync(UnitOfWork tx, VersionSnapshot except, CancellationToken cancellationToken)
    {
        await using var others = tx.Command(
            """
            SELECT v.version, v.run_id, v.artifact_sha256 FROM assignments a JOIN model_versions v USING (model, version)
            WHERE a.model = $1 AND a.target = 'stage:PRODUCTION' AND a.valid_to IS NULL AND a.version <> $2
            ORDER BY a.valid_from, a.assignment_id
            """, except.Model, except.Version);
        var serving = new List<VersionSnapshot>();
        await using var reader = await others.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            serving.Add(except with { Version = reader.GetInt32(0), RunId = reader.GetString(1), ArtifactSha256 = reader.GetString(2), Stage = Stage.Production });
        }

        return serving;
    }

    /// <summary>
    /// Makes <paramref name="move"/> at <paramref name="now"/>: closes what the version (or the alias) held, opens the
    /// new assignment, and archives <paramref name="retire"/> (versions the Production cap pushes out). Returns one
    /// <see cref="StageChanged"/> per move, the target's own first: it is the decision.
    /// </summary>
    public static async Task<List<StageChanged>> ApplyAsync(
        UnitOfWork tx, DateTime now, Transition move, IReadOnlyList<VersionSnapshot> retire, CancellationToken cancellationToken)
    {
        var events = new List<StageChanged>();
        var version = move.Version;
        var target = move.Target;
        if (target.KindCase == Target.KindOneofCase.Alias)
        {
            var previous = await AliasHolderAsync(tx, version.Model, target.Alias, cancellationToken);
            await CloseAsync(tx, now, version.Model, Targets.Format(target), previous, cancellationToken);
            var changed = Event(move) with
            {
                Kind = TargetKind.Alias,
                Alias = target.Alias,
                PreviousVersion = previous,
                From = previous?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                To = Targets.Format(target),
            };
            await OpenAsync(tx, now, move, changed, cancellationToken);
            events.Add(changed);
            return events;
        }

        events.Add(await MoveStageAsync(tx, now, move, cancellationToken));
        foreach (var retired in retire)
        {
            events.Add(await MoveStageAsync(tx, now, move with
            {
                Version = retired,
                Target = new Target { Stage = Stage.Archived },
                Reason = $"replaced in PRODUCTION by version {version.Version}",
            }, cancellationToken));
        }

        return events;
    }

    /// <summary>Every assignment of a model, or of one of its targets, newest first.</summary>
    public async Task<List<Assignment>> ListHistoryAsync(string model, Target? target, int limit, long offset, CancellationToken cancellationToken)
    {
        await using var command = target is null
            ? dataSource.Command(
                $"SELECT {AssignmentColumns} FROM assignments a WHERE a.model = $1 ORDER BY a.valid_from DESC, a.assignment_id DESC LIMIT $2 OFFSET $3",
                model, limit, offset)
            : dataSource.Command(
                $"SELECT {AssignmentColumns} FROM assignments a WHERE a.model = $1 AND a.target = $2 ORDER BY a.valid_from DESC, a.assignment_id DESC LIMIT $3 OFFSET $4",
                model, Targets.Format(target), limit, offset);
        return await ReadAssignmentsAsync(command, cancellationToken);
    }

    /// <summary>The assignments of <paramref name="target"/> that held at <paramref name="at"/>, oldest first.</summary>
    public async Task<List<Assignment>> AssignmentsAtAsync(string model, Target target, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command(
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
        await using var command = dataSource.Command(
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
        await using var command = dataSource.Command("UPDATE assignments SET ledger_index = $2 WHERE decision_event_id = $1", decisionEventId, index);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<StageChanged> MoveStageAsync(UnitOfWork tx, DateTime now, Transition move, CancellationToken cancellationToken)
    {
        var version = move.Version;
        var to = move.Target.Stage;
        await CloseAsync(tx, now, version.Model, Targets.Of(version.Stage), version.Version, cancellationToken);
        await using var batch = tx.Batch(
            Sql.Statement("UPDATE model_versions SET stage = $3 WHERE model = $1 AND version = $2", version.Model, version.Version, Targets.StageName(to)));
        if (to == Stage.Archived)
        {
            // An archived version serves nothing: its aliases end with it.
            batch.BatchCommands.Add(Sql.Statement(
                "UPDATE assignments SET valid_to = $3 WHERE model = $1 AND version = $2 AND valid_to IS NULL AND target LIKE 'alias:%'",
                version.Model, version.Version, now));
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
        var changed = Event(move) with
        {
            Kind = TargetKind.Stage,
            Stage = Targets.ToContract(to),
            PreviousStage = Targets.ToContract(version.Stage),
            From = Targets.Of(version.Stage),
            To = Targets.Of(to),
        };
        if (to != Stage.None)
        {
            // A version outside every stage holds nothing, so a move to NONE opens no assignment.
            await OpenAsync(tx, now, move, changed, cancellationToken);
        }

        return changed;
    }

    private static StageChanged Event(Transition move) => new()
    {
        Actor = move.Actor,
        Model = move.Version.Model,
        Version = move.Version.Version,
        RunId = move.Version.RunId,
        To = "",
        ArtifactSha256 = move.Version.ArtifactSha256,
        RequestId = move.RequestId,
        Override = move.OverrideReason is not null,
        Reason = move.Reason,
    };

    private static async Task CloseAsync(UnitOfWork tx, DateTime now, string model, string target, int? version, CancellationToken cancellationToken)
    {
        if (version is null)
        {
            return;
        }

        await using var close = tx.Command(
            "UPDATE assignments SET valid_to = $4 WHERE model = $1 AND target = $2 AND version = $3 AND valid_to IS NULL", model, target, version.Value, now);
        await close.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task OpenAsync(UnitOfWork tx, DateTime now, Transition move, StageChanged changed, CancellationToken cancellationToken)
    {
        await using var open = tx.Command(
            """
            INSERT INTO assignments (model, target, version, valid_from, request_id, evaluation_id, override_reason, decided_by, decision_event_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            move.Version.Model, changed.To, move.Version.Version, now, Sql.Typed(move.RequestId, NpgsqlDbType.Uuid),
            Sql.Typed(move.EvaluationId, NpgsqlDbType.Uuid), Sql.Typed(move.OverrideReason, NpgsqlDbType.Text), move.Actor, changed.EventId);
        await open.ExecuteNonQueryAsync(cancellationToken);
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
            Since = Time(reader, 2),
            RequestId = reader.IsDBNull(4) ? "" : reader.GetGuid(4).ToString(),
            OverrideReason = reader.IsDBNull(5) ? "" : reader.GetString(5),
            DecidedBy = reader.GetString(6),
            DecisionEventId = reader.GetGuid(7).ToString(),
        };
        if (!reader.IsDBNull(3))
        {
            assignment.Until = Time(reader, 3);
        }

        return assignment;
    }
}

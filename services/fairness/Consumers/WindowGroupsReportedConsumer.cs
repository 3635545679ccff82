using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using MassTransit;
using ModelOps.Contracts;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Contracts.Fairness.V1;
using ModelOps.Fairness.Analysis;
using ModelOps.Fairness.Domain;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;

namespace ModelOps.Fairness.Consumers;

/// <summary>
/// Judges each production window the drift service reports with counts per group: stores its report, and for a watched
/// version announces a change — BiasDetected when a window crosses the limits after one that had not, BiasResolved when
/// one is within them again — in the same transaction as the report and the inbox record, so each window is judged once
/// and its announcement is never lost. A window that arrives after a later one of the same version is stored but does
/// not change the announced state.
/// </summary>
public sealed class WindowGroupsReportedConsumer(NpgsqlDataSource dataSource, FairnessMetrics metrics) : IdempotentConsumer<WindowGroupsReported>(dataSource)
{
    /// <inheritdoc />
    protected override async Task ConsumeOnceAsync(ConsumeContext<WindowGroupsReported> context, NpgsqlTransaction transaction)
    {
        var window = context.Message;
        var cancellationToken = context.CancellationToken;
        var (report, violations) = WindowAnalysis.Analyze(window);
        var id = Guid.CreateVersion7();
        report.Id = id.ToString();
        report.CreatedAt = Timestamp.FromDateTimeOffset(window.OccurredAt);
        report.CreatedBy = window.Actor;
        await using (var insert = new NpgsqlCommand(
                         """
                         INSERT INTO window_reports (id, model, version, window_start, count_window, created_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (model, version, window_start, count_window) DO NOTHING
                         """, transaction.Connection, transaction))
        {
            foreach (var value in new object[] { id, window.Model, window.Version, window.WindowStart, window.CountWindow ?? -1L, window.OccurredAt, report.ToByteArray() })
            {
                insert.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return; // this window was judged already (drift reports a window once; a replayed report changes nothing)
            }
        }

        bool? wasBiased = null;
        await using (var state = new NpgsqlCommand("SELECT biased FROM bias_states WHERE model = $1 AND version = $2 FOR UPDATE", transaction.Connection, transaction))
        {
            state.Parameters.Add(new NpgsqlParameter { Value = window.Model });
            state.Parameters.Add(new NpgsqlParameter { Value = window.Version });
            wasBiased = await state.ExecuteScalarAsync(cancellationToken) as bool?;
        }

        await using (var newer = new NpgsqlCommand("SELECT count(*) FROM window_reports WHERE model = $1 AND version = $2 AND (window_start, count_window) > ($3, $4)", transaction.Connection, transaction))
        {
            newer.Parameters.Add(new NpgsqlParameter { Value = window.Model });
            newer.Parameters.Add(new NpgsqlParameter { Value = window.Version });
            newer.Parameters.Add(new NpgsqlParameter { Value = window.WindowStart });
            newer.Parameters.Add(new NpgsqlParameter { Value = window.CountWindow ?? -1L });
            if ((long)(await newer.ExecuteScalarAsync(cancellationToken))! > 0)
            {
                metrics.Record(report);
                return; // a later window decided the state already
            }
        }

        var biased = violations.Count > 0;
        var events = new List<IIntegrationEvent>();
        if (biased && wasBiased != true && window.Watched)
        {
            events.Add(new BiasDetected
            {
                Actor = "fairness", Model = window.Model, Version = window.Version, WindowStart = window.WindowStart, WindowEnd = window.WindowEnd,
                ReportId = id, Violations = violations,
            });
        }
        else if (!biased && wasBiased == true)
        {
            events.Add(new BiasResolved { Actor = "fairness", Model = window.Model, Version = window.Version, WindowStart = window.WindowStart, ReportId = id });
        }

        // Unwatched versions are judged but not announced: their state stays unbiased, so that bias is announced once watched.
        var announcedBias = window.Watched ? biased : wasBiased == true && biased;
        await using (var save = new NpgsqlCommand(
                         """
                         INSERT INTO bias_states (model, version, biased, changed_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (model, version) DO UPDATE SET biased = excluded.biased,
                             changed_at = CASE WHEN bias_states.biased = excluded.biased THEN bias_states.changed_at ELSE excluded.changed_at END
                         """, transaction.Connection, transaction))
        {
            foreach (var value in new object[] { window.Model, window.Version, announcedBias, window.OccurredAt })
            {
                save.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            await save.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.EnqueueAsync(events, cancellationToken);
        metrics.Record(report);
    }
}

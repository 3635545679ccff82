using System.Text.Json;
using ModelOps.Alerting.Domain;
using ModelOps.Contracts.Alerting.V1;
using ModelOps.ServiceDefaults.Data;
using NpgsqlTypes;

namespace ModelOps.Alerting.Data;

/// <summary>A matcher as Alertmanager's API writes it.</summary>
public sealed record MatcherJson(string Name, string Value, bool IsRegex, bool IsEqual)
{
    /// <summary>The API form of <paramref name="matcher"/>.</summary>
    public static MatcherJson From(Matcher matcher) => new(
        matcher.Name, matcher.Value, matcher.Type is MatcherType.Regexp or MatcherType.NotRegexp, matcher.Type is MatcherType.Equal or MatcherType.Regexp);

    /// <summary>The matcher, or <see cref="FormatException"/>.</summary>
    public Matcher ToMatcher() => Matcher.Create(
        (IsRegex, IsEqual) switch
        {
            (false, true) => MatcherType.Equal,
            (false, false) => MatcherType.NotEqual,
            (true, true) => MatcherType.Regexp,
            _ => MatcherType.NotRegexp,
        },
        Name, Value);
}

public sealed partial class AlertStore
{
    /// <summary>Stores a new silence and announces it. Its problems (<see cref="Silence.Problem"/>) are checked by the caller.</summary>
    public async Task CreateSilenceAsync(Silence silence, string actor, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        await using (var insert = work.Command(
                         "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         silence.Id, Sql.Jsonb(MatchersJson(silence.Matchers)), silence.StartsAt, silence.EndsAt, silence.CreatedBy, silence.Comment,
                         silence.UpdatedAt))
        {
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        work.Publish(Changed(silence, actor, "created"));
        await work.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Ends a silence now (a pending one never starts), as Alertmanager's expire does; returns it as it is afterwards,
    /// null when there is no such silence. Expiring one already expired changes nothing.
    /// </summary>
    public async Task<Silence?> ExpireSilenceAsync(Guid id, string actor, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var work = await UnitOfWork.BeginAsync(dataSource, cancellationToken);
        Silence? silence;
        await using (var read = work.Command("SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at FROM silences WHERE id = $1 FOR UPDATE", id))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            silence = await reader.ReadAsync(cancellationToken) ? ReadSilence(reader) : null;
        }

        if (silence is null || silence.StateAt(now) == SilenceState.Expired)
        {
            return silence;
        }

        var expired = silence with { StartsAt = silence.StartsAt > now ? now : silence.StartsAt, EndsAt = now, UpdatedAt = now };
        await using (var update = work.Command("UPDATE silences SET starts_at = $2, ends_at = $3, updated_at = $3 WHERE id = $1", id, expired.StartsAt, now))
        {
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        work.Publish(Changed(expired, actor, "expired"));
        await work.CommitAsync(cancellationToken);
        return expired;
    }

    /// <summary>A silence by id, or null.</summary>
    public async Task<Silence?> GetSilenceAsync(Guid id, CancellationToken cancellationToken) =>
        (await ReadSilencesAsync("WHERE id = $1", [id], cancellationToken)).FirstOrDefault();

    /// <summary>Silences not expired before <paramref name="since"/>, newest first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<Silence>> ListSilencesAsync(DateTimeOffset since, int limit, CancellationToken cancellationToken) =>
        await ReadSilencesAsync("WHERE ends_at >= $1 ORDER BY updated_at DESC LIMIT $2", [since, limit], cancellationToken);

    private async Task<IReadOnlyList<Silence>> ReadSilencesAsync(string where, object[] values, CancellationToken cancellationToken)
    {
        await using var command = dataSource.Command($"SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at FROM silences {where}", values);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        List<Silence> silences = [];
        while (await reader.ReadAsync(cancellationToken))
        {
            silences.Add(ReadSilence(reader));
        }

        return silences;
    }

    private static Silence ReadSilence(Npgsql.NpgsqlDataReader reader) => new()
    {
        Id = reader.GetGuid(0),
        Matchers = new Matchers(JsonSerializer.Deserialize<List<MatcherJson>>(reader.GetString(1), Json)!.Select(m => m.ToMatcher())),
        StartsAt = reader.GetFieldValue<DateTimeOffset>(2),
        EndsAt = reader.GetFieldValue<DateTimeOffset>(3),
        CreatedBy = reader.GetString(4),
        Comment = reader.GetString(5),
        UpdatedAt = reader.GetFieldValue<DateTimeOffset>(6),
    };

    private static string MatchersJson(Matchers matchers) => JsonSerializer.Serialize(matchers.Items.Select(MatcherJson.From), Json);

    private static SilenceChanged Changed(Silence silence, string actor, string change) => new()
    {
        Actor = actor,
        SilenceId = silence.Id,
        Matchers = silence.Matchers.ToString(),
        StartsAt = silence.StartsAt,
        EndsAt = silence.EndsAt,
        CreatedBy = silence.CreatedBy,
        Comment = silence.Comment,
        Change = change,
    };
}

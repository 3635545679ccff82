using Npgsql;
using NpgsqlTypes;

namespace ModelOps.ServiceDefaults.Data;

/// <summary>
/// Commands with positional parameters (<c>$1</c>, <c>$2</c>, ...) from plain values: a value becomes a parameter of the
/// type Npgsql infers, null becomes SQL NULL, and an <see cref="NpgsqlParameter"/> (for jsonb, bytea arrays or a typed
/// NULL) is used as it is.
/// </summary>
public static class Sql
{
    /// <summary>A command on <paramref name="connection"/>, in <paramref name="transaction"/> when given.</summary>
    public static NpgsqlCommand Command(this NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, params object?[] values)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(values.Select(Parameter).ToArray());
        return command;
    }

    /// <summary>A command on a connection of its own from <paramref name="dataSource"/>.</summary>
    public static NpgsqlCommand Command(this NpgsqlDataSource dataSource, string sql, params object?[] values)
    {
        var command = dataSource.CreateCommand(sql);
        command.Parameters.AddRange(values.Select(Parameter).ToArray());
        return command;
    }

    /// <summary>One statement of a batch.</summary>
    public static NpgsqlBatchCommand Statement(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(values.Select(Parameter).ToArray());
        return command;
    }

    /// <summary>A jsonb parameter.</summary>
    public static NpgsqlParameter Jsonb(string json) => new() { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = json };

    /// <summary>A bytea[] parameter.</summary>
    public static NpgsqlParameter ByteaArray(byte[][] values) => new() { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea, Value = values };

    /// <summary>A parameter of <paramref name="type"/> that may be NULL.</summary>
    public static NpgsqlParameter Typed(object? value, NpgsqlDbType type) => new() { NpgsqlDbType = type, Value = value ?? DBNull.Value };

    private static NpgsqlParameter Parameter(object? value) => value switch
    {
        NpgsqlParameter parameter => parameter,
        null => new NpgsqlParameter { Value = DBNull.Value },
        _ => new NpgsqlParameter { Value = value },
    };
}

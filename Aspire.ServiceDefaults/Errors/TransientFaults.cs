using System.Net.Sockets;
using Npgsql;

namespace ModelOps.ServiceDefaults.Errors;

/// <summary>Which infrastructure a transient fault came from.</summary>
public enum FaultSource
{
    /// <summary>The service's PostgreSQL database.</summary>
    Database,

    /// <summary>The S3-compatible object store.</summary>
    ObjectStore,

    /// <summary>Another ModelOps service or the broker.</summary>
    Dependency,
}

/// <summary>
/// Tells a transient fault of the infrastructure (a database restarting or refusing connections, a dropped socket, an
/// object store away) from a defect. A transient fault is answered <c>UNAVAILABLE</c> so that clients retry, and a
/// consumer retries it without limit instead of parking the message.
/// </summary>
public static class TransientFaults
{
    /// <summary>Whether <paramref name="exception"/> (or what it wraps) is a transient infrastructure fault, and whose.</summary>
    public static bool IsTransient(Exception exception, out FaultSource source)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case PostgresException postgres:
                    source = FaultSource.Database;
                    return IsTransient(postgres);
                case NpgsqlException npgsql:
                    // Npgsql failing to reach the server or losing it mid-request (no SQLSTATE): transient when Npgsql says so.
                    source = FaultSource.Database;
                    return npgsql.IsTransient || npgsql.InnerException is SocketException or IOException or TimeoutException;
                case Minio.Exceptions.ConnectionException or Minio.Exceptions.InternalServerException:
                    source = FaultSource.ObjectStore;
                    return true;
                case HttpRequestException:
                    source = FaultSource.ObjectStore;
                    return true;
                case SocketException or TimeoutException:
                    source = FaultSource.Dependency;
                    return true;
            }

            if (current.GetType().FullName is "RabbitMQ.Client.Exceptions.BrokerUnreachableException"
                or "RabbitMQ.Client.Exceptions.AlreadyClosedException" or "MassTransit.RabbitMqConnectionException")
            {
                source = FaultSource.Dependency;
                return true;
            }
        }

        source = default;
        return false;
    }

    /// <summary>Whether <paramref name="exception"/> is a transient infrastructure fault.</summary>
    public static bool IsTransient(Exception exception) => IsTransient(exception, out _);

    // Class 08: the connection; class 53: resources that free up (not disk full or out of memory); 57P01–57P03: the server
    // shutting down or starting; 55000 at connection time: the database does not accept connections (ALLOW_CONNECTIONS
    // false, or recovery); 40001 and 40P01: a serialization failure or deadlock, which a retry of the whole unit clears.
    private static bool IsTransient(PostgresException exception) => exception.SqlState switch
    {
        PostgresErrorCodes.DiskFull or PostgresErrorCodes.OutOfMemory => false,
        var state when state.StartsWith("08", StringComparison.Ordinal) || state.StartsWith("53", StringComparison.Ordinal) => true,
        PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow => true,
        PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected => true,
        PostgresErrorCodes.ObjectNotInPrerequisiteState => exception.Severity is "FATAL" || exception.IsTransient,
        _ => exception.IsTransient,
    };
}

using ModelOps.ServiceDefaults.Messaging;
using Npgsql;
using RabbitMQ.Client;
using Xunit;

namespace ModelOps.Testing;

/// <summary>Faults as an operator would cause them, and what is left behind after them.</summary>
public static class Outages
{
    /// <summary>
    /// Takes <paramref name="database"/> away (no new connections, the open ones ended) or gives it back, through the
    /// superuser's connection to the <c>postgres</c> database.
    /// </summary>
    public static async Task SetDatabaseAsync(InfrastructureFixture infrastructure, string database, bool available)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var connection = new NpgsqlConnection(infrastructure.Postgres.ConnectionStringFor("postgres") + ";Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using (var alter = new NpgsqlCommand($"ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS {(available ? "true" : "false")}", connection))
        {
            await alter.ExecuteNonQueryAsync(cancellationToken);
        }

        if (!available)
        {
            await using var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", connection);
            terminate.Parameters.AddWithValue(database);
            await terminate.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The messages in each of <paramref name="queues"/> on the broker of <paramref name="brokerConnectionString"/>, as
    /// the broker answers a passive declare (exact, unlike the management API's lagging counts); 0 for a queue that does
    /// not exist.
    /// </summary>
    public static async Task<Dictionary<string, uint>> QueueDepthsAsync(string brokerConnectionString, IEnumerable<string> queues)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var broker = BrokerAddress.Parse(brokerConnectionString);
        var factory = new ConnectionFactory
        {
            HostName = broker.Host, Port = broker.Port, VirtualHost = broker.VirtualHost, UserName = broker.Username, Password = broker.Password,
        };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        var depths = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (var queue in queues)
        {
            // A failed passive declare closes its channel: one channel per queue.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            try
            {
                depths[queue] = (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                depths[queue] = 0; // The queue does not exist: nothing ever faulted.
            }
        }

        return depths;
    }
}

using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>
/// Sends events that faulted out of their consumer's retries back to their queue, so that nothing stays in an error
/// queue that nobody drains. Every <see cref="MessagingOptions.RedeliverParkedEvery"/>, each of this service's
/// <c>&lt;queue&gt;_error</c> queues is emptied into its queue; an event that has come back
/// <see cref="MessagingOptions.MaxRedeliveries"/> times already is moved to <c>&lt;queue&gt;_parked</c> instead, where it
/// waits for a person (it is counted by <see cref="DeliveryHealth"/>, which turns the service Degraded, and logged as an
/// error). Transient faults never get this far: consumers retry them without limit.
/// Written with RabbitMQ.Client because MassTransit 8 has no re-driver of error queues short of a message scheduler.
/// </summary>
internal sealed partial class ParkedRedelivery(
    BrokerAddress broker, DeliveryHealth health, IOptions<MessagingOptions> options, ILogger<ParkedRedelivery> logger)
    : BackgroundService, IReceiveEndpointObserver
{
    /// <summary>The header counting how often an event came back from its error queue.</summary>
    public const string RedeliveriesHeader = "x-modelops-redeliveries";

    private readonly ConcurrentDictionary<string, byte> _queues = new(StringComparer.Ordinal);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = options.Value.RedeliverParkedEvery;
        if (every <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(every);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (_queues.IsEmpty)
            {
                continue;
            }

            try
            {
                await RedeliverAsync(stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The broker away is no reason for alarm here: the next tick tries again.
                LogFailed(logger, exception);
            }
        }
    }

    /// <summary>Empties every error queue of this service once; returns how many events went back to their queue.</summary>
    public async Task<int> RedeliverAsync(CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            HostName = broker.Host,
            Port = broker.Port,
            VirtualHost = broker.VirtualHost,
            UserName = broker.Username,
            Password = broker.Password,
            ClientProvidedName = "modelops-parked-redelivery",
        };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        var redelivered = 0;
        foreach (var queue in _queues.Keys)
        {
            var parked = $"{queue}_parked";
            await channel.QueueDeclareAsync(parked, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
            for (var moved = 0; moved < options.Value.RedeliveryBatch; moved++)
            {
                var faulted = await GetAsync(channel, $"{queue}_error", cancellationToken);
                if (faulted is null)
                {
                    break;
                }

                var properties = new BasicProperties(faulted.BasicProperties);
                var headers = new Dictionary<string, object?>(faulted.BasicProperties.Headers ?? new Dictionary<string, object?>());
                var redeliveries = headers.TryGetValue(RedeliveriesHeader, out var count) ? Convert.ToInt32(count, System.Globalization.CultureInfo.InvariantCulture) : 0;
                foreach (var fault in headers.Keys.Where(k => k.StartsWith("MT-Fault", StringComparison.Ordinal) || k == "MT-Reason").ToList())
                {
                    headers.Remove(fault);
                }

                headers[RedeliveriesHeader] = redeliveries + 1;
                properties.Headers = headers;
                var target = redeliveries < options.Value.MaxRedeliveries ? queue : parked;
                // Published (and confirmed) before the faulted copy is acknowledged: a crash in between delivers it twice,
                // which idempotent consumers absorb, and never loses it.
                await channel.BasicPublishAsync("", target, mandatory: true, properties, faulted.Body.ToArray(), cancellationToken);
                await channel.BasicAckAsync(faulted.DeliveryTag, multiple: false, cancellationToken);
                if (target == queue)
                {
                    redelivered++;
                    health.Redelivered(queue);
                }
                else
                {
                    LogParkedOne(logger, queue, redeliveries, faulted.BasicProperties.MessageId ?? "");
                }
            }

            health.SetParked(queue, (await channel.QueueDeclarePassiveAsync(parked, cancellationToken)).MessageCount);
        }

        if (redelivered > 0)
        {
            LogRedelivered(logger, redelivered);
        }

        return redelivered;
    }

    private static async Task<BasicGetResult?> GetAsync(IChannel channel, string queue, CancellationToken cancellationToken)
    {
        try
        {
            return await channel.BasicGetAsync(queue, autoAck: false, cancellationToken);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return null; // No error queue yet: nothing ever faulted.
        }
    }

    /// <inheritdoc />
    public Task Ready(ReceiveEndpointReady ready)
    {
        var queue = ready.InputAddress.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        if (!string.IsNullOrEmpty(queue))
        {
            _queues.TryAdd(queue, 0);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    /// <inheritdoc />
    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    /// <inheritdoc />
    public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent {Count} faulted events back to their queues")]
    private static partial void LogRedelivered(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "An event of {Queue} failed after {Redeliveries} redeliveries and is parked (message id {MessageId})")]
    private static partial void LogParkedOne(ILogger logger, string queue, int redeliveries, string messageId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending faulted events back to their queues failed; the next round tries again")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

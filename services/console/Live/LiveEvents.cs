using MassTransit;
using ModelOps.Contracts;
using ModelOps.ServiceDefaults.Messaging;

namespace ModelOps.Console.Live;

/// <summary>An event some service announced: its type's short name and what it is about.</summary>
public sealed record LiveEvent(string Type, IReadOnlyDictionary<string, string> Subjects)
{
    /// <summary>Whether the event is about <paramref name="kind"/> <paramref name="value"/>.</summary>
    public bool IsAbout(string kind, string value) => Subjects.TryGetValue(kind, out var id) && id == value;
}

/// <summary>
/// Live updates: every governance event of the stack reaches this console instance, and each open page that cares
/// reloads what it shows and pushes it to its browser over the page's own connection (SignalR). A page also looks
/// again every <c>Console:RefreshSeconds</c>, for the moments when the broker is away.
/// </summary>
public sealed class LiveEvents
{
    /// <summary>Raised for each event, on the consumer's thread: handlers hand the work to their page's dispatcher.</summary>
    public event Action<LiveEvent>? Arrived;

    /// <summary>Tells every open page of <paramref name="live"/>.</summary>
    public void Publish(LiveEvent live) => Arrived?.Invoke(live);
}

/// <summary>Receives every integration event (the envelope, as the ledger does) and tells the open pages.</summary>
public sealed class LiveEventConsumer(LiveEvents live) : IConsumer<IIntegrationEvent>
{
    /// <inheritdoc />
    public Task Consume(ConsumeContext<IIntegrationEvent> context)
    {
        var type = context.SupportedMessageTypes.FirstOrDefault(t => !t.EndsWith(":IIntegrationEvent", StringComparison.Ordinal) && !t.EndsWith(":IntegrationEvent", StringComparison.Ordinal)) ?? "";
        // urn:message:ModelOps.Contracts.Registry.V1:PromotionDecided → PromotionDecided
        live.Publish(new LiveEvent(type[(type.LastIndexOf(':') + 1)..], context.Message.Subjects ?? new Dictionary<string, string>()));
        return Task.CompletedTask;
    }
}

/// <summary>Connects the console to the event bus, when one is configured.</summary>
public static class LiveEventsExtensions
{
    /// <summary>
    /// Each console instance listens on a queue of its own that the broker deletes when the instance goes (events are
    /// only hints to reload: one missed while the console is down changes nothing, since pages read the services).
    /// </summary>
    public static WebApplicationBuilder AddLiveEvents(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<LiveEvents>();
        var connectionString = builder.Configuration.GetConnectionString("eventbus");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return builder;
        }

        var broker = BrokerAddress.Parse(connectionString);
        builder.Services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetry();
            bus.AddConsumer<LiveEventConsumer>();
            bus.UsingRabbitMq((context, rabbit) =>
            {
                rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
                {
                    host.Username(broker.Username);
                    host.Password(broker.Password);
                });
                rabbit.ReceiveEndpoint($"console-live-{Guid.NewGuid():N}", endpoint =>
                {
                    endpoint.AutoDelete = true;
                    endpoint.Durable = false;
                    endpoint.ConfigureConsumer<LiveEventConsumer>(context);
                });
            });
        });
        return builder;
    }
}

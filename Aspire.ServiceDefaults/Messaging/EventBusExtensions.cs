using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.ServiceDefaults.Messaging;

/// <summary>MassTransit on RabbitMQ, with the shared transactional outbox relay.</summary>
public static class EventBusExtensions
{
    /// <summary>
    /// Connects to RabbitMQ from <c>ConnectionStrings:&lt;connectionName&gt;</c> (<c>amqp://user:pass@host:port/vhost</c>),
    /// with kebab-case endpoints prefixed by the service name (so two services' consumers of one event get a queue each,
    /// while replicas of one service compete on it), exponential retry, and the outbox relay. The service's
    /// database must be added first (<c>AddServiceDatabase</c>): the outbox lives there.
    /// </summary>
    public static TBuilder AddEventBus<TBuilder>(
        this TBuilder builder, string connectionName = "eventbus", Action<IBusRegistrationConfigurator>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured.");
        }

        var broker = BrokerAddress.Parse(connectionString);
        var service = ServiceInfo.From(builder);
        var serviceName = service.Name;
        builder.Services.TryAddSingleton(service);

        builder.Services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.Section);
        var messaging = builder.Configuration.GetSection(MessagingOptions.Section).Get<MessagingOptions>() ?? new MessagingOptions();
        builder.Services.TryAddSingleton(broker);
        builder.Services.TryAddSingleton<DeliveryHealth>();
        builder.Services.TryAddSingleton<OutboxHealth>();
        builder.Services.TryAddSingleton<ParkedRedelivery>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<ParkedRedelivery>());
        builder.Services.AddReceiveEndpointObserver<ParkedRedelivery>();
        builder.Services.AddHealthChecks()
            .AddCheck<DeliveryHealth>("event-delivery", tags: [Extensions.ReadyTag])
            .AddCheck<BrokerReadiness>("eventbus", tags: [Extensions.ReadyTag])
            .AddCheck<OutboxHealth>("outbox", tags: [Extensions.ReadyTag])
            .AddCheck<OutboxRelayLiveness>("outbox-relay", tags: [Extensions.LiveTag]);

        builder.Services.AddMassTransit(bus =>
        {
            // No service talks to anything outside its own stack: MassTransit's usage reports to its vendor are off.
            bus.DisableUsageTelemetry();
            bus.SetEndpointNameFormatter(new KebabCaseEndpointNameFormatter(serviceName, includeNamespace: false));
            configure?.Invoke(bus);
            bus.UsingRabbitMq((context, rabbit) =>
            {
                rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
                {
                    host.Username(broker.Username);
                    host.Password(broker.Password);
                });

                // Two retry filters, the first outermost. A transient fault of the infrastructure (the database away, a
                // lost connection) is retried without limit, backing off, and turns health Degraded meanwhile: a governance
                // event must never be parked for an outage. Any other fault is retried a few times, then goes to the
                // error queue, from which ParkedRedelivery sends it back (and parks it for a person in the end).
                rabbit.UseMessageRetry(retry =>
                {
                    retry.Handle<Exception>(TransientFaults.IsTransient);
                    retry.Exponential(int.MaxValue, TimeSpan.FromMilliseconds(200), messaging.TransientRetryMaxInterval, TimeSpan.FromMilliseconds(500));
                    retry.ConnectRetryObserver(context.GetRequiredService<DeliveryHealth>());
                });
                rabbit.UseMessageRetry(retry =>
                {
                    retry.Ignore<Exception>(TransientFaults.IsTransient);
                    retry.Exponential(messaging.RetryLimit, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));
                });
                rabbit.ConfigureEndpoints(context);
            });
        });

        builder.Services.AddOptions<OutboxOptions>().BindConfiguration(OutboxOptions.Section);
        builder.Services.AddHostedService<OutboxRelay>();
        return builder;
    }
}

/// <summary>The parts of an AMQP URI.</summary>
public sealed record BrokerAddress(string Host, ushort Port, string VirtualHost, string Username, string Password)
{
    /// <summary>Parses <c>amqp://user:pass@host:port/vhost</c>; the vhost defaults to <c>/</c>, the port to 5672.</summary>
    public static BrokerAddress Parse(string connectionString)
    {
        if (!Uri.TryCreate(connectionString, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "rabbitmq"))
        {
            throw new FormatException("The event bus connection string must be an amqp:// URI.");
        }

        var userInfo = uri.UserInfo.Split(':', 2);
        var virtualHost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        return new BrokerAddress(
            uri.Host,
            (ushort)(uri.IsDefaultPort ? 5672 : uri.Port),
            virtualHost.Length == 0 ? "/" : virtualHost,
            userInfo.Length > 0 && userInfo[0].Length > 0 ? Uri.UnescapeDataString(userInfo[0]) : "guest",
            userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "guest");
    }
}

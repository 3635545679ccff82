using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

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

        builder.Services.AddMassTransit(bus =>
        {
            bus.SetEndpointNameFormatter(new KebabCaseEndpointNameFormatter(serviceName, includeNamespace: false));
            configure?.Invoke(bus);
            bus.UsingRabbitMq((context, rabbit) =>
            {
                rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
                {
                    host.Username(broker.Username);
                    host.Password(broker.Password);
                });
                rabbit.UseMessageRetry(retry => retry.Exponential(
                    5, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200)));
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

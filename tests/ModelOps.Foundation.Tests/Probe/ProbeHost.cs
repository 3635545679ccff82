using ModelOps.Hosting.Local;
using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Foundation.Tests.Probe;

/// <summary>Records the duplicates the inbox turned away.</summary>
public sealed class DuplicateLog
{
    public ConcurrentBag<Guid> EventIds { get; } = [];
}

/// <summary>Writes one effect row per event it handles, through the inbox.</summary>
public sealed class ProbeRecordedConsumer(NpgsqlDataSource dataSource, DuplicateLog duplicates)
    : IdempotentConsumer<ProbeRecorded>(dataSource)
{
    protected override async Task ConsumeOnceAsync(ConsumeContext<ProbeRecorded> context, NpgsqlTransaction transaction)
    {
        await using var insert = new NpgsqlCommand(
            "INSERT INTO probe_effects (event_id, probe, trace_id) VALUES ($1, $2, $3)", transaction.Connection, transaction);
        insert.Parameters.Add(new NpgsqlParameter { Value = context.Message.EventId });
        insert.Parameters.Add(new NpgsqlParameter { Value = context.Message.Probe });
        insert.Parameters.Add(new NpgsqlParameter { Value = (object?)System.Diagnostics.Activity.Current?.TraceId.ToHexString() ?? DBNull.Value });
        await insert.ExecuteNonQueryAsync(context.CancellationToken);
    }

    protected override Task OnDuplicateAsync(ConsumeContext<ProbeRecorded> context)
    {
        duplicates.EventIds.Add(context.Message.EventId);
        return Task.CompletedTask;
    }
}

/// <summary>
/// Holds the first publish of each probe whose name starts with <see cref="Prefix"/> for good, whatever its cancellation
/// token says: a publish caught in the broker client as one was seen to be.
/// </summary>
public sealed class StallingPublishObserver : IPublishObserver
{
    /// <summary>Probes named with this prefix stall on their first publish.</summary>
    public const string Prefix = "stall-once";

    private readonly ConcurrentDictionary<Guid, bool> _stalled = new();

    public Task PrePublish<T>(PublishContext<T> context) where T : class =>
        context.Message is ProbeRecorded probe && probe.Probe.StartsWith(Prefix, StringComparison.Ordinal) && _stalled.TryAdd(probe.EventId, true)
            ? new TaskCompletionSource().Task
            : Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Task.CompletedTask;
}

/// <summary>
/// A service host as the real services build theirs (database with migrations, event bus with the outbox
/// relay), with the probe consumer, against one test class's database and virtual host.
/// </summary>
public sealed class ProbeHost : IAsyncDisposable
{
    private readonly IHost _host;

    private ProbeHost(IHost host) => _host = host;

    public NpgsqlDataSource Database => _host.Services.GetRequiredService<NpgsqlDataSource>();

    public DuplicateLog Duplicates => _host.Services.GetRequiredService<DuplicateLog>();

    public IBus Bus => _host.Services.GetRequiredService<IBus>();

    public OutboxHealth OutboxHealth => _host.Services.GetRequiredService<OutboxHealth>();

    public static async Task<ProbeHost> StartAsync(LocalTenant environment, string? brokerConnectionString = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ApplicationName = "ModelOps.Probe",
            EnvironmentName = Environments.Development,
        });
        var configuration = environment.ServiceConfiguration("probe");
        if (brokerConnectionString is not null)
        {
            configuration["ConnectionStrings:eventbus"] = brokerConnectionString;
        }

        // Short relay waits keep the tests quick; the defaults are for production.
        configuration["Outbox:PollInterval"] = "00:00:00.500";
        configuration["Outbox:PublishTimeout"] = "00:00:03";
        configuration["Outbox:MaxRetryDelay"] = "00:00:01";
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddSingleton<DuplicateLog>();
        builder.Services.AddPublishObserver<StallingPublishObserver>();
        builder.AddServiceDatabase("probedb", typeof(ProbeHost).Assembly);
        builder.AddEventBus(configure: bus => bus.AddConsumer<ProbeRecordedConsumer>());

        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        // The receive endpoint must exist before anything is published, or the first events have no queue to land in.
        await host.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(60));
        return new ProbeHost(host);
    }

    /// <summary>Writes <paramref name="events"/> to the outbox and commits, or rolls back.</summary>
    public async Task WriteAsync(IReadOnlyCollection<ProbeRecorded> events, bool commit = true)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var connection = await Database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await transaction.EnqueueAsync(events.Cast<ModelOps.Contracts.IIntegrationEvent>().ToList(), cancellationToken);
        if (commit)
        {
            await transaction.CommitAsync(cancellationToken);
        }
        else
        {
            await transaction.RollbackAsync(cancellationToken);
        }
    }

    /// <summary>How many times each event was acted on.</summary>
    public async Task<Dictionary<Guid, long>> EffectsAsync()
    {
        await using var command = Database.CreateCommand("SELECT event_id, count(*) FROM probe_effects GROUP BY event_id");
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var effects = new Dictionary<Guid, long>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            effects[reader.GetGuid(0)] = reader.GetInt64(1);
        }

        return effects;
    }

    /// <summary>Outbox rows not yet published.</summary>
    public async Task<long> PendingAsync()
    {
        await using var command = Database.CreateCommand("SELECT count(*) FROM outbox_messages WHERE published_at IS NULL");
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public async Task<long> OutboxRowsAsync(Guid eventId)
    {
        await using var command = Database.CreateCommand("SELECT count(*) FROM outbox_messages WHERE event_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = eventId });
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    /// <summary>The trace the consumer ran in when it handled <paramref name="eventId"/>.</summary>
    public async Task<string?> TraceOfEffectAsync(Guid eventId)
    {
        await using var command = Database.CreateCommand("SELECT trace_id FROM probe_effects WHERE event_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = eventId });
        return await command.ExecuteScalarAsync(TestContext.Current.CancellationToken) as string;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }
}

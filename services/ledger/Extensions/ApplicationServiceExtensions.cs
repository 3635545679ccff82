using MassTransit;
using ModelOps.Ledger.Consumers;
using ModelOps.Ledger.Data;
using ModelOps.Ledger.Domain;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Messaging;

namespace ModelOps.Ledger.Extensions;

internal static class ApplicationServiceExtensions
{
    /// <summary>The ledger's database, its consumer of every event, the sequencer and the checkpoint signer.</summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<LedgerOptions>().BindConfiguration(LedgerOptions.Section);
        builder.AddServiceDatabase("ledgerdb", typeof(Program).Assembly);
        builder.AddEventBus(configure: bus => bus.AddConsumer<IntegrationEventConsumer>(consumer =>
            // Up to 500 events per commit; a lone event waits at most 20 ms for company.
            consumer.Options<BatchOptions>(batch => batch.SetMessageLimit(500).SetTimeLimit(TimeSpan.FromMilliseconds(20)).SetConcurrencyLimit(2))));
        builder.Services.AddSingleton<LedgerStore>();
        builder.Services.AddSingleton<CheckpointSigner>();
        builder.Services.AddHostedService<Sequencer>();
        builder.Services.AddSingleton<TreeHead>().AddHostedService(provider => provider.GetRequiredService<TreeHead>());
        builder.Services.AddSingleton<AppendBatcher>().AddHostedService(provider => provider.GetRequiredService<AppendBatcher>());
        return builder;
    }
}

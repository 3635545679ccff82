using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Eventing;
using Aspire.Hosting.Lifecycle;

namespace ModelOps.AppHost.Resources;

/// <summary>
/// The dashboard listens on the ports the AppHost reserved for it (<see cref="AppHostOptions.DashboardArguments"/>),
/// without Aspire's proxy in front. Aspire proxies the dashboard's endpoints by default: the proxy takes the reserved
/// port and the dashboard itself binds a second port that the orchestrator picks at that moment, outside our port
/// reservations, so a server of another stack starting on the same machine could take it first and the dashboard would
/// exit with "address in use" (its exit code 102). A non-proxied endpoint's target port is the reserved port itself.
/// </summary>
internal sealed class DashboardPorts : IDistributedApplicationEventingSubscriber
{
    // The dashboard's resource name in Aspire.
    private const string DashboardResource = "aspire-dashboard";

    /// <inheritdoc />
    public Task SubscribeAsync(IDistributedApplicationEventing eventing, DistributedApplicationExecutionContext executionContext,
        CancellationToken cancellationToken)
    {
        // Registered after Aspire's own dashboard subscriber, so this runs once the dashboard's endpoints exist.
        eventing.Subscribe<BeforeStartEvent>((@event, _) =>
        {
            var dashboard = @event.Model.Resources.SingleOrDefault(resource => resource.Name == DashboardResource);
            foreach (var endpoint in dashboard?.Annotations.OfType<EndpointAnnotation>() ?? [])
            {
                if (endpoint.Port is not null)
                {
                    endpoint.IsProxied = false;
                }
            }

            return Task.CompletedTask;
        });
        return Task.CompletedTask;
    }
}

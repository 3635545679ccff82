using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.Testing;

namespace ModelOps.Foundation.Tests;

/// <summary>A service calling another by name: found through service discovery, presenting its own token.</summary>
public sealed class ServiceGrpcClientTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private WebApplication _peer = null!;
    private string _address = "";

    public async ValueTask InitializeAsync() =>
        (_peer, _address) = await GrpcTestHost.StartAsync(infrastructure, "ModelOps.Peer", app =>
        {
            app.MapGrpcHealthChecksService().AllowAnonymous();
            app.MapGrpcReflectionService().RequireAuthorization(policy => policy.RequireRole(Roles.Service));
        });

    public ValueTask DisposeAsync() => _peer.DisposeAsync();

    [Fact]
    public async Task ClientFindsThePeerByNameAndPresentsTheServiceToken()
    {
        using var caller = Caller(infrastructure.Tokens.CreateToken("service:registry", [Roles.Service]));
        var health = caller.Services.GetRequiredService<Health.HealthClient>();
        var reflection = caller.Services.GetRequiredService<ServerReflection.ServerReflectionClient>();

        var status = await health.CheckAsync(new HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);
        var services = await GrpcTestHost.ListServicesAsync(reflection);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, status.Status);
        Assert.Contains("grpc.reflection.v1alpha.ServerReflection", services);
    }

    [Fact]
    public async Task ClientWithoutAServiceTokenIsUnauthenticated()
    {
        using var caller = Caller(serviceToken: null);
        var reflection = caller.Services.GetRequiredService<ServerReflection.ServerReflectionClient>();

        var exception = await Assert.ThrowsAsync<RpcException>(() => GrpcTestHost.ListServicesAsync(reflection));

        Assert.Equal(StatusCode.Unauthenticated, exception.StatusCode);
    }

    private IHost Caller(string? serviceToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "ModelOps.Caller" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Identity:Issuer"] = infrastructure.Tokens.Issuer,
            ["Identity:SigningKeys"] = infrastructure.Tokens.JsonWebKeySet(),
            ["Identity:ServiceToken"] = serviceToken,
            ["services:peer:grpc:0"] = _address,
        });
        builder.AddServiceDefaults();
        builder.Services.AddServiceGrpcClient<Health.HealthClient>("peer");
        builder.Services.AddServiceGrpcClient<ServerReflection.ServerReflectionClient>("peer");
        return builder.Build();
    }
}

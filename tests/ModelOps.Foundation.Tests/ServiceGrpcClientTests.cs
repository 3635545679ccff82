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
    private int _port;

    public async ValueTask InitializeAsync()
    {
        _port = infrastructure.Context.Ports.Take();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = "ModelOps.Peer" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Identity:Issuer"] = infrastructure.Tokens.Issuer,
            ["Identity:SigningKeys"] = infrastructure.Tokens.JsonWebKeySet(),
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{_port}",
            ["Kestrel:Endpoints:grpc:Protocols"] = "Http2",
        });
        builder.AddServiceDefaults();
        _peer = builder.Build();
        _peer.UseAuthentication();
        _peer.UseAuthorization();
        _peer.MapGrpcHealthChecksService().AllowAnonymous();
        _peer.MapGrpcReflectionService().RequireAuthorization(policy => policy.RequireRole(Roles.Service));
        await _peer.StartAsync(TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync() => _peer.DisposeAsync();

    [Fact]
    public async Task ClientFindsThePeerByNameAndPresentsTheServiceToken()
    {
        using var caller = Caller(infrastructure.Tokens.CreateToken("service:registry", [Roles.Service]));
        var health = caller.Services.GetRequiredService<Health.HealthClient>();
        var reflection = caller.Services.GetRequiredService<ServerReflection.ServerReflectionClient>();

        var status = await health.CheckAsync(new HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);
        var services = await ListServicesAsync(reflection);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, status.Status);
        Assert.Contains("grpc.reflection.v1alpha.ServerReflection", services);
    }

    [Fact]
    public async Task ClientWithoutAServiceTokenIsUnauthenticated()
    {
        using var caller = Caller(serviceToken: null);
        var reflection = caller.Services.GetRequiredService<ServerReflection.ServerReflectionClient>();

        var exception = await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(reflection));

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
            ["services:peer:grpc:0"] = $"http://127.0.0.1:{_port}",
        });
        builder.AddServiceDefaults();
        builder.Services.AddServiceGrpcClient<Health.HealthClient>("peer");
        builder.Services.AddServiceGrpcClient<ServerReflection.ServerReflectionClient>("peer");
        return builder.Build();
    }

    private static async Task<List<string>> ListServicesAsync(ServerReflection.ServerReflectionClient client)
    {
        using var call = client.ServerReflectionInfo(cancellationToken: TestContext.Current.CancellationToken);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, TestContext.Current.CancellationToken);
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        return call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
    }
}

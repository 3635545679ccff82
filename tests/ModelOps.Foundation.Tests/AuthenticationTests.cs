using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Microsoft.AspNetCore.Builder;
using ModelOps.Hosting.Local;
using ModelOps.ServiceDefaults.Identity;
using ModelOps.Testing;

namespace ModelOps.Foundation.Tests;

/// <summary>
/// A host wired with AddServiceDefaults, serving gRPC health to anyone and gRPC reflection to admins only,
/// called over real HTTP/2 with tokens of every kind.
/// </summary>
public sealed class AuthenticationTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private WebApplication _app = null!;
    private GrpcChannel _channel = null!;

    private DevelopmentTokenIssuer Tokens => infrastructure.Tokens;

    public async ValueTask InitializeAsync()
    {
        (_app, var address) = await GrpcTestHost.StartAsync(infrastructure, "ModelOps.AuthProbe", app =>
        {
            app.MapGrpcHealthChecksService().AllowAnonymous();
            app.MapGrpcReflectionService().RequireAuthorization(policy => policy.RequireRole(Roles.Admin));
        });
        _channel = GrpcChannel.ForAddress(address);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task HealthNeedsNoToken()
    {
        var response = await new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest(), cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task AdminTokenIsAccepted()
    {
        var services = await ListServicesAsync(Tokens.CreateToken("alice", [Roles.Admin]));

        Assert.Contains("grpc.health.v1.Health", services);
    }

    [Fact]
    public async Task MissingTokenIsUnauthenticated() =>
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(null))).StatusCode);

    [Fact]
    public async Task ExpiredTokenIsUnauthenticated()
    {
        var expired = Tokens.CreateToken("alice", [Roles.Admin], lifetime: TimeSpan.FromMinutes(10), now: DateTime.UtcNow.AddHours(-1));

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(expired))).StatusCode);
    }

    [Fact]
    public async Task WrongAudienceIsUnauthenticated()
    {
        var token = Tokens.CreateToken("alice", [Roles.Admin], audience: "some-other-api");

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(token))).StatusCode);
    }

    [Fact]
    public async Task WrongIssuerIsUnauthenticated()
    {
        var stranger = new DevelopmentTokenIssuer("https://elsewhere.example", RSA.Create(2048));
        var token = stranger.CreateToken("alice", [Roles.Admin]);

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(token))).StatusCode);
    }

    [Fact]
    public async Task TokenSignedWithAnotherKeyIsUnauthenticated()
    {
        var impostor = new DevelopmentTokenIssuer(Tokens.Issuer, RSA.Create(2048));
        var token = impostor.CreateToken("alice", [Roles.Admin]);

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(token))).StatusCode);
    }

    [Fact]
    public async Task TokenWithAlteredSignatureIsUnauthenticated()
    {
        var token = Tokens.CreateToken("alice", [Roles.Admin]);
        var parts = token.Split('.');
        var signature = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(parts[2]);
        signature[0] ^= 0x01;
        var tampered = $"{parts[0]}.{parts[1]}.{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(signature)}";

        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(tampered))).StatusCode);
    }

    [Fact]
    public async Task WrongRoleIsPermissionDenied()
    {
        var token = Tokens.CreateToken("pipeline-7", [Roles.Pipeline, Roles.Reviewer]);

        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => ListServicesAsync(token))).StatusCode);
    }

    private Task<List<string>> ListServicesAsync(string? token) =>
        GrpcTestHost.ListServicesAsync(new ServerReflection.ServerReflectionClient(_channel), token);
}

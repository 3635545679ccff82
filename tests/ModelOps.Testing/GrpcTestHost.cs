using Grpc.Core;
using Grpc.Reflection.V1Alpha;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using ModelOps.ServiceDefaults;
using Xunit;

namespace ModelOps.Testing;

/// <summary>
/// An in-process host wired with <c>AddServiceDefaults</c> that trusts the fixture's tokens and serves gRPC over real
/// HTTP/2 on a free port; the caller maps the endpoints it wants to exercise.
/// </summary>
public static class GrpcTestHost
{
    /// <summary>
    /// Starts the host on <paramref name="port"/> (a free one when not given); <paramref name="map"/> adds endpoints after
    /// authentication and authorization.
    /// </summary>
    public static async Task<(WebApplication App, string Address)> StartAsync(
        InfrastructureFixture infrastructure, string applicationName, Action<WebApplication> map, int? port = null)
    {
        port ??= infrastructure.Context.Ports.Take();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = applicationName });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Identity:Issuer"] = infrastructure.Tokens.Issuer,
            ["Identity:SigningKeys"] = infrastructure.Tokens.JsonWebKeySet(),
            ["Kestrel:Endpoints:grpc:Url"] = $"http://127.0.0.1:{port}",
            ["Kestrel:Endpoints:grpc:Protocols"] = "Http2",
        });
        builder.AddServiceDefaults();
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        map(app);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return (app, $"http://127.0.0.1:{port}");
    }

    /// <summary>
    /// The services a server lists through gRPC reflection, which ModelOps serves to authenticated callers only:
    /// a cheap call that succeeds exactly when the caller's token is accepted.
    /// </summary>
    public static async Task<List<string>> ListServicesAsync(ServerReflection.ServerReflectionClient client, string? token = null)
    {
        var headers = token is null ? new Metadata() : new Metadata { { "Authorization", $"Bearer {token}" } };
        var cancellationToken = TestContext.Current.CancellationToken;
        using var call = client.ServerReflectionInfo(headers, cancellationToken: cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }, cancellationToken);
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server may end the call (a rejected token) while the request is still being written; the write then
            // fails with a status of its own, and the call's real status is read from the response below.
        }

        if (!await call.ResponseStream.MoveNext(cancellationToken))
        {
            throw new InvalidOperationException("The reflection stream ended without a response.");
        }

        return call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
    }
}

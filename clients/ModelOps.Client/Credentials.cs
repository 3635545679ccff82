using Grpc.Core;
using Grpc.Net.Client;

namespace ModelOps.Client;

/// <summary>Where a client's bearer token comes from, and channels that present it with every call.</summary>
public static class Credentials
{
    /// <summary>The environment variable that holds a token (or <c>@path</c> of a file holding one).</summary>
    public const string TokenVariable = "MODELOPS_TOKEN";

    /// <summary>
    /// The token to present: <paramref name="value"/> when given, else <c>$MODELOPS_TOKEN</c>, else the development
    /// token of <paramref name="role"/> in <c>.modelops/tokens/&lt;role&gt;.jwt</c> when there is one. A value that is
    /// <c>@path</c>, or the path of an existing file, means the token in that file. Null when there is none.
    /// </summary>
    public static string? ResolveToken(string? value, string? role = null)
    {
        value = string.IsNullOrWhiteSpace(value) ? Environment.GetEnvironmentVariable(TokenVariable) : value;
        if (string.IsNullOrWhiteSpace(value) && role is not null && File.Exists(Path.Combine(".modelops", "tokens", $"{role}.jwt")))
        {
            value = "@" + Path.Combine(".modelops", "tokens", $"{role}.jwt");
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        if (value.StartsWith('@'))
        {
            return File.ReadAllText(value[1..]).Trim();
        }

        // A token is never the name of an existing file: a path given without '@' is read all the same.
        return File.Exists(value) ? File.ReadAllText(value).Trim() : value;
    }

    /// <summary>Call credentials that present <paramref name="token"/> as a bearer token.</summary>
    public static CallCredentials Bearer(string token) =>
        CallCredentials.FromInterceptor((_, metadata) =>
        {
            metadata.Add("Authorization", $"Bearer {token}");
            return Task.CompletedTask;
        });

    /// <summary>
    /// A channel to <paramref name="address"/> presenting <paramref name="token"/> (when there is one) with every call.
    /// ModelOps services speak HTTP/2 without TLS on a private network or behind a mesh, so the token may travel on an
    /// insecure channel.
    /// </summary>
    public static GrpcChannel Channel(string address, string? token, int maxReceiveMessageSize = 16 * 1024 * 1024) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            Credentials = token is null ? ChannelCredentials.Insecure : ChannelCredentials.Create(ChannelCredentials.Insecure, Bearer(token)),
            UnsafeUseInsecureChannelCallCredentials = true,
            MaxReceiveMessageSize = maxReceiveMessageSize,
        });
}

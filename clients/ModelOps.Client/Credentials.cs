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
    /// token of <paramref name="role"/> (see <see cref="DefaultTokenPath"/>) when there is one. A value that is
    /// <c>@path</c>, or the path of an existing file, means the token in that file. Null when there is none.
    /// </summary>
    public static string? ResolveToken(string? value, string? role = null) => Resolve(value, role).Token;

    /// <summary>
    /// The token <see cref="ResolveToken"/> finds (null when none), and where: <see cref="TokenOrigin"/> says which of
    /// the three places, and the file, when it was read from one, its full path.
    /// </summary>
    public static (string? Token, TokenOrigin Origin, string? File) Resolve(string? value, string? role = null)
    {
        var origin = TokenOrigin.Given;
        if (string.IsNullOrWhiteSpace(value))
        {
            (value, origin) = (Environment.GetEnvironmentVariable(TokenVariable), TokenOrigin.Variable);
        }

        if (string.IsNullOrWhiteSpace(value) && role is not null && File.Exists(DefaultTokenPath(role)))
        {
            (value, origin) = ("@" + DefaultTokenPath(role), TokenOrigin.Default);
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            return (null, TokenOrigin.None, null);
        }

        value = value.Trim();
        // A token is never the name of an existing file: a path given without '@' is read all the same.
        var path = value.StartsWith('@') ? value[1..] : File.Exists(value) ? value : null;
        return path is null ? (value, origin, null) : (File.ReadAllText(path).Trim(), origin, Path.GetFullPath(path));
    }

    /// <summary>
    /// Where the development token of <paramref name="role"/> is looked for: <c>&lt;role&gt;.jwt</c> in the tokens folder
    /// of the stack the client belongs to (<see cref="Stack.Current"/>), else <c>.modelops/tokens/</c> under the current folder.
    /// </summary>
    public static string DefaultTokenPath(string role) =>
        Path.GetFullPath(Path.Combine(Stack.Current?.Tokens ?? Path.Combine(".modelops", "tokens"), $"{role}.jwt"));

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

/// <summary>Where <see cref="Credentials.Resolve"/> found a token.</summary>
public enum TokenOrigin
{
    /// <summary>No token was found.</summary>
    None,

    /// <summary>The value the caller gave (a flag, an argument).</summary>
    Given,

    /// <summary><c>$MODELOPS_TOKEN</c>.</summary>
    Variable,

    /// <summary>The role's development token file.</summary>
    Default,
}

using System.Buffers.Text;
using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Client;
using ModelOps.Ledger.Verification;

namespace ModelOps.Cli;

/// <summary>What every command shares: tokens, tables, JSON, and turning failures into messages and exit codes.</summary>
internal static class CliOutput
{
    /// <summary>Protobuf JSON, indented, without default values.</summary>
    public static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false).WithIndentation());

    // What the running command presented, and to which address: a refusal for want of a valid token names them. Guard
    // puts a fresh one in place for each command; Headers, Presenting and Channel fill it in.
    private static readonly AsyncLocal<PresentedCall?> Current = new();

    /// <summary>The bearer header for <paramref name="token"/>, or the token of <paramref name="role"/> (see <see cref="Credentials.ResolveToken"/>).</summary>
    public static Metadata Headers(string? token, string role) =>
        Presenting(token, role) is { } resolved ? new Metadata { { "Authorization", $"Bearer {resolved}" } } : [];

    /// <summary>The token for <paramref name="token"/> or <paramref name="role"/> (see <see cref="Credentials.ResolveToken"/>), noted for a refusal's explanation.</summary>
    public static string? Presenting(string? token, string role)
    {
        var (resolved, origin, file) = Credentials.Resolve(token, role);
        if (Current.Value is { } call)
        {
            (call.Token, call.Source) = (resolved, origin switch
            {
                TokenOrigin.Given => file is null ? "--token" : $"--token file {file}",
                TokenOrigin.Variable => file is null ? $"${Credentials.TokenVariable}" : $"${Credentials.TokenVariable} (file {file})",
                TokenOrigin.Default => file!,
                _ => $"nowhere (no --token, no ${Credentials.TokenVariable}, no {Credentials.DefaultTokenPath(role)})",
            });
        }

        return resolved;
    }

    /// <summary>
    /// The recursive <c>--&lt;service&gt;</c> option naming <paramref name="service"/>'s gRPC address: by default
    /// <c>$MODELOPS_&lt;SERVICE&gt;_URL</c>, else the address the stack in use publishes (<see cref="Stack.Current"/>),
    /// else <paramref name="defaultAddress"/>.
    /// </summary>
    public static Option<string> AddressOption(string service, string what, string defaultAddress) =>
        new($"--{service}")
        {
            Description = $"{what} gRPC address (default: ${AddressVariable(service)}, else the stack's, see modelops stack, else {defaultAddress})",
            DefaultValueFactory = _ => DefaultAddress(service, defaultAddress).Address,
            Recursive = true,
        };

    /// <summary>
    /// The address of <paramref name="service"/> when no flag names one, and where it comes from:
    /// <c>$MODELOPS_&lt;SERVICE&gt;_URL</c>, else the stack in use (<see cref="Stack.Current"/>), else <paramref name="fallback"/>.
    /// </summary>
    public static (string Address, string Source) DefaultAddress(string service, string fallback)
    {
        var variable = AddressVariable(service);
        return Environment.GetEnvironmentVariable(variable) is { } set ? (set, $"${variable}")
            : Stack.Current?.GrpcAddress(service) is { } published ? (published, "the stack")
            : (fallback, "the default");
    }

    private static string AddressVariable(string service) => $"MODELOPS_{service.ToUpperInvariant()}_URL";

    /// <summary>A channel to <paramref name="address"/>, noted for a refusal's explanation.</summary>
    public static GrpcChannel Channel(string address, int maxReceiveMessageSize = 4 << 20)
    {
        if (Current.Value is { } call)
        {
            call.Address = address;
        }

        return GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = maxReceiveMessageSize });
    }

    /// <summary>An instant as <c>yyyy-MM-dd HH:mm:ssZ</c>; empty when unset.</summary>
    public static string Time(Google.Protobuf.WellKnownTypes.Timestamp? time) =>
        time is null ? "" : time.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>A table with <paramref name="header"/>, or with <paramref name="json"/> the items as a JSON array.</summary>
    public static async Task Print<T>(TextWriter output, bool json, IReadOnlyList<T> items, string[] header, Func<T, string[]> row)
        where T : IMessage
    {
        if (json)
        {
            await output.WriteLineAsync("[" + string.Join(",\n", items.Select(i => Json.Format(i))) + "]");
            return;
        }

        var rows = items.Select(row).Prepend(header).ToList();
        var widths = header.Select((_, column) => rows.Max(r => r[column].Length)).ToArray();
        foreach (var cells in rows)
        {
            await output.WriteLineAsync(string.Join("  ", cells.Select((cell, column) => column == cells.Length - 1 ? cell : cell.PadRight(widths[column]))).TrimEnd());
        }
    }

    /// <summary>A titled, indented block of aligned rows; nothing when there are none.</summary>
    public static async Task Section(TextWriter output, string title, IEnumerable<string[]> rows)
    {
        var list = rows.ToList();
        if (list.Count == 0)
        {
            return;
        }

        await output.WriteLineAsync(title);
        var widths = Enumerable.Range(0, list.Max(r => r.Length)).Select(c => list.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
        foreach (var cells in list)
        {
            await output.WriteLineAsync("  " + string.Join("  ", cells.Select((cell, column) => cell.PadRight(widths[column]))).TrimEnd());
        }
    }

    /// <summary>
    /// Runs a command's action: a status from <paramref name="service"/> (with its field violations) or a local failure
    /// becomes a message on <paramref name="error"/> and exit code <see cref="ModelOpsCli.UsageOrConnectionError"/>.
    /// </summary>
    public static async Task<int> Guard(TextWriter error, string service, Func<Task<int>> action)
    {
        var call = new PresentedCall();
        Current.Value = call;
        try
        {
            return await action();
        }
        catch (RpcException exception)
        {
            var refusal = exception.ToModelOpsError();
            await error.WriteLineAsync($"error: the {service} answered {refusal.Describe().First()}");
            foreach (var line in refusal.Describe().Skip(1))
            {
                await error.WriteLineAsync(line);
            }

            if (exception.StatusCode == StatusCode.Unauthenticated)
            {
                foreach (var line in call.Explain(service))
                {
                    await error.WriteLineAsync(line);
                }
            }
        }
        catch (Exception exception) when (exception is IOException or InvalidDataException or NoteException or UnauthorizedAccessException
                                              or System.Text.Json.JsonException or InvalidProtocolBufferException or HttpRequestException or FormatException)
        {
            await error.WriteLineAsync($"error: {exception.Message}");
        }

        return ModelOpsCli.UsageOrConnectionError;
    }

    /// <summary>The token a command presented, where it came from, and the address that refused it.</summary>
    private sealed class PresentedCall
    {
        public string? Token { get; set; }
        public string? Source { get; set; }
        public string? Address { get; set; }

        /// <summary>Why <paramref name="service"/> may have refused the token, and how to fix it.</summary>
        public IEnumerable<string> Explain(string service)
        {
            var at = Address is null ? $"the {service}" : $"the {service} at {Address}";
            if (Token is null)
            {
                yield return $"hint: no token was presented to {at}: the token came from {Source ?? "nowhere"}.";
                yield return $"hint: pass --token (a token, or a file holding one) or set ${Credentials.TokenVariable}; the stack writes its tokens to <state folder>/tokens.";
                yield break;
            }

            var (issuer, expires, roles) = Claims(Token);
            var described = issuer is null ? "is not a JWT" : $"was issued by {issuer}" + (roles.Length > 0 ? $" for {string.Join(", ", roles)}" : "");
            yield return $"hint: {at} refused the token from {Source}, which {described}.";
            if (expires is { } until && until <= DateTimeOffset.UtcNow)
            {
                yield return $"hint: it expired at {until:yyyy-MM-dd HH:mm:ss'Z'}: take a fresh one from the stack's token endpoint or its <state folder>/tokens.";
            }
            else
            {
                yield return "hint: every stack signs its own tokens: with two stacks on this machine, this may be the other one's. " +
                             "Use the tokens of the stack you mean (its endpoints.json names their folder), or pass --token.";
            }

            yield return Stack.Current is { } stack
                ? $"hint: the stack in use is {stack.File}, found by {stack.FoundBy}; set ${Stack.Variable} to another stack's state folder to use that one."
                : $"hint: {Stack.NotFound(Environment.GetEnvironmentVariable)}: the default addresses were used.";
        }

        // A JWT's issuer, expiry and roles, read without checking its signature (only to explain a refusal).
        private static (string? Issuer, DateTimeOffset? Expires, string[] Roles) Claims(string token)
        {
            var parts = token.Split('.');
            if (parts.Length != 3)
            {
                return (null, null, []);
            }

            try
            {
                using var payload = System.Text.Json.JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
                var root = payload.RootElement;
                var issuer = root.TryGetProperty("iss", out var iss) ? iss.GetString() : "an unnamed issuer";
                DateTimeOffset? expires = root.TryGetProperty("exp", out var exp) && exp.TryGetInt64(out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;
                string[] roles = root.TryGetProperty("role", out var role) || root.TryGetProperty("roles", out role)
                    ? role.ValueKind == System.Text.Json.JsonValueKind.Array ? [.. role.EnumerateArray().Select(r => r.ToString())] : [role.ToString()]
                    : [];
                return (issuer, expires, roles);
            }
            catch (Exception exception) when (exception is System.Text.Json.JsonException or FormatException or ArgumentException or InvalidOperationException)
            {
                return (null, null, []);
            }
        }
    }
}

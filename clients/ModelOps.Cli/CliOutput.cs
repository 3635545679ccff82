using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using ModelOps.Client;
using ModelOps.Ledger.Verification;

namespace ModelOps.Cli;

/// <summary>What every command shares: tokens, tables, JSON, and turning failures into messages and exit codes.</summary>
internal static class CliOutput
{
    /// <summary>Protobuf JSON, indented, without default values.</summary>
    public static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false).WithIndentation());

    /// <summary>The bearer header for <paramref name="token"/>, or the token of <paramref name="role"/> (see <see cref="ModelOpsCli.ResolveToken"/>).</summary>
    public static Metadata Headers(string? token, string role) =>
        ModelOpsCli.ResolveToken(token, role) is { } resolved ? new Metadata { { "Authorization", $"Bearer {resolved}" } } : [];

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
        }
        catch (Exception exception) when (exception is IOException or InvalidDataException or NoteException or UnauthorizedAccessException
                                              or System.Text.Json.JsonException or InvalidProtocolBufferException or HttpRequestException or FormatException)
        {
            await error.WriteLineAsync($"error: {exception.Message}");
        }

        return ModelOpsCli.UsageOrConnectionError;
    }
}

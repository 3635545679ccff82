using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Data;
using ModelOps.ServiceDefaults.Errors;
using Npgsql;

namespace ModelOps.Registry.Data;

/// <summary>
/// The registry's tables. SQL lives here and nowhere else; refusals are <see cref="ServiceException"/>s with their reason
/// codes. Changes join a <see cref="UnitOfWork"/>, so that they commit together with the events that describe them.
/// </summary>
public sealed partial class RegistryStore(NpgsqlDataSource dataSource)
{
    internal static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    internal static readonly JsonParser ProtoJsonParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>Begins a unit of work: changes and the events that describe them commit together.</summary>
    public Task<UnitOfWork> BeginAsync(CancellationToken cancellationToken) => UnitOfWork.BeginAsync(dataSource, cancellationToken);

    /// <summary>The transaction's own instant, read after its locks are held, so that history is ordered as decisions were.</summary>
    public static async Task<DateTime> ClockAsync(UnitOfWork tx, CancellationToken cancellationToken)
    {
        await using var command = tx.Command("SELECT clock_timestamp()");
        return (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    internal static string GatesJson(IEnumerable<GateResult> results)
    {
        var json = new StringBuilder("[");
        foreach (var result in results)
        {
            json.Append(json.Length > 1 ? "," : "").Append(ProtoJson.Format(result));
        }

        return json.Append(']').ToString();
    }

    internal static List<GateResult> ParseGates(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(e => ProtoJsonParser.Parse<GateResult>(e.GetRawText())).ToList();
    }

    private static Timestamp Time(NpgsqlDataReader reader, int ordinal) => Timestamp.FromDateTimeOffset(reader.GetFieldValue<DateTimeOffset>(ordinal));
}

using ModelOps.Contracts;
using Npgsql;

namespace ModelOps.Bench.Ledger;

/// <summary>The event the benchmark publishes.</summary>
public sealed record BenchEvidenceRecorded : IntegrationEvent
{
    /// <summary>Its position in the benchmark's stream.</summary>
    public required int Sequence { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { ["bench"] = "ledger" };
}

internal static class NpgsqlBenchExtensions
{
    /// <summary>Opens the connection and starts a binary COPY on it; disposing the importer leaves the connection to the GC.</summary>
    public static async Task<NpgsqlBinaryImporter> OpenAndImportAsync(this NpgsqlConnection connection, string copy)
    {
        await connection.OpenAsync();
        return await connection.BeginBinaryImportAsync(copy);
    }
}

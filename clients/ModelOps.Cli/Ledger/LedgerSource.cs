using System.Runtime.CompilerServices;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Ledger.V1;

namespace ModelOps.Cli.Ledger;

/// <summary>One entry as a verifier sees it: its position, its data, and the leaf hash the source claims for it.</summary>
public sealed record SourceEntry(long Index, string EventId, byte[] Data, byte[]? ClaimedLeafHash);

/// <summary>Where a verifier reads the log from: a live ledger, or an exported bundle. Neither is trusted.</summary>
public interface ILedgerSource
{
    /// <summary>The latest signed checkpoint note.</summary>
    Task<string> GetCheckpointNoteAsync(CancellationToken cancellationToken);

    /// <summary>The verifier key the source names (only a fallback: auditors pin their own).</summary>
    Task<string> GetVerifierKeyAsync(CancellationToken cancellationToken);

    /// <summary>The entries with index below <paramref name="size"/>, in index order (gaps show missing entries).</summary>
    IAsyncEnumerable<SourceEntry> GetEntriesAsync(long size, CancellationToken cancellationToken);

    /// <summary>Whether the source serves proofs (a live ledger does; a bundle holds every entry instead).</summary>
    bool ServesProofs { get; }

    /// <summary>A consistency proof between two sizes.</summary>
    Task<IReadOnlyList<byte[]>> GetConsistencyProofAsync(long oldSize, long newSize, CancellationToken cancellationToken);

    /// <summary>The index and inclusion proof of the entry named by index or event id, in a tree of <paramref name="size"/>.</summary>
    Task<(long Index, IReadOnlyList<byte[]> Proof)> GetInclusionProofAsync(string entry, long size, CancellationToken cancellationToken);
}

/// <summary>A live ledger over gRPC.</summary>
public sealed class GrpcLedgerSource(LedgerService.LedgerServiceClient client, Metadata headers) : ILedgerSource
{
    /// <summary>Connects to <paramref name="address"/> presenting <paramref name="token"/>.</summary>
    public static GrpcLedgerSource Connect(string address, string? token, out GrpcChannel channel)
    {
        channel = CliOutput.Channel(address, 64 * 1024 * 1024);
        var headers = new Metadata();
        if (!string.IsNullOrWhiteSpace(token))
        {
            headers.Add("Authorization", $"Bearer {token.Trim()}");
        }

        return new GrpcLedgerSource(new LedgerService.LedgerServiceClient(channel), headers);
    }

    /// <inheritdoc />
    public bool ServesProofs => true;

    /// <inheritdoc />
    public async Task<string> GetCheckpointNoteAsync(CancellationToken cancellationToken) =>
        (await client.GetCheckpointAsync(new GetCheckpointRequest(), headers, cancellationToken: cancellationToken)).Note;

    /// <inheritdoc />
    public async Task<string> GetVerifierKeyAsync(CancellationToken cancellationToken) =>
        (await client.GetVerifierKeyAsync(new GetVerifierKeyRequest(), headers, cancellationToken: cancellationToken)).VerifierKey_;

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceEntry> GetEntriesAsync(long size, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (size == 0)
        {
            yield break;
        }

        var request = new GetEntriesRequest { Start = 0, End = size, PageSize = 1000 };
        while (true)
        {
            var page = await client.GetEntriesAsync(request, headers, cancellationToken: cancellationToken);
            foreach (var entry in page.Entries)
            {
                yield return new SourceEntry(entry.Index, entry.EventId, entry.Data.ToByteArray(), entry.LeafHash.ToByteArray());
            }

            if (page.NextPageToken.Length == 0)
            {
                yield break;
            }

            request.PageToken = page.NextPageToken;
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<byte[]>> GetConsistencyProofAsync(long oldSize, long newSize, CancellationToken cancellationToken)
    {
        var proof = await client.GetConsistencyProofAsync(
            new GetConsistencyProofRequest { OldSize = oldSize, NewSize = newSize }, headers, cancellationToken: cancellationToken);
        return [.. proof.Hashes.Select(h => h.ToByteArray())];
    }

    /// <inheritdoc />
    public async Task<(long Index, IReadOnlyList<byte[]> Proof)> GetInclusionProofAsync(string entry, long size, CancellationToken cancellationToken)
    {
        var request = new GetInclusionProofRequest { TreeSize = size };
        if (long.TryParse(entry, out var index))
        {
            request.Index = index;
        }
        else
        {
            var found = await client.GetEntryByEventIdAsync(new GetEntryByEventIdRequest { EventId = entry }, headers, cancellationToken: cancellationToken);
            request.LeafHash = ByteString.CopyFrom(found.LeafHash.Span);
        }

        var proof = await client.GetInclusionProofAsync(request, headers, cancellationToken: cancellationToken);
        return (proof.Index, [.. proof.Hashes.Select(h => h.ToByteArray())]);
    }
}

/// <summary>
/// A self-contained export: the latest checkpoint, the verifier key and every entry it covers, as one JSON document
/// (<c>{"format":"modelops-ledger-bundle/v1","origin","verifierKey","checkpoint","entries":[{"index","eventId","data"}]}</c>,
/// data in base64), which an auditor verifies offline.
/// </summary>
public sealed class BundleLedgerSource(string path) : ILedgerSource
{
    /// <summary>The bundle format's name and version.</summary>
    public const string Format = "modelops-ledger-bundle/v1";

    /// <inheritdoc />
    public bool ServesProofs => false;

    /// <inheritdoc />
    public Task<string> GetCheckpointNoteAsync(CancellationToken cancellationToken) => ReadStringAsync("checkpoint", cancellationToken);

    /// <inheritdoc />
    public Task<string> GetVerifierKeyAsync(CancellationToken cancellationToken) => ReadStringAsync("verifierKey", cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceEntry> GetEntriesAsync(long size, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var document = await OpenAsync(cancellationToken);
        if (!document.RootElement.TryGetProperty("entries", out var entries) || entries.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException("The bundle has no entries array.");
        }

        foreach (var entry in entries.EnumerateArray())
        {
            var index = entry.GetProperty("index").GetInt64();
            if (index >= size)
            {
                yield break;
            }

            yield return new SourceEntry(index, entry.GetProperty("eventId").GetString() ?? "", entry.GetProperty("data").GetBytesFromBase64(), null);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<byte[]>> GetConsistencyProofAsync(long oldSize, long newSize, CancellationToken cancellationToken) =>
        throw new NotSupportedException("A bundle serves no proofs; its entries are checked directly.");

    /// <inheritdoc />
    public Task<(long Index, IReadOnlyList<byte[]> Proof)> GetInclusionProofAsync(string entry, long size, CancellationToken cancellationToken) =>
        throw new NotSupportedException("A bundle serves no proofs; its entries are checked directly.");

    /// <summary>Writes a bundle of <paramref name="source"/>'s latest checkpoint and its entries to <paramref name="destination"/>.</summary>
    public static async Task<long> WriteAsync(
        ILedgerSource source, string origin, string checkpointNote, long size, string verifierKey, Stream destination, CancellationToken cancellationToken)
    {
        await using var writer = new Utf8JsonWriter(destination, new JsonWriterOptions { Indented = false });
        writer.WriteStartObject();
        writer.WriteString("format", Format);
        writer.WriteString("origin", origin);
        writer.WriteString("verifierKey", verifierKey);
        writer.WriteString("checkpoint", checkpointNote);
        writer.WriteStartArray("entries");
        long written = 0;
        await foreach (var entry in source.GetEntriesAsync(size, cancellationToken))
        {
            writer.WriteStartObject();
            writer.WriteNumber("index", entry.Index);
            writer.WriteString("eventId", entry.EventId);
            writer.WriteBase64String("data", entry.Data);
            writer.WriteEndObject();
            if (++written % 1000 == 0)
            {
                await writer.FlushAsync(cancellationToken);
            }
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        await writer.FlushAsync(cancellationToken);
        return written;
    }

    private async Task<string> ReadStringAsync(string property, CancellationToken cancellationToken)
    {
        using var document = await OpenAsync(cancellationToken);
        return document.RootElement.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidDataException($"The bundle has no {property}.");
    }

    private async Task<JsonDocument> OpenAsync(CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        if (!document.RootElement.TryGetProperty("format", out var format) || format.GetString() != Format)
        {
            document.Dispose();
            throw new InvalidDataException($"{path} is not a {Format} bundle.");
        }

        return document;
    }
}

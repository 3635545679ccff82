using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using ModelOps.Ledger.Data;
using ModelOps.Ledger.Domain;
using ModelOps.Ledger.V1;
using ModelOps.Ledger.Verification;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using Checkpoint = ModelOps.Ledger.V1.Checkpoint;

namespace ModelOps.Ledger.Grpc;

/// <summary>The ledger's API: direct appends of outside evidence, entries, checkpoints and proofs.</summary>
public sealed partial class LedgerService(
    LedgerStore store, AppendBatcher appends, TreeHead head, CheckpointSigner signer, IOptions<LedgerOptions> options)
    : V1.LedgerService.LedgerServiceBase
{
    /// <summary>Most subjects one appended entry names.</summary>
    public const int MaxSubjects = 50;


    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Admin},{Roles.Service}")]
    public override async Task<AppendResponse> Append(AppendRequest request, ServerCallContext context)
    {
        var caller = context.GetCaller();
        var settings = options.Value;
        var violations = new FieldViolations();
        var eventId = Guid.CreateVersion7();
        if (request.EventId.Length > 0 && !Guid.TryParse(request.EventId, out eventId))
        {
            violations.Add("event_id", "must be a UUID, or empty to have one generated");
        }

        violations.Require(EventTypePattern().IsMatch(request.EventType), "event_type",
            "is required: 1 to 200 letters, digits, '.', '_' or '-'");
        violations.Require(request.Subjects.Count <= MaxSubjects, "subjects", $"at most {MaxSubjects} subjects");
        foreach (var (kind, value) in request.Subjects)
        {
            violations.Require(SubjectKindPattern().IsMatch(kind), $"subjects[{kind}]", "a subject kind is 1 to 100 of a-z, 0-9, '_', '.', '-'");
            violations.Require(value.Length is > 0 and <= 500, $"subjects[{kind}]", "a subject id is 1 to 500 characters");
        }

        JsonElement payload = default;
        if (Encoding.UTF8.GetByteCount(request.PayloadJson) > settings.MaxPayloadBytes)
        {
            violations.Add("payload_json", $"is larger than the limit of {settings.MaxPayloadBytes} bytes");
        }
        else if (!TryParseObject(request.PayloadJson, out payload, out var problem))
        {
            violations.Add("payload_json", problem);
        }

        var occurredAt = request.OccurredAt?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow;
        violations.Require(occurredAt <= DateTimeOffset.UtcNow.AddMinutes(5), "occurred_at", "lies in the future");
        violations.ThrowIfAny("The evidence cannot be appended.");

        LedgerEntry entry;
        try
        {
            entry = LedgerEntry.Create(eventId, request.EventType, caller.Actor, occurredAt,
                Activity.Current?.TraceId.ToHexString(), request.Subjects, payload);
        }
        catch (Exception exception) when (exception is JsonException or ArgumentOutOfRangeException)
        {
            // Canonical JSON refuses what I-JSON forbids: repeated member names, lone surrogates.
            GrpcErrors.InvalidArgument("payload_json", exception.Message);
            throw;
        }

        // Watch before storing, so the notification of its sequencing cannot come first.
        using var sequencing = head.Watch(eventId);
        var inserted = await appends.StoreAsync(entry, context.CancellationToken);
        if (!inserted && await store.GetByEventIdAsync(eventId, context.CancellationToken) is { Index: not null } earlier)
        {
            return new AppendResponse { Entry = ToProto(earlier), Duplicate = true };
        }

        var stored = await sequencing.SequencedAsync(settings.AppendWaitTimeout, context.CancellationToken);
        return new AppendResponse { Entry = ToProto(stored), Duplicate = !inserted };
    }

    /// <inheritdoc />
    public override async Task<Checkpoint> GetCheckpoint(GetCheckpointRequest request, ServerCallContext context)
    {
        var checkpoint = await LatestCheckpointAsync(context.CancellationToken);
        return new Checkpoint
        {
            Note = checkpoint.Note,
            Origin = signer.Origin,
            TreeSize = checkpoint.Size,
            RootHash = ByteString.CopyFrom(checkpoint.Root),
            SignedAt = Timestamp.FromDateTimeOffset(checkpoint.SignedAt),
        };
    }

    /// <inheritdoc />
    public override async Task<GetEntriesResponse> GetEntries(GetEntriesRequest request, ServerCallContext context)
    {
        var size = await store.GetTreeSizeAsync(context.CancellationToken);
        var end = request.End == 0 ? size : request.End;
        var violations = new FieldViolations()
            .Require(request.Start >= 0, "start", "must not be negative")
            .Require(request.End >= 0, "end", "must not be negative")
            .Require(end <= size, "end", $"lies beyond the log's size {size}")
            .Require(request.Start <= end, "start", $"must not exceed end ({end})");
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var from = PageStart(request.PageToken, request.Start, violations);
        violations.ThrowIfAny();

        var entries = await store.GetRangeAsync(from, end, pageSize, context.CancellationToken);
        var response = new GetEntriesResponse { Entries = { entries.Select(ToProto) } };
        if (entries.Count == pageSize && entries[^1].Index + 1 < end)
        {
            response.NextPageToken = (entries[^1].Index + 1)!.Value.ToString(CultureInfo.InvariantCulture);
        }

        return response;
    }

    /// <inheritdoc />
    public override async Task<Entry> GetEntryByEventId(GetEntryByEventIdRequest request, ServerCallContext context)
    {
        if (!Guid.TryParse(request.EventId, out var eventId))
        {
            GrpcErrors.InvalidArgument("event_id", "must be a UUID");
        }

        var entry = await store.GetByEventIdAsync(eventId, context.CancellationToken);
        if (entry is null)
        {
            GrpcErrors.NotFound($"An entry for event {eventId}");
        }

        return ToProto(entry);
    }

    /// <inheritdoc />
    public override async Task<InclusionProof> GetInclusionProof(GetInclusionProofRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var treeSize = await ResolveTreeSizeAsync(request.TreeSize, "tree_size", cancellationToken);
        long index;
        byte[] leafHash;
        switch (request.LeafCase)
        {
            case GetInclusionProofRequest.LeafOneofCase.Index:
                if (request.Index < 0 || request.Index >= treeSize)
                {
                    GrpcErrors.InvalidArgument("index", $"must lie in [0, {treeSize}), the tree size asked for");
                }

                index = request.Index;
                leafHash = [];
                break;
            case GetInclusionProofRequest.LeafOneofCase.LeafHash:
                if (request.LeafHash.Length != MerkleTree.HashSize)
                {
                    GrpcErrors.InvalidArgument("leaf_hash", "must be a 32-byte SHA-256 hash");
                }

                var entry = await store.GetByLeafHashAsync(request.LeafHash.ToByteArray(), cancellationToken);
                if (entry?.Index is null || entry.Index >= treeSize)
                {
                    GrpcErrors.NotFound($"A leaf with that hash in the tree of size {treeSize}");
                }

                index = entry.Index.Value;
                leafHash = entry.LeafHash;
                break;
            default:
                GrpcErrors.InvalidArgument("leaf", "give the leaf's index or its leaf_hash");
                return null!;
        }

        // The leaf's own hash comes with the proof's nodes, in the same query.
        var leaf = new NodeId(0, index);
        var nodes = await NodesAsync(MerkleTree.NodesFor(MerkleTree.InclusionRanges(index, treeSize)).Append(leaf), cancellationToken);
        leafHash = leafHash.Length > 0 ? leafHash : nodes[leaf];
        var proof = MerkleTree.InclusionProof(index, treeSize, id => nodes[id]);
        return new InclusionProof
        {
            Index = index,
            TreeSize = treeSize,
            LeafHash = ByteString.CopyFrom(leafHash),
            Hashes = { proof.Select(ByteString.CopyFrom) },
        };
    }

    /// <inheritdoc />
    public override async Task<ConsistencyProof> GetConsistencyProof(GetConsistencyProofRequest request, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var newSize = await ResolveTreeSizeAsync(request.NewSize, "new_size", cancellationToken);
        if (request.OldSize < 0 || request.OldSize > newSize)
        {
            GrpcErrors.InvalidArgument("old_size", $"must lie in [0, {newSize}], the new size");
        }

        var ranges = MerkleTree.ConsistencyRanges(request.OldSize, newSize);
        var nodes = await NodesAsync(MerkleTree.NodesFor(ranges), cancellationToken);
        return new ConsistencyProof
        {
            OldSize = request.OldSize,
            NewSize = newSize,
            Hashes = { MerkleTree.ConsistencyProof(request.OldSize, newSize, id => nodes[id]).Select(ByteString.CopyFrom) },
        };
    }

    /// <inheritdoc />
    public override Task<VerifierKey> GetVerifierKey(GetVerifierKeyRequest request, ServerCallContext context) =>
        Task.FromResult(new VerifierKey { VerifierKey_ = signer.VerifierKey, Origin = signer.Origin });

    /// <inheritdoc />
    public override async Task<ListEntriesBySubjectResponse> ListEntriesBySubject(ListEntriesBySubjectRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations()
            .Require(request.Kind.Length is > 0 and <= 100, "kind", "is required (at most 100 characters)")
            .Require(request.Value.Length is > 0 and <= 500, "value", "is required (at most 500 characters)");
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var from = PageStart(request.PageToken, 0, violations);
        violations.ThrowIfAny();

        var entries = await store.GetBySubjectAsync(request.Kind, request.Value, from, pageSize, context.CancellationToken);
        var response = new ListEntriesBySubjectResponse { Entries = { entries.Select(ToProto) } };
        if (entries.Count == pageSize)
        {
            response.NextPageToken = (entries[^1].Index + 1)!.Value.ToString(CultureInfo.InvariantCulture);
        }

        return response;
    }

    private async Task<StoredCheckpoint> LatestCheckpointAsync(CancellationToken cancellationToken)
    {
        var checkpoint = await store.GetLatestCheckpointAsync(cancellationToken);
        if (checkpoint is null)
        {
            GrpcErrors.FailedPrecondition("The ledger has not signed a checkpoint yet: it is empty.");
        }

        return checkpoint;
    }

    /// <summary>A requested tree size: the latest checkpoint's when 0, else at most the sequenced size.</summary>
    private async Task<long> ResolveTreeSizeAsync(long requested, string field, CancellationToken cancellationToken)
    {
        if (requested == 0)
        {
            return (await LatestCheckpointAsync(cancellationToken)).Size;
        }

        var size = await head.SizeAtLeastAsync(requested, cancellationToken);
        if (requested < 0 || requested > size)
        {
            GrpcErrors.InvalidArgument(field, $"must lie in [1, {size}], the log's size (or 0 for the latest checkpoint)");
        }

        return requested;
    }

    private async Task<Dictionary<NodeId, byte[]>> NodesAsync(IEnumerable<NodeId> wanted, CancellationToken cancellationToken)
    {
        var list = wanted.Distinct().ToList();
        var nodes = await store.GetNodesAsync(list, cancellationToken);
        if (nodes.Count < list.Count)
        {
            DataLoss($"The ledger's store lacks tree node {list.First(id => !nodes.ContainsKey(id))}: it was damaged outside the ledger.");
        }

        return nodes;
    }

    private static long PageStart(string token, long start, FieldViolations violations)
    {
        if (token.Length == 0)
        {
            return start;
        }

        if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var from) || from < start)
        {
            violations.Add("page_token", "is not a token this call returned");
        }

        return from;
    }

    private static bool TryParseObject(string json, out JsonElement element, out string problem)
    {
        element = default;
        problem = "";
        if (json.Length == 0)
        {
            problem = "is required: a JSON object";
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problem = "must be a JSON object";
                return false;
            }

            element = document.RootElement.Clone();
            return true;
        }
        catch (JsonException exception)
        {
            problem = $"is not valid JSON: {exception.Message}";
            return false;
        }
    }

    private static Entry ToProto(StoredEntry entry)
    {
        var proto = new Entry
        {
            Index = entry.Index ?? -1,
            EventId = entry.EventId.ToString("D"),
            EventType = entry.EventType,
            Data = ByteString.CopyFrom(entry.Data),
            LeafHash = ByteString.CopyFrom(entry.LeafHash),
            Actor = entry.Actor,
            OccurredAt = Timestamp.FromDateTimeOffset(entry.OccurredAt),
        };
        if (entry.SequencedAt is { } sequencedAt)
        {
            proto.SequencedAt = Timestamp.FromDateTimeOffset(sequencedAt);
        }

        return proto;
    }

    [DoesNotReturn]
    private static void DataLoss(string message) => throw new RpcException(new Status(StatusCode.DataLoss, message));

    [GeneratedRegex("^[A-Za-z0-9._-]{1,200}$")]
    private static partial Regex EventTypePattern();

    [GeneratedRegex("^[a-z0-9_.-]{1,100}$")]
    private static partial Regex SubjectKindPattern();
}

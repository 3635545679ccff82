using System.Diagnostics;
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
using ModelOps.Contracts;
using ModelOps.ServiceDefaults.Errors;
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

    /// <summary>Longest subject id.</summary>
    public const int MaxSubjectLength = 500;


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

        if (!EventTypePattern().IsMatch(request.EventType))
        {
            violations.Add("event_type", $"must be '{LedgerEntry.ExternalTypePrefix}' followed by 1 to 191 letters, digits, '.', '_' or '-': " +
                                         "evidence appended over the API has its own type namespace; platform events come only from the bus");
        }

        violations.Require(request.Subjects.Count <= MaxSubjects, "subjects", $"at most {MaxSubjects} subjects");
        foreach (var (kind, value) in request.Subjects.Take(MaxSubjects))
        {
            var field = $"subjects[{TextRules.Clip(kind, 40)}]";
            violations.Require(SubjectKindPattern().IsMatch(kind), field, "a subject kind is 1 to 100 of a-z, 0-9, '_', '.', '-'");
            TextRules.Name(violations, field, value, MaxSubjectLength);
        }

        byte[] payload = [];
        if (request.PayloadJson.Length == 0)
        {
            violations.Add("payload_json", "is required: a JSON object");
        }
        else if (request.PayloadJson.Length > settings.MaxPayloadBytes || Encoding.UTF8.GetByteCount(request.PayloadJson) > settings.MaxPayloadBytes)
        {
            violations.Add("payload_json", $"is larger than the limit of {settings.MaxPayloadBytes} bytes");
        }
        else if (Canonical(request.PayloadJson, out var problem) is { } canonical)
        {
            payload = canonical;
        }
        else
        {
            violations.Add("payload_json", problem);
        }

        var occurredAt = Timestamps.Check(violations, "occurred_at", request.OccurredAt, happened: true) ?? Timestamps.Now();
        violations.ThrowIfAny("The evidence was not appended.");

        using var document = JsonDocument.Parse(payload);
        var entry = LedgerEntry.Create(eventId, request.EventType, caller.Actor, occurredAt,
            Activity.Current?.TraceId.ToHexString(), request.Subjects, document.RootElement, EntryChannel.Api);
        if (entry.Data.Length > settings.MaxEntryBytes)
        {
            throw ServiceErrors.InvalidArgument("payload_json",
                $"makes an entry of {entry.Data.Length} bytes with its subjects: at most {settings.MaxEntryBytes} (Ledger:MaxEntryBytes)");
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

        var entries = PageByBytes(await store.GetRangeAsync(from, end, pageSize, context.CancellationToken));
        var response = new GetEntriesResponse { Entries = { entries.Select(ToProto) } };
        if (entries.Count > 0 && entries[^1].Index + 1 < end)
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
            throw ServiceErrors.InvalidArgument("event_id", "must be a UUID");
        }

        return ToProto(await store.GetByEventIdAsync(eventId, context.CancellationToken)
                       ?? throw ServiceErrors.NotFound("ledger_entry", eventId.ToString("D"), $"The ledger holds no entry for event {eventId:D}."));
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
                    throw ServiceErrors.InvalidArgument("index", $"must lie in [0, {treeSize}), the tree size asked for");
                }

                index = request.Index;
                leafHash = [];
                break;
            case GetInclusionProofRequest.LeafOneofCase.LeafHash:
                if (request.LeafHash.Length != MerkleTree.HashSize)
                {
                    throw ServiceErrors.InvalidArgument("leaf_hash", "must be a 32-byte SHA-256 hash");
                }

                var entry = await store.GetByLeafHashAsync(request.LeafHash.ToByteArray(), cancellationToken);
                if (entry?.Index is null || entry.Index >= treeSize)
                {
                    throw ServiceErrors.NotFound("leaf", Convert.ToHexStringLower(request.LeafHash.Span),
                        $"No leaf with that hash lies in the tree of size {treeSize}.");
                }

                index = entry.Index.Value;
                leafHash = entry.LeafHash;
                break;
            default:
                throw ServiceErrors.InvalidArgument("leaf", "give the leaf's index or its leaf_hash");
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
            throw ServiceErrors.InvalidArgument("old_size", $"must lie in [0, {newSize}], the new size");
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
            .Require(SubjectKindPattern().IsMatch(request.Kind), "kind", "is required: 1 to 100 of a-z, 0-9, '_', '.', '-'");
        var value = TextRules.Name(violations, "value", request.Value, MaxSubjectLength);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var from = PageStart(request.PageToken, 0, violations);
        violations.ThrowIfAny();

        var found = await store.GetBySubjectAsync(request.Kind, value, from, pageSize, context.CancellationToken);
        var entries = PageByBytes(found);
        var response = new ListEntriesBySubjectResponse { Entries = { entries.Select(ToProto) } };
        if (entries.Count < found.Count || entries.Count == pageSize)
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
            throw ServiceErrors.FailedPrecondition("NO_CHECKPOINT", "The ledger has not signed a checkpoint yet: it is empty.", "LEDGER_STATE", "checkpoint");
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
            throw ServiceErrors.InvalidArgument(field, $"must lie in [1, {size}], the log's size (or 0 for the latest checkpoint)");
        }

        return requested;
    }

    private async Task<Dictionary<NodeId, byte[]>> NodesAsync(IEnumerable<NodeId> wanted, CancellationToken cancellationToken)
    {
        var list = wanted.Distinct().ToList();
        var nodes = await store.GetNodesAsync(list, cancellationToken);
        if (nodes.Count < list.Count)
        {
            throw ServiceErrors.DataLoss("TREE_NODE_MISSING",
                $"The ledger's store lacks tree node {list.First(id => !nodes.ContainsKey(id))}: it was damaged outside the ledger.");
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

    // A page holds at most MaxPageBytes of entry data (and always its first entry), so that no entry, however large, can
    // push a page past what clients accept.
    private List<StoredEntry> PageByBytes(IReadOnlyList<StoredEntry> entries)
    {
        var page = new List<StoredEntry>(entries.Count);
        long bytes = 0;
        foreach (var entry in entries)
        {
            bytes += entry.Data.Length + entry.LeafHash.Length + 256;
            if (page.Count > 0 && bytes > options.Value.MaxPageBytes)
            {
                break;
            }

            page.Add(entry);
        }

        return page;
    }

    // The canonical form of a JSON object, or null with the reason it is refused: not JSON, not an object, nested too
    // deep, a member name repeated, a lone surrogate, a number beyond a double.
    private static byte[]? Canonical(string json, out string problem)
    {
        problem = "";
        try
        {
            var canonical = CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(json));
            if (canonical[0] != (byte)'{')
            {
                problem = "must be a JSON object";
                return null;
            }

            return canonical;
        }
        catch (JsonException exception)
        {
            problem = $"is not I-JSON: {TextRules.Clip(exception.Message, 200)}";
            return null;
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

    [GeneratedRegex("^external\\.[A-Za-z0-9._-]{1,191}$")]
    private static partial Regex EventTypePattern();

    [GeneratedRegex("^[a-z0-9_.-]{1,100}$")]
    private static partial Regex SubjectKindPattern();
}

using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Ledger.V1;
using ModelOps.Ledger.Verification;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Ledger.Tests;

/// <summary>The ledger service over gRPC and RabbitMQ, against real PostgreSQL and RabbitMQ.</summary>
public sealed class LedgerServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private LedgerProcess _ledger = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _ledger = await LedgerProcess.StartAsync(infrastructure, nameof(LedgerServiceTests));

    public ValueTask DisposeAsync() => _ledger.DisposeAsync();

    [Fact]
    public async Task AppendedEvidenceIsSequencedWithTheCallerAsActorAndCanonicalData()
    {
        var response = await AppendAsync("external.ApprovalGiven", """{ "comment": "looks good", "score": 1.50, "by": "alice" }""",
            new() { ["model"] = "credit-risk" }, _ledger.As("alice", "admin"));

        var entry = response.Entry;
        Assert.False(response.Duplicate);
        Assert.True(entry.Index >= 0);
        Assert.Equal("alice", entry.Actor);
        Assert.Equal(MerkleTree.LeafHash(entry.Data.Span), entry.LeafHash.ToByteArray());
        using var data = JsonDocument.Parse(entry.Data.Memory);
        Assert.Equal("alice", data.RootElement.GetProperty("actor").GetString());
        Assert.Equal("external.ApprovalGiven", data.RootElement.GetProperty("eventType").GetString());
        Assert.Equal(entry.EventId, data.RootElement.GetProperty("eventId").GetString());
        // Canonical: members sorted, no whitespace, 1.50 written as 1.5.
        Assert.Contains("\"payload\":{\"by\":\"alice\",\"comment\":\"looks good\",\"score\":1.5}", Encoding.UTF8.GetString(entry.Data.Span));
    }

    [Fact]
    public async Task AppendingTheSameEventIdAgainReturnsTheFirstEntry()
    {
        var eventId = Guid.CreateVersion7().ToString();
        var first = await AppendAsync("external.Attested", """{"n":1}""", [], _ledger.As("svc", "service"), eventId);
        var second = await AppendAsync("external.Attested", """{"n":1}""", [], _ledger.As("svc", "service"), eventId);

        Assert.True(second.Duplicate);
        Assert.Equal(first.Entry.Index, second.Entry.Index);
        Assert.Equal(first.Entry.Data, second.Entry.Data);
    }

    [Fact]
    public async Task ConcurrentAppendsCommittedTogetherEachGetTheirOwnIndexAndOneEventIdIsStoredOnce()
    {
        // Enough calls at once that the service commits several of them in one transaction.
        var shared = Guid.CreateVersion7().ToString();
        var service = _ledger.As("svc", "service");
        var responses = await Task.WhenAll(Enumerable.Range(0, 60).Select(i =>
            AppendAsync("external.Attested", $$"""{"n":{{(i % 10 == 0 ? 0 : i)}}}""", [], service, i % 10 == 0 ? shared : "")));

        var distinct = responses.Where(r => r.Entry.EventId != shared).ToList();
        Assert.Equal(54, distinct.Count);
        Assert.All(distinct, r => Assert.False(r.Duplicate));
        Assert.Equal(54, distinct.Select(r => r.Entry.Index).Distinct().Count());
        Assert.All(responses, r => Assert.True(r.Entry.Index >= 0, "every call waits for its index"));

        var sharing = responses.Where(r => r.Entry.EventId == shared).ToList();
        Assert.Single(sharing, r => !r.Duplicate);
        Assert.Single(sharing.Select(r => r.Entry.Index).Distinct());
    }

    [Fact]
    public async Task AppendWithoutATokenIsUnauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _ledger.Client.AppendAsync(new AppendRequest { EventType = "x", PayloadJson = "{}" }, cancellationToken: Cancellation).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Theory]
    [InlineData("auditor")]
    [InlineData("reviewer")]
    [InlineData("pipeline")]
    public async Task AppendByARoleOtherThanAdminOrServiceIsDenied(string role)
    {
        var eventId = Guid.CreateVersion7();
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            AppendAsync("external.X", "{}", [], _ledger.As("mallory", role), eventId.ToString()));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        await AssertNotStoredAsync(eventId);
    }

    [Theory]
    [InlineData("", "{}", "event_type")]
    [InlineData("has space", "{}", "event_type")]
    [InlineData("external.X", "", "payload_json")]
    [InlineData("external.X", "[1,2]", "payload_json")]
    [InlineData("external.X", "{\"a\":", "payload_json")]
    [InlineData("external.X", "{\"a\":1,\"a\":2}", "payload_json")]
    public async Task MalformedEvidenceIsRejectedWithTheFieldAndNothingIsWritten(string eventType, string payload, string field)
    {
        var eventId = Guid.CreateVersion7();
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            AppendAsync(eventType, payload, [], _ledger.As("admin", "admin"), eventId.ToString()));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(Violations(error), v => v.Field == field);
        await AssertNotStoredAsync(eventId);
    }

    [Fact]
    public async Task OversizedPayloadAndBadSubjectsAreRejectedTogether()
    {
        var payload = JsonSerializer.Serialize(new { blob = new string('x', 70_000) });
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            AppendAsync("external.X", payload, new() { ["Bad Kind"] = "v", ["model"] = "" }, _ledger.As("admin", "admin"), "not-a-uuid"));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var fields = Violations(error).Select(v => v.Field).ToList();
        Assert.Contains("payload_json", fields);
        Assert.Contains("subjects[Bad Kind]", fields);
        Assert.Contains("subjects[model]", fields);
        Assert.Contains("event_id", fields);
    }

    [Fact]
    public async Task EventsFromTheBusLandOnceEachEvenWhenDeliveredTwice()
    {
        var bus = await _ledger.BusAsync();
        var model = $"model-{Guid.NewGuid():N}";
        var events = Enumerable.Range(0, 20).Select(i => new TestEvidenceRecorded { Actor = "pipeline-7", Model = model, Score = i / 4.0 }).ToList();
        foreach (var e in events.Concat(events.Take(5)))
        {
            await bus.Publish(e, Cancellation);
        }

        var auditor = _ledger.As("auditor", "auditor");
        List<Entry> found = [];
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            found = [.. (await _ledger.Client.ListEntriesBySubjectAsync(
                new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 }, auditor, cancellationToken: Cancellation)).Entries];
            return found.Count >= events.Count;
        }, TimeSpan.FromSeconds(60)));
        await Task.Delay(TimeSpan.FromSeconds(1), Cancellation); // let any duplicate have its chance

        found = [.. (await _ledger.Client.ListEntriesBySubjectAsync(
            new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 }, auditor, cancellationToken: Cancellation)).Entries];
        Assert.Equal(events.Select(e => e.EventId.ToString()).Order(), found.Select(e => e.EventId).Order());
        var one = found.Single(e => e.EventId == events[3].EventId.ToString());
        Assert.Equal("ModelOps.Ledger.Tests.TestEvidenceRecorded", one.EventType);
        Assert.Equal("pipeline-7", one.Actor);
        using var data = JsonDocument.Parse(one.Data.Memory);
        Assert.Equal(0.75, data.RootElement.GetProperty("payload").GetProperty("score").GetDouble());
        Assert.Equal(model, data.RootElement.GetProperty("subjects").GetProperty("model").GetString());
    }

    [Fact]
    public async Task EveryEntryHasAnInclusionProofAndCheckpointsAreConsistent()
    {
        for (var i = 0; i < 12; i++)
        {
            await AppendAsync("external.Step", $$"""{"step":{{i}}}""", [], _ledger.As("svc", "service"));
        }

        var auditor = _ledger.As("auditor", "auditor");
        var size = (await _ledger.Client.GetEntriesAsync(new GetEntriesRequest { PageSize = 1000 }, auditor, cancellationToken: Cancellation)).Entries.Count;
        var checkpoint = await _ledger.CheckpointCoveringAsync(size);
        var verifier = new NoteVerifier((await _ledger.Client.GetVerifierKeyAsync(new GetVerifierKeyRequest(), auditor, cancellationToken: Cancellation)).VerifierKey_);
        var signed = ModelOps.Ledger.Verification.Checkpoint.Open(checkpoint.Note, verifier);
        Assert.Equal(checkpoint.TreeSize, signed.Size);
        Assert.Equal(checkpoint.RootHash.ToByteArray(), signed.RootHash);

        var entries = (await _ledger.Client.GetEntriesAsync(
            new GetEntriesRequest { End = signed.Size, PageSize = 1000 }, auditor, cancellationToken: Cancellation)).Entries;
        foreach (var entry in entries)
        {
            var byIndex = await _ledger.Client.GetInclusionProofAsync(new GetInclusionProofRequest { Index = entry.Index }, auditor, cancellationToken: Cancellation);
            Assert.True(MerkleTree.VerifyInclusion(entry.Index, signed.Size, MerkleTree.LeafHash(entry.Data.Span),
                [.. byIndex.Hashes.Select(h => h.ToByteArray())], signed.RootHash));
            var byHash = await _ledger.Client.GetInclusionProofAsync(
                new GetInclusionProofRequest { LeafHash = entry.LeafHash, TreeSize = signed.Size }, auditor, cancellationToken: Cancellation);
            Assert.Equal(entry.Index, byHash.Index);
        }

        // Every smaller size is consistent with the checkpoint: its root, recomputed from the entries, is proven.
        var leaves = entries.Select(e => MerkleTree.LeafHash(e.Data.Span)).ToList();
        for (var old = 1; old <= signed.Size; old++)
        {
            var proof = await _ledger.Client.GetConsistencyProofAsync(
                new GetConsistencyProofRequest { OldSize = old, NewSize = signed.Size }, auditor, cancellationToken: Cancellation);
            var oldRoot = new CompactRange();
            leaves.Take(old).ToList().ForEach(leaf => oldRoot.Append(leaf));
            Assert.True(MerkleTree.VerifyConsistency(old, signed.Size, oldRoot.Root(), signed.RootHash, [.. proof.Hashes.Select(h => h.ToByteArray())]));
        }
    }

    [Fact]
    public async Task OutOfRangeAndMalformedProofRequestsAreInvalidArguments()
    {
        await AppendAsync("external.Step", "{}", [], _ledger.As("svc", "service"));
        var auditor = _ledger.As("auditor", "auditor");
        var size = (await _ledger.CheckpointCoveringAsync(1)).TreeSize;

        async Task<RpcException> Rejected(Func<Task> call) => await Assert.ThrowsAsync<RpcException>(call);

        var cases = new (Func<Task> Call, string Field)[]
        {
            (() => _ledger.Client.GetInclusionProofAsync(new GetInclusionProofRequest { Index = size, TreeSize = size }, auditor).ResponseAsync, "index"),
            (() => _ledger.Client.GetInclusionProofAsync(new GetInclusionProofRequest { Index = -1 }, auditor).ResponseAsync, "index"),
            (() => _ledger.Client.GetInclusionProofAsync(new GetInclusionProofRequest { Index = 0, TreeSize = size + 1000 }, auditor).ResponseAsync, "tree_size"),
            (() => _ledger.Client.GetInclusionProofAsync(new GetInclusionProofRequest { LeafHash = ByteString.CopyFrom(1, 2, 3) }, auditor).ResponseAsync, "leaf_hash"),
            (() => _ledger.Client.GetInclusionProofAsync(new GetInclusionProofRequest { TreeSize = size }, auditor).ResponseAsync, "leaf"),
            (() => _ledger.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { OldSize = size + 1, NewSize = size }, auditor).ResponseAsync, "old_size"),
            (() => _ledger.Client.GetConsistencyProofAsync(new GetConsistencyProofRequest { OldSize = -1 }, auditor).ResponseAsync, "old_size"),
            (() => _ledger.Client.GetEntriesAsync(new GetEntriesRequest { Start = -5 }, auditor).ResponseAsync, "start"),
            (() => _ledger.Client.GetEntriesAsync(new GetEntriesRequest { PageSize = 5000 }, auditor).ResponseAsync, "page_size"),
            (() => _ledger.Client.GetEntriesAsync(new GetEntriesRequest { PageToken = "garbage" }, auditor).ResponseAsync, "page_token"),
            (() => _ledger.Client.GetEntryByEventIdAsync(new GetEntryByEventIdRequest { EventId = "nope" }, auditor).ResponseAsync, "event_id"),
        };
        foreach (var (call, field) in cases)
        {
            var error = await Rejected(call);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains(Violations(error), v => v.Field == field);
        }

        var unknown = await Rejected(() => _ledger.Client.GetEntryByEventIdAsync(
            new GetEntryByEventIdRequest { EventId = Guid.NewGuid().ToString() }, auditor).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var unknownLeaf = await Rejected(() => _ledger.Client.GetInclusionProofAsync(
            new GetInclusionProofRequest { LeafHash = ByteString.CopyFrom(new byte[32]) }, auditor).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknownLeaf.StatusCode);
    }

    [Fact]
    public async Task EntriesArePagedInIndexOrder()
    {
        for (var i = 0; i < 7; i++)
        {
            await AppendAsync("external.Page", $$"""{"i":{{i}}}""", [], _ledger.As("svc", "service"));
        }

        var auditor = _ledger.As("auditor", "auditor");
        var all = new List<Entry>();
        var request = new GetEntriesRequest { PageSize = 3 };
        do
        {
            var page = await _ledger.Client.GetEntriesAsync(request, auditor, cancellationToken: Cancellation);
            Assert.True(page.Entries.Count <= 3);
            all.AddRange(page.Entries);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        Assert.True(all.Count >= 7);
        Assert.Equal(Enumerable.Range(0, all.Count).Select(i => (long)i), all.Select(e => e.Index));
    }

    [Fact]
    public async Task PlatformEventTypesComeOnlyFromTheBusAndEvidenceAppendedOverTheApiSaysSo()
    {
        // An admin cannot write an event that looks like the registry's own.
        var forged = await Assert.ThrowsAsync<RpcException>(() => AppendAsync(
            "ModelOps.Contracts.Registry.V1.StageChanged", """{"model":"credit-risk","stage":"PRODUCTION"}""", [], _ledger.As("mallory", "admin")));
        Assert.Equal(StatusCode.InvalidArgument, forged.StatusCode);
        Assert.Equal("event_type", Violations(forged).Single().Field);

        var appended = await AppendAsync("external.approval.granted", """{"by":"alice"}""", [], _ledger.As("alice", "admin"));
        using var data = JsonDocument.Parse(appended.Entry.Data.Memory);
        Assert.Equal("api", data.RootElement.GetProperty("channel").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task ABusEventTooLargeForAnEntryIsRecordedByItsSizeAndHashAndTheLogStaysReadable()
    {
        var bus = await _ledger.BusAsync();
        var model = $"model-{Guid.NewGuid():N}";
        var huge = new TestEvidenceRecorded { Actor = "pipeline-7", Model = model, Score = 1, Notes = new string('x', 300_000) };
        await bus.Publish(huge, Cancellation);

        var auditor = _ledger.As("auditor", "auditor");
        Entry? entry = null;
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            entry = (await _ledger.Client.ListEntriesBySubjectAsync(
                new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 10 }, auditor, cancellationToken: Cancellation)).Entries.SingleOrDefault();
            return entry is not null;
        }, TimeSpan.FromSeconds(60)));

        // The entry proves the event happened and what it was (its payload's size and SHA-256), within the entry limit.
        Assert.True(entry!.Data.Length <= 128 * 1024, $"{entry.Data.Length} bytes");
        using var data = JsonDocument.Parse(entry.Data.Memory);
        Assert.Equal("bus", data.RootElement.GetProperty("channel").GetString());
        var omitted = data.RootElement.GetProperty("payload").GetProperty("omitted");
        Assert.True(omitted.GetProperty("bytes").GetInt64() > 300_000);
        Assert.Matches("^[0-9a-f]{64}$", omitted.GetProperty("sha256").GetString());
        Assert.Equal(huge.EventId.ToString(), entry.EventId);

        // Every page of the log still reads in one call of an ordinary client.
        var page = await _ledger.Client.GetEntriesAsync(new GetEntriesRequest { PageSize = 1000 }, auditor, cancellationToken: Cancellation);
        Assert.Contains(page.Entries, e => e.EventId == entry.EventId);
    }

    private async Task<AppendResponse> AppendAsync(
        string eventType, string payload, Dictionary<string, string> subjects, Metadata headers, string eventId = "")
    {
        var request = new AppendRequest { EventType = eventType, PayloadJson = payload, EventId = eventId };
        request.Subjects.Add(subjects);
        return await _ledger.Client.AppendAsync(request, headers, cancellationToken: Cancellation);
    }

    private async Task AssertNotStoredAsync(Guid eventId)
    {
        await using var connection = new NpgsqlConnection(_ledger.Environment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM ledger_entries WHERE event_id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = eventId });
        Assert.Equal(0L, (long)(await command.ExecuteScalarAsync(Cancellation))!);
    }

    private static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException error) =>
        error.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations ?? throw new Xunit.Sdk.XunitException($"No field violations in {error.Status}");
}

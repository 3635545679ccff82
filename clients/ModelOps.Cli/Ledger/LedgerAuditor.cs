using ModelOps.Ledger.Verification;

namespace ModelOps.Cli.Ledger;

/// <summary>What a verification found.</summary>
/// <param name="Checkpoint">The checkpoint verified against, when its signature held.</param>
/// <param name="Problems">Every problem, the first bad entry first; empty when the log verified.</param>
/// <param name="FirstBadIndex">The index of the first entry that is missing or altered, when one was located.</param>
public sealed record AuditReport(Checkpoint? Checkpoint, IReadOnlyList<string> Problems, long? FirstBadIndex)
{
    /// <summary>Whether everything checked out.</summary>
    public bool Passed => Checkpoint is not null && Problems.Count == 0;
}

/// <summary>
/// Checks a log without trusting its source: the checkpoint's signature against a verifier key, every entry's leaf
/// hash recomputed from its data, the root recomputed from those, consistency with a checkpoint saved earlier, and
/// the inclusion of chosen entries. When the root does not match, a live source's consistency proofs locate the first
/// entry that differs: a prefix of the log is proven consistent with the signed checkpoint exactly when every entry
/// in it is intact, so a binary search over prefixes finds the first bad index in O(log n) proofs.
/// </summary>
public sealed class LedgerAuditor(ILedgerSource source, NoteVerifier verifier, TextWriter log)
{
    /// <summary>Runs the checks; <paramref name="since"/> is a checkpoint note saved earlier, <paramref name="chosen"/> entries by index or event id.</summary>
    public async Task<AuditReport> VerifyAsync(string? since, IReadOnlyList<string> chosen, CancellationToken cancellationToken)
    {
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Open(await source.GetCheckpointNoteAsync(cancellationToken), verifier);
        }
        catch (NoteException exception)
        {
            return new AuditReport(null, [$"The checkpoint does not verify: {exception.Message}"], null);
        }

        await log.WriteLineAsync($"Checkpoint {checkpoint.Origin} size {checkpoint.Size} root {Convert.ToHexStringLower(checkpoint.RootHash)}: signature valid.");
        var problems = new List<string>();
        long? firstBad = null;

        // Every entry, in order: recompute its leaf hash and the root.
        var leaves = new List<byte[]>();
        var tree = new CompactRange();
        long? firstMissing = null;
        long? firstClaimMismatch = null;
        await foreach (var entry in source.GetEntriesAsync(checkpoint.Size, cancellationToken))
        {
            if (entry.Index != leaves.Count)
            {
                firstMissing = leaves.Count;
                break;
            }

            var leafHash = MerkleTree.LeafHash(entry.Data);
            if (entry.ClaimedLeafHash is not null && !entry.ClaimedLeafHash.AsSpan().SequenceEqual(leafHash) && firstClaimMismatch is null)
            {
                firstClaimMismatch = entry.Index;
            }

            leaves.Add(leafHash);
            tree.Append(leafHash);
        }

        if (firstMissing is null && leaves.Count < checkpoint.Size)
        {
            firstMissing = leaves.Count;
        }

        var rootMatches = firstMissing is null && tree.Root().AsSpan().SequenceEqual(checkpoint.RootHash);
        if (rootMatches)
        {
            await log.WriteLineAsync($"Recomputed the root from all {leaves.Count} entries: it matches the checkpoint.");
        }
        else
        {
            // The longest prefix of intact entries.
            var intact = source.ServesProofs
                ? await LongestConsistentPrefixAsync(leaves, checkpoint, cancellationToken)
                : (long?)null;
            if (intact is { } good && good < leaves.Count)
            {
                firstBad = good;
                problems.Add($"Entry {good} was altered: the log up to it is consistent with the signed checkpoint, the log including it is not.");
            }
            else if (firstMissing is { } missing && (intact is null || intact >= missing))
            {
                firstBad = missing;
                problems.Add($"Entry {missing} is missing: the checkpoint covers {checkpoint.Size} entries.");
            }
            else if (firstClaimMismatch is { } claimed)
            {
                firstBad = claimed;
                problems.Add($"Entry {claimed} was altered: its data does not hash to the leaf hash recorded for it.");
            }
            else
            {
                problems.Add("The root recomputed from the entries does not match the signed checkpoint.");
            }
        }

        if (since is not null)
        {
            problems.AddRange(await CheckSinceAsync(since, checkpoint, leaves, rootMatches, cancellationToken));
        }

        foreach (var entry in chosen)
        {
            problems.AddRange(await CheckInclusionAsync(entry, checkpoint, leaves, rootMatches, cancellationToken));
        }

        return new AuditReport(checkpoint, problems, firstBad);
    }

    private async Task<long> LongestConsistentPrefixAsync(List<byte[]> leaves, Checkpoint checkpoint, CancellationToken cancellationToken)
    {
        // Invariant: the prefix of length low is intact (length 0 trivially); a prefix longer than high is not.
        long low = 0, high = leaves.Count;
        while (low < high)
        {
            var mid = low + ((high - low + 1) / 2);
            if (await PrefixIsConsistentAsync(leaves, mid, checkpoint, cancellationToken))
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }

        return low;
    }

    private async Task<bool> PrefixIsConsistentAsync(List<byte[]> leaves, long length, Checkpoint checkpoint, CancellationToken cancellationToken)
    {
        var prefixRoot = RootOf(leaves, length);
        if (length == checkpoint.Size)
        {
            return prefixRoot.AsSpan().SequenceEqual(checkpoint.RootHash);
        }

        try
        {
            var proof = await source.GetConsistencyProofAsync(length, checkpoint.Size, cancellationToken);
            return MerkleTree.VerifyConsistency(length, checkpoint.Size, prefixRoot, checkpoint.RootHash, proof);
        }
        catch (Grpc.Core.RpcException)
        {
            return false;
        }
    }

    private async Task<IEnumerable<string>> CheckSinceAsync(
        string since, Checkpoint current, List<byte[]> leaves, bool allIntact, CancellationToken cancellationToken)
    {
        Checkpoint earlier;
        try
        {
            earlier = Checkpoint.Open(since, verifier);
        }
        catch (NoteException exception)
        {
            return [$"The saved checkpoint does not verify: {exception.Message}"];
        }

        if (earlier.Origin != current.Origin)
        {
            return [$"The saved checkpoint is of another log ({earlier.Origin})."];
        }

        if (earlier.Size > current.Size)
        {
            return [$"The saved checkpoint covers {earlier.Size} entries but the log now has {current.Size}: the log was truncated or forked."];
        }

        bool consistent;
        if (source.ServesProofs)
        {
            var proof = await source.GetConsistencyProofAsync(earlier.Size, current.Size, cancellationToken);
            consistent = MerkleTree.VerifyConsistency(earlier.Size, current.Size, earlier.RootHash, current.RootHash, proof);
        }
        else
        {
            // All entries are at hand: the earlier root must be the root of their prefix.
            consistent = allIntact && RootOf(leaves, earlier.Size).AsSpan().SequenceEqual(earlier.RootHash);
        }

        if (!consistent)
        {
            return [$"The log is not an extension of the saved checkpoint of size {earlier.Size}: history was rewritten."];
        }

        await log.WriteLineAsync($"The log extends the saved checkpoint of size {earlier.Size}.");
        return [];
    }

    private async Task<IEnumerable<string>> CheckInclusionAsync(
        string entry, Checkpoint checkpoint, List<byte[]> leaves, bool allIntact, CancellationToken cancellationToken)
    {
        if (!source.ServesProofs)
        {
            return long.TryParse(entry, out var index) && index >= 0 && index < leaves.Count && allIntact
                ? Logged($"Entry {entry} is in the verified log.")
                : [$"Entry {entry} is not among the verified entries of the bundle."];
        }

        try
        {
            var (found, proof) = await source.GetInclusionProofAsync(entry, checkpoint.Size, cancellationToken);
            if (found < 0 || found >= leaves.Count)
            {
                return [$"Entry {entry} (index {found}) could not be read."];
            }

            if (!MerkleTree.VerifyInclusion(found, checkpoint.Size, leaves[(int)found], proof, checkpoint.RootHash))
            {
                return [$"Entry {entry} (index {found}) is not included in the signed checkpoint."];
            }

            return Logged($"Entry {entry} (index {found}) is included in the signed checkpoint.");
        }
        catch (Grpc.Core.RpcException exception)
        {
            return [$"Entry {entry}: {exception.Status.Detail}"];
        }

        IEnumerable<string> Logged(string message)
        {
            log.WriteLine(message);
            return [];
        }
    }

    private static byte[] RootOf(List<byte[]> leaves, long length)
    {
        var tree = new CompactRange();
        for (var i = 0; i < length; i++)
        {
            tree.Append(leaves[i]);
        }

        return tree.Root();
    }
}

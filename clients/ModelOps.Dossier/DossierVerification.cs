using System.Text.Json;
using ModelOps.Ledger.Verification;

namespace ModelOps.Dossier;

/// <summary>What checking a dossier's ledger entries found.</summary>
/// <param name="Checkpoint">The checkpoint, when its signature held.</param>
/// <param name="Verified">One line per entry proven included.</param>
/// <param name="Problems">Every problem; empty when all held.</param>
public sealed record DossierCheck(Checkpoint? Checkpoint, IReadOnlyList<string> Verified, IReadOnlyList<string> Problems)
{
    /// <summary>Whether the checkpoint's signature and every entry's inclusion held.</summary>
    public bool Passed => Checkpoint is not null && Problems.Count == 0;
}

/// <summary>
/// Checks a dossier's ledger entries offline, trusting nothing in the file but what the verifier key signs:
/// the checkpoint's signature, that it commits to the tree size the dossier states, and for each entry that its data
/// hashes to a leaf that its audit path (RFC 9162 §2.1.3.2) places at its index under the signed root, and that the data
/// records the event id and type the dossier shows for it.
/// </summary>
public static class DossierVerification
{
    /// <summary>Checks <paramref name="ledger"/> against <paramref name="verifier"/>.</summary>
    public static DossierCheck Verify(LedgerProofs ledger, NoteVerifier verifier)
    {
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Open(ledger.Checkpoint, verifier);
        }
        catch (NoteException exception)
        {
            return new DossierCheck(null, [], [$"The checkpoint does not verify: {exception.Message}"]);
        }

        var problems = new List<string>();
        var verified = new List<string>();
        if (checkpoint.Origin != ledger.Origin)
        {
            problems.Add($"The checkpoint is of {checkpoint.Origin}, not of {ledger.Origin}.");
        }

        if (checkpoint.Size != ledger.TreeSize)
        {
            problems.Add($"The checkpoint commits to {checkpoint.Size} entries, the dossier says {ledger.TreeSize}.");
        }

        foreach (var entry in ledger.Entries)
        {
            if (entry.Index < 0 || entry.Index >= checkpoint.Size)
            {
                problems.Add($"Entry {entry.Index} is outside the checkpoint's {checkpoint.Size} entries.");
                continue;
            }

            if (!MerkleTree.VerifyInclusion(entry.Index, checkpoint.Size, MerkleTree.LeafHash(entry.Data), entry.InclusionProof, checkpoint.RootHash))
            {
                problems.Add($"Entry {entry.Index} ({entry.EventType}) is not included in the signed checkpoint: its data or proof was altered.");
                continue;
            }

            if (!Describes(entry))
            {
                problems.Add($"Entry {entry.Index} is in the log, but its data does not record event {entry.EventId} of type {entry.EventType} as the dossier shows.");
                continue;
            }

            verified.Add($"Entry {entry.Index} ({entry.EventType}, event {entry.EventId}) is included in the checkpoint of size {checkpoint.Size}.");
        }

        return new DossierCheck(checkpoint, verified, problems);
    }

    // The leaf data is the canonical JSON of the event's envelope: what the dossier shows beside it must be what it says.
    private static bool Describes(ProvenEntry entry)
    {
        try
        {
            using var document = JsonDocument.Parse(entry.Data);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object &&
                   root.TryGetProperty("eventId", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() == entry.EventId &&
                   root.TryGetProperty("eventType", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == entry.EventType &&
                   root.TryGetProperty("actor", out var actor) && actor.ValueKind == JsonValueKind.String && actor.GetString() == entry.Actor;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

using System.Globalization;

namespace ModelOps.Ledger.Verification;

/// <summary>
/// A C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the body of a signed note that commits a log, named by
/// its origin, to the root hash of its first <see cref="Size"/> entries.
/// </summary>
/// <param name="Origin">The log's unique name (first line).</param>
/// <param name="Size">The tree size, in decimal without leading zeros (second line).</param>
/// <param name="RootHash">The RFC 6962 root hash of that tree, base64 (third line).</param>
/// <param name="Extensions">Optional further lines, kept verbatim.</param>
public sealed record Checkpoint(string Origin, long Size, byte[] RootHash, IReadOnlyList<string> Extensions)
{
    /// <summary>A checkpoint with no extension lines.</summary>
    public Checkpoint(string origin, long size, byte[] rootHash)
        : this(origin, size, rootHash, [])
    {
    }

    /// <summary>The note text: one line each for origin, size and root hash, then the extension lines.</summary>
    public string ToText()
    {
        var lines = new List<string> { Origin, Size.ToString(CultureInfo.InvariantCulture), Convert.ToBase64String(RootHash) };
        lines.AddRange(Extensions);
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>Parses a checkpoint's note text (without the signatures).</summary>
    public static Checkpoint Parse(string text)
    {
        if (!text.EndsWith('\n'))
        {
            throw new NoteException("A checkpoint ends with a newline.");
        }

        var lines = text[..^1].Split('\n');
        if (lines.Length < 3 || lines[0].Length == 0)
        {
            throw new NoteException("A checkpoint has an origin, a size and a root hash, one per line.");
        }

        if (lines[1].Length == 0 || (lines[1].Length > 1 && lines[1][0] == '0') || !lines[1].All(char.IsAsciiDigit) ||
            !long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new NoteException($"The checkpoint's size \"{lines[1]}\" is not a decimal number without leading zeros.");
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException)
        {
            throw new NoteException("The checkpoint's root hash is not base64.");
        }

        if (root.Length != MerkleTree.HashSize)
        {
            throw new NoteException("The checkpoint's root hash is not a SHA-256 hash.");
        }

        if (lines.Skip(3).Any(line => line.Length == 0))
        {
            throw new NoteException("A checkpoint's extension lines are not empty.");
        }

        return new Checkpoint(lines[0], size, root, lines[3..]);
    }

    /// <summary>Verifies <paramref name="signedNote"/> with <paramref name="verifier"/> and parses the checkpoint it carries.</summary>
    /// <exception cref="NoteException">The signature does not verify or the checkpoint is malformed.</exception>
    public static Checkpoint Open(string signedNote, NoteVerifier verifier) => Parse(SignedNote.Open(signedNote, verifier));
}

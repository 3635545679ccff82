using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

namespace ModelOps.Ledger.Verification;

/// <summary>The error of a note, key or checkpoint that does not parse or does not verify.</summary>
public sealed class NoteException(string message) : Exception(message);

/// <summary>
/// Ed25519 keys of the C2SP signed-note format (https://c2sp.org/signed-note), as golang.org/x/mod/sumdb/note writes
/// them: a verifier key <c>name+hash+base64(0x01 ‖ public key)</c> and a signer key
/// <c>PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)</c>, where hash is the first four bytes of
/// SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key). Written here because no .NET library implements signed notes.
/// </summary>
public static class NoteKeys
{
    /// <summary>The signature type byte of Ed25519.</summary>
    public const byte Ed25519Type = 0x01;

    internal const string PrivateKeyPrefix = "PRIVATE+KEY+";

    /// <summary>A new key named <paramref name="name"/>: the signer key (keep it secret) and its verifier key (publish it).</summary>
    public static (string SignerKey, string VerifierKey) Generate(string name)
    {
        ValidateName(name);
        var privateKey = new Ed25519PrivateKeyParameters(new SecureRandom());
        var publicKey = privateKey.GeneratePublicKey().GetEncoded();
        var hash = KeyHash(name, publicKey);
        var signer = $"{PrivateKeyPrefix}{name}+{hash:x8}+{Convert.ToBase64String([Ed25519Type, .. privateKey.GetEncoded()])}";
        return (signer, VerifierKeyString(name, publicKey));
    }

    /// <summary>The key hash: the first four bytes, big-endian, of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).</summary>
    public static uint KeyHash(string name, ReadOnlySpan<byte> publicKey)
    {
        var input = new List<byte>(Encoding.UTF8.GetBytes(name)) { (byte)'\n', Ed25519Type };
        input.AddRange(publicKey.ToArray());
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(input.ToArray()));
    }

    internal static string VerifierKeyString(string name, byte[] publicKey) =>
        $"{name}+{KeyHash(name, publicKey):x8}+{Convert.ToBase64String([Ed25519Type, .. publicKey])}";

    /// <summary>A key name: non-empty UTF-8 with no whitespace, no control character and no '+'.</summary>
    internal static void ValidateName(string name)
    {
        if (name.Length == 0 || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '+'))
        {
            throw new NoteException($"\"{name}\" is not a valid key name: it must be non-empty, without spaces, control characters or '+'.");
        }
    }

    /// <summary>Splits <c>name+hash+base64</c> (the base64 may itself hold '+').</summary>
    internal static (string Name, uint Hash, byte[] Key) ParseKey(string text, string what)
    {
        var parts = text.Split('+', 3);
        if (parts.Length != 3 || parts[1].Length != 8 ||
            !uint.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hash))
        {
            throw new NoteException($"The {what} is not of the form name+hash+key.");
        }

        ValidateName(parts[0]);
        byte[] key;
        try
        {
            key = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            throw new NoteException($"The {what}'s key is not base64.");
        }

        if (key.Length != 33 || key[0] != Ed25519Type)
        {
            throw new NoteException($"The {what} is not an Ed25519 key (type 0x01 and 32 bytes).");
        }

        return (parts[0], hash, key[1..]);
    }
}

/// <summary>Signs notes with an Ed25519 signer key.</summary>
public sealed class NoteSigner
{
    private readonly Ed25519PrivateKeyParameters _privateKey;

    /// <summary>Reads a signer key <c>PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)</c>; the hash must match the key.</summary>
    public NoteSigner(string signerKey)
    {
        if (!signerKey.StartsWith(NoteKeys.PrivateKeyPrefix, StringComparison.Ordinal))
        {
            throw new NoteException("A signer key starts with PRIVATE+KEY+.");
        }

        var (name, hash, seed) = NoteKeys.ParseKey(signerKey[NoteKeys.PrivateKeyPrefix.Length..].Trim(), "signer key");
        _privateKey = new Ed25519PrivateKeyParameters(seed);
        var publicKey = _privateKey.GeneratePublicKey().GetEncoded();
        if (NoteKeys.KeyHash(name, publicKey) != hash)
        {
            throw new NoteException("The signer key's hash does not match its key.");
        }

        Name = name;
        KeyHash = hash;
        VerifierKey = NoteKeys.VerifierKeyString(name, publicKey);
    }

    /// <summary>The key name, written on every signature line.</summary>
    public string Name { get; }

    /// <summary>The key hash.</summary>
    public uint KeyHash { get; }

    /// <summary>The verifier key string that checks this signer's notes.</summary>
    public string VerifierKey { get; }

    /// <summary>The signed note: <paramref name="text"/>, a blank line, and the signature line.</summary>
    public string Sign(string text)
    {
        SignedNote.ValidateText(text);
        var message = Encoding.UTF8.GetBytes(text);
        var signer = new Ed25519Signer();
        signer.Init(true, _privateKey);
        signer.BlockUpdate(message, 0, message.Length);
        var signature = signer.GenerateSignature();
        var blob = new byte[4 + signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, KeyHash);
        signature.CopyTo(blob, 4);
        return $"{text}\n{SignedNote.SignaturePrefix}{Name} {Convert.ToBase64String(blob)}\n";
    }
}

/// <summary>Checks notes against one Ed25519 verifier key.</summary>
public sealed class NoteVerifier
{
    private readonly Ed25519PublicKeyParameters _publicKey;

    /// <summary>Reads a verifier key <c>name+hash+base64(0x01 ‖ public key)</c>; the hash must match the key.</summary>
    public NoteVerifier(string verifierKey)
    {
        var (name, hash, key) = NoteKeys.ParseKey(verifierKey.Trim(), "verifier key");
        if (NoteKeys.KeyHash(name, key) != hash)
        {
            throw new NoteException("The verifier key's hash does not match its key.");
        }

        _publicKey = new Ed25519PublicKeyParameters(key);
        Name = name;
        KeyHash = hash;
    }

    /// <summary>The key name.</summary>
    public string Name { get; }

    /// <summary>The key hash.</summary>
    public uint KeyHash { get; }

    /// <summary>Whether <paramref name="signature"/> is this key's signature of <paramref name="text"/>.</summary>
    public bool Verify(string text, byte[] signature)
    {
        var message = Encoding.UTF8.GetBytes(text);
        var verifier = new Ed25519Signer();
        verifier.Init(false, _publicKey);
        verifier.BlockUpdate(message, 0, message.Length);
        return verifier.VerifySignature(signature);
    }
}

/// <summary>A note's text and its signature lines, split but not yet verified.</summary>
/// <param name="Text">The signed text, ending in a newline.</param>
/// <param name="Signatures">Each signature line's key name, key hash and signature.</param>
public sealed record SignedNote(string Text, IReadOnlyList<(string Name, uint KeyHash, byte[] Signature)> Signatures)
{
    /// <summary>What begins a signature line: an em dash (U+2014) and a space.</summary>
    public const string SignaturePrefix = "\u2014 ";

    /// <summary>Largest note accepted, as the Go implementation limits it.</summary>
    public const int MaxNoteSize = 1_000_000;

    /// <summary>Splits a signed note at its last blank line.</summary>
    public static SignedNote Parse(string message)
    {
        if (message.Length > MaxNoteSize)
        {
            throw new NoteException("The note is too large.");
        }

        var split = message.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0 || !message.EndsWith('\n'))
        {
            throw new NoteException("The note has no signature block (a blank line, then signature lines ending in a newline).");
        }

        var text = message[..(split + 1)];
        ValidateText(text);
        var signatures = new List<(string, uint, byte[])>();
        foreach (var line in message[(split + 2)..^1].Split('\n'))
        {
            if (!line.StartsWith(SignaturePrefix, StringComparison.Ordinal))
            {
                throw new NoteException("A signature line does not start with an em dash and a space.");
            }

            var fields = line[SignaturePrefix.Length..].Split(' ');
            if (fields.Length != 2)
            {
                throw new NoteException("A signature line is not \"— name signature\".");
            }

            NoteKeys.ValidateName(fields[0]);
            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(fields[1]);
            }
            catch (FormatException)
            {
                throw new NoteException("A signature is not base64.");
            }

            if (blob.Length < 5)
            {
                throw new NoteException("A signature is too short to hold a key hash and a signature.");
            }

            signatures.Add((fields[0], BinaryPrimitives.ReadUInt32BigEndian(blob), blob[4..]));
        }

        return new SignedNote(text, signatures);
    }

    /// <summary>Parses <paramref name="message"/> and returns its text if <paramref name="verifier"/> signed it.</summary>
    /// <exception cref="NoteException">The note is malformed, or carries no valid signature of that key.</exception>
    public static string Open(string message, NoteVerifier verifier)
    {
        var note = Parse(message);
        var ours = note.Signatures.Where(s => s.Name == verifier.Name && s.KeyHash == verifier.KeyHash).ToList();
        if (ours.Count == 0)
        {
            throw new NoteException($"The note carries no signature of {verifier.Name}+{verifier.KeyHash:x8}.");
        }

        if (!ours.All(s => verifier.Verify(note.Text, s.Signature)))
        {
            throw new NoteException($"The signature of {verifier.Name}+{verifier.KeyHash:x8} does not verify: the note was altered or forged.");
        }

        return note.Text;
    }

    /// <summary>Signed text is UTF-8 ending in a newline, with no control character other than newlines.</summary>
    internal static void ValidateText(string text)
    {
        if (text.Length == 0 || !text.EndsWith('\n') || text.Any(c => c != '\n' && char.IsControl(c)))
        {
            throw new NoteException("Note text must end in a newline and hold no control characters other than newlines.");
        }
    }
}

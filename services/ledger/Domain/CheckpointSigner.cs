using Microsoft.Extensions.Options;
using ModelOps.Ledger.Verification;

namespace ModelOps.Ledger.Domain;

/// <summary>
/// Signs the log's checkpoints with its Ed25519 key: the configured secret (<c>Ledger:SigningKey</c>), else the key
/// file (<c>Ledger:SigningKeyPath</c>), which is generated on first start and kept.
/// </summary>
public sealed partial class CheckpointSigner
{
    private readonly NoteSigner _signer;

    /// <summary>Loads or creates the key.</summary>
    public CheckpointSigner(IOptions<LedgerOptions> options, ILogger<CheckpointSigner> logger)
    {
        var settings = options.Value;
        Origin = settings.Origin;
        var key = !string.IsNullOrWhiteSpace(settings.SigningKey) ? settings.SigningKey.Trim() : LoadOrCreate(settings, logger);
        _signer = new NoteSigner(key);
        if (_signer.Name != Origin)
        {
            throw new InvalidOperationException(
                $"The ledger's signing key is named \"{_signer.Name}\" but its origin is \"{Origin}\": checkpoints are signed by a key named after the log.");
        }

        LogVerifierKey(logger, Origin, VerifierKey);
    }

    /// <summary>The log's origin line.</summary>
    public string Origin { get; }

    /// <summary>The verifier key string auditors pin.</summary>
    public string VerifierKey => _signer.VerifierKey;

    /// <summary>The signed checkpoint note for a tree of <paramref name="size"/> with <paramref name="root"/>.</summary>
    public string Sign(long size, byte[] root) => _signer.Sign(new Checkpoint(Origin, size, root).ToText());

    private static string LoadOrCreate(LedgerOptions settings, ILogger logger)
    {
        var path = Path.GetFullPath(settings.SigningKeyPath);
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var (signerKey, _) = NoteKeys.Generate(settings.Origin);
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, signerKey + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        try
        {
            // Another replica starting at the same moment may have won; its key is the one kept.
            File.Move(temporary, path, overwrite: false);
            LogKeyCreated(logger, path);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
        }

        return File.ReadAllText(path).Trim();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ledger {Origin} checkpoints are signed by verifier key {VerifierKey}")]
    private static partial void LogVerifierKey(ILogger logger, string origin, string verifierKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generated a new ledger signing key at {Path}: keep it, and publish the verifier key")]
    private static partial void LogKeyCreated(ILogger logger, string path);
}

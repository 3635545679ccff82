namespace ModelOps.Ledger.Domain;

/// <summary>Configuration of the ledger (section <c>Ledger</c>).</summary>
public sealed class LedgerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Ledger";

    /// <summary>The log's origin: the first line of every checkpoint, and the signing key's name.</summary>
    public string Origin { get; set; } = "modelops.local/ledger";

    /// <summary>The signer key itself (<c>PRIVATE+KEY+…</c>), e.g. from a Kubernetes secret; wins over <see cref="SigningKeyPath"/>.</summary>
    public string? SigningKey { get; set; }

    /// <summary>A file holding the signer key; generated on first start when missing.</summary>
    public string SigningKeyPath { get; set; } = "data/ledger-signing.key";

    /// <summary>A new checkpoint is signed at most this often while the tree grows.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Most entries the sequencer places in one transaction.</summary>
    public int SequencerBatchSize { get; set; } = 2000;

    /// <summary>How often the sequencer looks for work when no notification wakes it.</summary>
    public TimeSpan SequencerPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Largest JSON payload accepted by <c>Append</c>, in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Largest entry (its canonical JSON), in bytes. <c>Append</c> refuses a larger one; an event from the bus whose
    /// entry would be larger is recorded with its payload replaced by the payload's size and SHA-256.
    /// </summary>
    public int MaxEntryBytes { get; set; } = 128 * 1024;

    /// <summary>Most bytes of entry data one page of <c>GetEntries</c> or <c>ListEntriesBySubject</c> returns (at least one entry).</summary>
    public int MaxPageBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>How long <c>Append</c> waits for its entry to be sequenced before answering without an index.</summary>
    public TimeSpan AppendWaitTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

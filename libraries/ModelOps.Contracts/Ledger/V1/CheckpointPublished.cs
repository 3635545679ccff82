namespace ModelOps.Contracts.Ledger.V1;

/// <summary>The ledger signed a new checkpoint: the log of its first <see cref="TreeSize"/> entries has this root.</summary>
public sealed record CheckpointPublished : IntegrationEvent
{
    /// <summary>The log's origin line.</summary>
    public required string Origin { get; init; }

    /// <summary>The number of entries the checkpoint commits to.</summary>
    public required long TreeSize { get; init; }

    /// <summary>The RFC 6962 root hash, base64.</summary>
    public required string RootHash { get; init; }

    /// <summary>The C2SP signed note, verbatim.</summary>
    public required string Note { get; init; }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, string> Subjects => new Dictionary<string, string> { ["ledger"] = Origin };
}

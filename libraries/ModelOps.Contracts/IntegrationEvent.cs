using System.Diagnostics;

namespace ModelOps.Contracts;

/// <summary>
/// The envelope every integration event carries. Consumers that handle every event (the ledger)
/// subscribe to this interface rather than to a fixed list of event types.
/// </summary>
public interface IIntegrationEvent
{
    /// <summary>Unique id of the event (UUIDv7, so ids sort by creation time); consumers deduplicate on it.</summary>
    Guid EventId { get; }

    /// <summary>When the state change the event describes was committed.</summary>
    DateTimeOffset OccurredAt { get; }

    /// <summary>Who caused the change: the subject of the caller's token, or the service itself.</summary>
    string Actor { get; }

    /// <summary>W3C trace id of the request that caused the change, when it was traced.</summary>
    string? TraceId { get; }

    /// <summary>
    /// Ids of what the event is about, keyed by kind (<c>run_id</c>, <c>model</c>, <c>model_version</c>, ...).
    /// The ledger indexes entries by these, so that everything about one model or run can be listed.
    /// </summary>
    IReadOnlyDictionary<string, string> Subjects { get; }
}

/// <summary>
/// Base record for integration events. Events are immutable, named in the past tense, and versioned by
/// namespace (<c>ModelOps.Contracts.&lt;Service&gt;.V1</c>): a breaking change is a new type, never an edit.
/// </summary>
public abstract record IntegrationEvent : IIntegrationEvent
{
    /// <inheritdoc />
    public Guid EventId { get; init; } = Guid.CreateVersion7();

    /// <inheritdoc />
    /// <remarks>To the microsecond, the precision at which services store and serve instants.</remarks>
    public DateTimeOffset OccurredAt { get; init; } = Microseconds(DateTimeOffset.UtcNow);

    /// <inheritdoc />
    public required string Actor { get; init; }

    /// <inheritdoc />
    public string? TraceId { get; init; } = Activity.Current?.TraceId.ToHexString();

    /// <inheritdoc />
    public abstract IReadOnlyDictionary<string, string> Subjects { get; }

    private static DateTimeOffset Microseconds(DateTimeOffset value) =>
        new(value.UtcTicks - (value.UtcTicks % TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);
}

/// <summary>Well-known keys of <see cref="IIntegrationEvent.Subjects"/>.</summary>
public static class SubjectKeys
{
    /// <summary>An experiment id in tracking.</summary>
    public const string Experiment = "experiment_id";

    /// <summary>A run id in tracking.</summary>
    public const string Run = "run_id";

    /// <summary>A registered model name.</summary>
    public const string Model = "model";

    /// <summary>A model version, as <c>name/version</c>.</summary>
    public const string ModelVersion = "model_version";

    /// <summary>An alert id in alerting.</summary>
    public const string Alert = "alert_id";

    /// <summary>An alert group's key in alerting.</summary>
    public const string AlertGroup = "alert_group";

    /// <summary>A retraining request in alerting.</summary>
    public const string RetrainRequest = "retrain_request_id";
}

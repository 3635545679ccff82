using ModelOps.Registry.V1;

namespace ModelOps.Registry.Domain;

/// <summary>Request states and gate statuses as stored and announced (OPEN, APPROVED, ...; PASS, FAIL, PENDING), mapped in one place.</summary>
public static class RequestStates
{
    /// <summary>The stored name of a request state.</summary>
    public static string Name(RequestState state) => state switch
    {
        RequestState.Open => "OPEN",
        RequestState.Approved => "APPROVED",
        RequestState.Rejected => "REJECTED",
        RequestState.Cancelled => "CANCELLED",
        RequestState.Superseded => "SUPERSEDED",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "not a request state"),
    };

    /// <summary>The state of a stored name.</summary>
    public static RequestState Parse(string name) => name switch
    {
        "OPEN" => RequestState.Open,
        "APPROVED" => RequestState.Approved,
        "REJECTED" => RequestState.Rejected,
        "CANCELLED" => RequestState.Cancelled,
        "SUPERSEDED" => RequestState.Superseded,
        _ => throw new FormatException($"'{name}' is not a request state"),
    };

    /// <summary>The announced name of a gate status.</summary>
    public static string StatusName(GateStatus status) => status switch
    {
        GateStatus.Pass => "PASS",
        GateStatus.Fail => "FAIL",
        _ => "PENDING",
    };
}

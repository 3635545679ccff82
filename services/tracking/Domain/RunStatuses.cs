using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Domain;

/// <summary>A run status and its stored name (RUNNING, FINISHED, FAILED, KILLED), mapped in one place.</summary>
public static class RunStatuses
{
    /// <summary>The stored (and announced) name of <paramref name="status"/>.</summary>
    public static string Name(RunStatus status) => status switch
    {
        RunStatus.Running => "RUNNING",
        RunStatus.Finished => "FINISHED",
        RunStatus.Failed => "FAILED",
        RunStatus.Killed => "KILLED",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not a run status"),
    };

    /// <summary>The status of a stored name.</summary>
    public static RunStatus Parse(string name) => name switch
    {
        "RUNNING" => RunStatus.Running,
        "FINISHED" => RunStatus.Finished,
        "FAILED" => RunStatus.Failed,
        "KILLED" => RunStatus.Killed,
        _ => throw new FormatException($"'{name}' is not a run status"),
    };
}

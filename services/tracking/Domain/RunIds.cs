using System.Globalization;

namespace ModelOps.Tracking.Domain;

/// <summary>Run ids are UUIDs written as 32 lowercase hex digits (MLflow's form); experiment ids are decimal integers.</summary>
public static class RunIds
{
    /// <summary>The id's text form.</summary>
    public static string Format(Guid runId) => runId.ToString("N");

    /// <summary>Parses a run id (32 hex digits, dashes allowed).</summary>
    public static bool TryParse(string text, out Guid runId) => Guid.TryParse(text, out runId);

    /// <summary>Parses an experiment id.</summary>
    public static bool TryParseExperiment(string text, out long experimentId) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out experimentId) && experimentId > 0;
}

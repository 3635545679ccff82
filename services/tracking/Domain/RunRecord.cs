using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using ModelOps.Contracts;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Domain;

/// <summary>A run's final record, fixed when it ends: what RunFinished's hash commits to.</summary>
public static class RunRecord
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    /// <summary>
    /// RFC 8785 canonical JSON of <c>{"artifactsSha256": …, "metricHistorySha256": …, "run": &lt;the run as protobuf
    /// JSON, without recordSha256&gt;}</c>.
    /// </summary>
    public static byte[] Canonical(Run run, string metricHistorySha256, string artifactsSha256)
    {
        var record = run.Clone();
        record.RecordSha256 = "";
        var json = $$"""{"artifactsSha256":"{{artifactsSha256}}","metricHistorySha256":"{{metricHistorySha256}}","run":{{Json.Format(record)}}}""";
        return CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>The SHA-256 (hex) of <see cref="Canonical"/>.</summary>
    public static string Sha256(Run run, string metricHistorySha256, string artifactsSha256) =>
        Convert.ToHexStringLower(SHA256.HashData(Canonical(run, metricHistorySha256, artifactsSha256)));
}

using ModelOps.Registry.V1;

namespace ModelOps.Registry.Domain;

/// <summary>Risk tiers as stored: LOW, MEDIUM, HIGH.</summary>
public static class RiskTiers
{
    /// <summary>The stored name of a tier.</summary>
    public static string Name(RiskTier tier) => tier switch
    {
        RiskTier.Low => "LOW",
        RiskTier.Medium => "MEDIUM",
        RiskTier.High => "HIGH",
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "not a risk tier"),
    };

    /// <summary>The tier of a stored name.</summary>
    public static RiskTier Parse(string name) => name switch
    {
        "LOW" => RiskTier.Low,
        "MEDIUM" => RiskTier.Medium,
        "HIGH" => RiskTier.High,
        _ => throw new FormatException($"'{name}' is not a risk tier"),
    };
}

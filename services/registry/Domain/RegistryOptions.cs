namespace ModelOps.Registry.Domain;

/// <summary>Configuration of the registry (section <c>Registry</c>).</summary>
public sealed class RegistryOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Registry";

    /// <summary>
    /// The services a policy's remote gates may name (drift, fairness and explainability when not configured); only
    /// these are asked, at the address service discovery gives them.
    /// </summary>
    public List<string>? RemoteGates { get; set; }

    /// <summary>The services a policy's remote gates may name, in effect.</summary>
    public IReadOnlyList<string> RemoteGateServices => RemoteGates is { Count: > 0 } services ? services : ["drift", "fairness", "explainability"];

    /// <summary>
    /// How often the artifacts of versions that hold a stage or an alias are hashed again; a version whose bytes are found
    /// altered or gone is no longer served by <c>GetDeployable</c>. Zero turns the sweep off.
    /// </summary>
    public TimeSpan IntegritySweepEvery { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often open requests waiting on a remote gate are evaluated again; an evaluation that changes nothing is not
    /// recorded. Zero turns the sweep off.
    /// </summary>
    public TimeSpan ReevaluateEvery { get; set; } = TimeSpan.FromMinutes(1);
}

namespace ModelOps.Registry.Domain;

/// <summary>Configuration of the registry (section <c>Registry</c>).</summary>
public sealed class RegistryOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Registry";

    /// <summary>
    /// How long an artifact's re-hash counts as fresh for the integrity gate. Re-hashing a multi-gigabyte model at every
    /// approval takes seconds; within this window the gate reuses the last result and says when it was measured. 0
    /// re-hashes at every evaluation.
    /// </summary>
    public TimeSpan IntegrityRecheckAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How often open requests waiting on a remote gate are evaluated again; an evaluation that changes nothing is not
    /// recorded. Zero turns the sweep off.
    /// </summary>
    public TimeSpan ReevaluateEvery { get; set; } = TimeSpan.FromMinutes(1);
}

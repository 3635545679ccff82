extern alias registry;
extern alias tracking;
using registry::ModelOps.Registry.Domain;
using registry::ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Grpc;
using TrackingProvenance = tracking::ModelOps.Tracking.Domain.ProvenanceFields;

namespace ModelOps.Registry.Tests;

/// <summary>The pure rules: which gates apply, what a policy and a target may say.</summary>
public sealed class PolicyTests
{
    [Fact]
    public void ThePolicyLanguageKnowsExactlyTrackingsProvenanceFields() =>
        Assert.Equal(TrackingProvenance.All, ProvenanceRequirements.All);

    [Fact]
    public void HighRiskRequiresEveryProvenanceFieldAndLowerTiersASubset()
    {
        Assert.Equal(ProvenanceRequirements.All, ProvenanceRequirements.Default(RiskTier.High));
        Assert.Subset(ProvenanceRequirements.All.ToHashSet(), ProvenanceRequirements.Default(RiskTier.Medium).ToHashSet());
        Assert.Subset(ProvenanceRequirements.Default(RiskTier.Medium).ToHashSet(), ProvenanceRequirements.Default(RiskTier.Low).ToHashSet());
    }

    [Fact]
    public void ATargetNoRuleNamesStillNeedsAReviewer()
    {
        var policy = Policies.Default("m", RiskTier.High);
        var production = Policies.GatesFor(policy, new Target { Stage = Stage.Production });
        Assert.Equal(["provenance", "artifact-integrity", "approvals"], production.Select(g => g.Name));
        Assert.Equal(2, production.Single(g => g.KindCase == Gate.KindOneofCase.Approval).Approval.Required);
        Assert.Equal(1, Policies.GatesFor(Policies.Default("m", RiskTier.Low), new Target { Stage = Stage.Production })[2].Approval.Required);
        Assert.Equal(production, Policies.GatesFor(policy, new Target { Alias = "champion" }));
        var archive = Policies.GatesFor(policy, new Target { Stage = Stage.Archived });
        Assert.Equal(1, archive.Single().Approval.Required);
        Assert.Equal(1, Policies.MaxProduction(policy));
    }

    [Fact]
    public void ThePolicyInEffectByDefaultIsItselfValid()
    {
        foreach (var tier in new[] { RiskTier.Low, RiskTier.Medium, RiskTier.High })
        {
            var violations = new FieldViolations();
            Policies.Validate(violations, Policies.Default("m", tier));
            Assert.False(violations.Any, string.Join("; ", violations.Items.Select(v => v.Field + ": " + v.Description)));
        }
    }

    [Theory]
    [InlineData("champion", true)]
    [InlineData("challenger-2", true)]
    [InlineData("Champion", false)]
    [InlineData("production", false)]
    [InlineData("2nd", false)]
    [InlineData("", false)]
    public void AliasNamesAreLowerCaseAndNotStages(string alias, bool valid) => Assert.Equal(valid, Targets.IsAliasName(alias));
}

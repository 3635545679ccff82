extern alias registry;
using registry::ModelOps.Registry.Domain;
using registry::ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;

namespace ModelOps.Unit.Tests.Registry;

/// <summary>The pure rules: which gates apply, what a policy and a target may say.</summary>
public sealed class PolicyTests
{
    [Fact]
    public void HighRiskRequiresEveryProvenanceFieldAndLowerTiersASubset()
    {
        Assert.Equal(ProvenanceRequirements.All, ProvenanceRequirements.Default(RiskTier.High));
        Assert.Subset(ProvenanceRequirements.All.ToHashSet(), ProvenanceRequirements.Default(RiskTier.Medium).ToHashSet());
        Assert.Subset(ProvenanceRequirements.Default(RiskTier.Medium).ToHashSet(), ProvenanceRequirements.Default(RiskTier.Low).ToHashSet());
    }

    [Fact]
    public void ATargetNoRuleNamesGetsTheStrictestGatesOfThePolicy()
    {
        var policy = Policies.Default("m", RiskTier.High);
        var production = Policies.GatesFor(policy, new Target { Stage = Stage.Production });
        Assert.Equal(["provenance", "artifact-integrity", "approvals"], production.Select(g => g.Name));
        Assert.Equal(2, production.Single(g => g.KindCase == Gate.KindOneofCase.Approval).Approval.Required);
        Assert.Equal(1, Policies.GatesFor(Policies.Default("m", RiskTier.Low), new Target { Stage = Stage.Production })[2].Approval.Required);
        Assert.Equal(production, Policies.GatesFor(policy, new Target { Alias = "champion" }));

        // An alias of one's own, or a stage no rule names, is never a way around the gates: it gets them all, approvals
        // at the highest count any rule asks.
        foreach (var unnamed in new[] { new Target { Alias = "live" }, new Target { Stage = Stage.Archived } })
        {
            var gates = Policies.GatesFor(policy, unnamed);
            Assert.Equal(["provenance", "artifact-integrity", "approvals"], gates.Select(g => g.Name));
            Assert.Equal(2, gates.Single(g => g.KindCase == Gate.KindOneofCase.Approval).Approval.Required);
        }

        Assert.Equal(1, Policies.MaxProduction(policy));
    }

    [Fact]
    public void APolicyWithoutApprovalsStillNeedsAReviewerForAnUnnamedTarget()
    {
        var policy = new Policy
        {
            Rules = { new PromotionRule { Stages = { Stage.Staging }, Gates = { new Gate { Name = "provenance", Provenance = new ProvenanceGate() } } } },
        };
        var gates = Policies.GatesFor(policy, new Target { Alias = "live" });
        Assert.Equal(["provenance", "approvals"], gates.Select(g => g.Name));
    }

    [Fact]
    public void ARemoteGateNamesOnlyAServiceTheRegistryAsks()
    {
        var policy = Policies.Default("m", RiskTier.Low);
        policy.Rules[0].Gates.Add(new Gate { Name = "attacker", Remote = new RemoteGate { Service = "http://10.0.0.9:8080", Gate = "any" } });
        policy.Rules[0].Gates.Add(new Gate { Name = "fair", Remote = new RemoteGate { Service = "fairness", Gate = "fairness.parity" } });
        var violations = new FieldViolations();
        Policies.Validate(violations, policy, ["drift", "fairness"]);
        Assert.Equal("policy.rules[0].gates[3].remote.service", Assert.Single(violations.Items).Field);
    }

    [Fact]
    public void ThePolicyInEffectByDefaultIsItselfValid()
    {
        foreach (var tier in new[] { RiskTier.Low, RiskTier.Medium, RiskTier.High })
        {
            var violations = new FieldViolations();
            Policies.Validate(violations, Policies.Default("m", tier), ["drift"]);
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

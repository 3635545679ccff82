using ModelOps.Testing;

[assembly: AssemblyFixture(typeof(InfrastructureFixture))]

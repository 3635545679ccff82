using System.Security.Claims;
using Grpc.Core;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Unit.Tests.Foundation;

public sealed class CallerTests
{
    [Fact]
    public void CallerCarriesSubjectNameAndRoles()
    {
        var identity = new ClaimsIdentity(
            [new Claim("sub", "u-42"), new Claim("name", "Alice"), new Claim("roles", "reviewer"), new Claim("roles", "auditor")],
            authenticationType: "Bearer", nameType: "name", roleType: "roles");

        var caller = Caller.FromPrincipal(new ClaimsPrincipal(identity));

        Assert.Equal("u-42", caller.Actor);
        Assert.Equal("Alice", caller.Name);
        Assert.True(caller.IsInRole(Roles.Reviewer));
        Assert.True(caller.IsInRole(Roles.Auditor));
        Assert.False(caller.IsInRole(Roles.Admin));
    }

    [Fact]
    public void AnonymousCallerIsUnauthenticated()
    {
        var exception = Assert.Throws<ModelOps.ServiceDefaults.Errors.ServiceException>(() => Caller.FromPrincipal(new ClaimsPrincipal(new ClaimsIdentity())));

        Assert.Equal(ModelOps.ServiceDefaults.Errors.ErrorKind.Unauthenticated, exception.Kind);
    }
}

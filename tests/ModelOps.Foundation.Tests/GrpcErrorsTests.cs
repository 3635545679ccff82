using Google.Rpc;
using Grpc.Core;
using ModelOps.ServiceDefaults.Grpc;

namespace ModelOps.Foundation.Tests;

public sealed class GrpcErrorsTests
{
    [Fact]
    public void FieldViolationsTravelAsBadRequestDetails()
    {
        var violations = new FieldViolations()
            .Require(false, "metrics[3].key", "must not be empty")
            .Require(true, "run_id", "never recorded")
            .Add("params[0].value", "longer than 6000 characters");

        var exception = Assert.Throws<RpcException>(() => violations.ThrowIfAny());

        Assert.Equal(StatusCode.InvalidArgument, exception.StatusCode);
        var details = exception.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(details);
        Assert.Equal(["metrics[3].key", "params[0].value"], details.FieldViolations.Select(v => v.Field));
        Assert.Equal("must not be empty", details.FieldViolations[0].Description);
    }

    [Fact]
    public void NoViolationsThrowNothing() => new FieldViolations().Require(true, "x", "y").ThrowIfAny();
}

using System.Net.Sockets;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using ModelOps.ServiceDefaults;
using ModelOps.ServiceDefaults.Errors;
using Npgsql;

namespace ModelOps.Unit.Tests.Foundation;

public sealed class ErrorModelTests
{
    private static readonly ErrorInterceptor Interceptor = new(ServiceInfoFor("tracking"), NullLogger<ErrorInterceptor>.Instance);

    [Fact]
    public void FieldViolationsTravelAsBadRequestWithAReason()
    {
        var refusal = Assert.Throws<ServiceException>(() => new FieldViolations()
            .Require(false, "metrics[3].key", "must not be empty")
            .Require(true, "run_id", "never recorded")
            .Add("params[0].value", "longer than 6000 characters")
            .ThrowIfAny());

        var status = Translate(refusal);
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        var details = status.GetRpcStatus()!;
        Assert.Equal(["metrics[3].key", "params[0].value"], details.GetDetail<BadRequest>()!.FieldViolations.Select(v => v.Field));
        Assert.Equal(("INVALID_REQUEST", "tracking.modelops"), (details.GetDetail<ErrorInfo>()!.Reason, details.GetDetail<ErrorInfo>()!.Domain));
    }

    [Fact]
    public void NoViolationsThrowNothing() => new FieldViolations().Require(true, "x", "y").ThrowIfAny();

    [Fact]
    public void AnErrorStaysSmallWhateverTheRequestHeld()
    {
        var violations = new FieldViolations();
        var key = new string('k', 100_000);
        for (var i = 0; i < 10_000; i++)
        {
            violations.Add($"tags[{key}]", $"{key} is wrong");
        }

        var status = Translate(violations.ToException()).GetRpcStatus()!;
        Assert.True(status.CalculateSize() < 64 * 1024, $"{status.CalculateSize()} bytes");
        Assert.True(status.Message.Length <= ErrorInterceptor.MaxMessageLength);
        var bad = status.GetDetail<BadRequest>()!;
        Assert.Equal(FieldViolations.MaxViolations + 1, bad.FieldViolations.Count);
        Assert.Equal($"and {10_000 - FieldViolations.MaxViolations} more violations", bad.FieldViolations[^1].Description);
    }

    [Fact]
    public void NotFoundNamesTheResourceAndItsReason()
    {
        var status = Translate(ServiceErrors.NotFound("run", "0123"));
        Assert.Equal(StatusCode.NotFound, status.StatusCode);
        Assert.Equal("RUN_NOT_FOUND", status.GetRpcStatus()!.GetDetail<ErrorInfo>()!.Reason);
        Assert.Equal(("run", "0123"), (status.GetRpcStatus()!.GetDetail<ResourceInfo>()!.ResourceType, status.GetRpcStatus()!.GetDetail<ResourceInfo>()!.ResourceName));
    }

    [Fact]
    public void AFailedPreconditionSaysWhatDoesNotHold()
    {
        var status = Translate(ServiceErrors.FailedPrecondition("RUN_ENDED", "Run x has ended.", "RUN_STATE", "x"));
        Assert.Equal(StatusCode.FailedPrecondition, status.StatusCode);
        var violation = Assert.Single(status.GetRpcStatus()!.GetDetail<PreconditionFailure>()!.Violations);
        Assert.Equal(("RUN_STATE", "x"), (violation.Type, violation.Subject));
    }

    [Fact]
    public void ADefectIsInternalWithACorrelationIdAndNoExceptionText()
    {
        var status = Translate(new InvalidOperationException("Cannot read incomplete UTF-16 JSON text at secret/path.cs:42"));
        Assert.Equal(StatusCode.Internal, status.StatusCode);
        Assert.DoesNotContain("UTF-16", status.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", status.Status.Detail, StringComparison.Ordinal);
        var info = status.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.Equal("INTERNAL", info.Reason);
        Assert.Contains(info.Metadata["correlation_id"], status.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("57P01")] // admin shutdown
    [InlineData("57P03")] // cannot connect now
    [InlineData("08006")] // connection failure
    [InlineData("53300")] // too many connections
    [InlineData("40001")] // serialization failure
    public void ATransientDatabaseFaultIsUnavailableWithRetryInfo(string sqlState)
    {
        var status = Translate(new PostgresException("boom", "FATAL", "FATAL", sqlState));
        Assert.Equal(StatusCode.Unavailable, status.StatusCode);
        Assert.Equal("DATABASE_UNAVAILABLE", status.GetRpcStatus()!.GetDetail<ErrorInfo>()!.Reason);
        Assert.NotNull(status.GetRpcStatus()!.GetDetail<RetryInfo>());
        Assert.DoesNotContain(sqlState, status.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ADatabaseThatAcceptsNoConnectionsIsTransient() =>
        Assert.True(TransientFaults.IsTransient(new PostgresException("database \"ledgerdb\" is not currently accepting connections", "FATAL", "FATAL", "55000")));

    [Fact]
    public void AConstraintViolationIsNotTransient()
    {
        Assert.False(TransientFaults.IsTransient(new PostgresException("duplicate", "ERROR", "ERROR", "23505")));
        Assert.Equal(StatusCode.Internal, Translate(new PostgresException("index row size 6032 exceeds maximum 2704", "ERROR", "ERROR", "54000")).StatusCode);
    }

    [Fact]
    public void ALostSocketIsTransient() =>
        Assert.Equal(StatusCode.Unavailable, Translate(new NpgsqlException("Exception while reading from stream", new SocketException(104))).StatusCode);

    private static RpcException Translate(Exception exception) => Interceptor.Translate(exception, new TestCallContext());

    private static ServiceInfo ServiceInfoFor(string name)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder(new Microsoft.AspNetCore.Builder.WebApplicationOptions
        {
            ApplicationName = $"ModelOps.{char.ToUpperInvariant(name[0])}{name[1..]}",
        });
        return ServiceInfo.From(builder);
    }

    private sealed class TestCallContext : ServerCallContext
    {
        protected override string MethodCore => "/modelops.test.v1.Test/Call";
        protected override string HostCore => "localhost";
        protected override string PeerCore => "ipv4:127.0.0.1:1";
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Metadata RequestHeadersCore => [];
        protected override CancellationToken CancellationTokenCore => CancellationToken.None;
        protected override Metadata ResponseTrailersCore => [];
        protected override Grpc.Core.Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore => new(null, []);
        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();
        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}

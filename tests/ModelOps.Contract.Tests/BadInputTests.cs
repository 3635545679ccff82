using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using Grpc.Core;

namespace ModelOps.Contract.Tests;

/// <summary>
/// Every RPC of every service, given hostile input generated from its request's descriptor (see <see cref="BadValues"/>),
/// as a hostile client would send it: with no token, with each role, and as an admin with one bad field at a time —
/// on an empty request and on one that names real objects. Every answer is a status the RPC documents (never UNKNOWN or
/// INTERNAL), short, naming the field when the request is at fault; and a refused request writes nothing. A new RPC or
/// field is covered without new test code.
/// </summary>
public sealed class BadInputTests(ContractStack world) : IClassFixture<ContractStack>
{
    /// <summary>Longest status message a client may be given.</summary>
    private const int MaxMessageLength = 1024;

    /// <summary>Largest status (message and details) a client may be given.</summary>
    private const int MaxStatusBytes = 32 * 1024;

    private static readonly string[] Roles = ["pipeline", "reviewer", "auditor", "service"];

    /// <summary>Every RPC served, as <c>package.Service/Method</c>.</summary>
    public static TheoryData<string> Rpcs()
    {
        var rpcs = new TheoryData<string>();
        foreach (var (_, service) in ContractStack.Served)
        {
            foreach (var method in service.Methods)
            {
                rpcs.Add($"{service.FullName}/{method.Name}");
            }
        }

        return rpcs;
    }

    [Theory(Timeout = 600_000)]
    [MemberData(nameof(Rpcs))]
    public async Task EveryHostileRequestGetsADocumentedShortAnswerAndWritesNothing(string rpc)
    {
        var (service, method) = Find(rpc);
        var allowed = ProtoContract.StatusesOf(rpc);
        var failures = new List<string>();

        // An empty request with one hostile field: when refused, nothing is written. The called service's own tables are
        // what is compared: everything it causes elsewhere leaves through its outbox, and the ledger writes checkpoints of
        // its own accord.
        await world.QuiesceAsync();
        foreach (var mutation in BadValues.Of(method.InputType))
        {
            var request = (IMessage)Activator.CreateInstance(method.InputType.ClrType)!;
            mutation.Apply(request);
            var before = await world.Stack.TotalRowsAsync();
            if (await CheckAsync(service, method, request, world.Admin, allowed, $"empty request, {mutation}", failures))
            {
                // Accepted: the value is one the field takes. Let what it wrote settle before the next is measured.
                await world.QuiesceAsync();
                continue;
            }

            var after = await world.Stack.TotalRowsAsync();
            failures.AddRange(after.Where(c => c.Key == service && before.GetValueOrDefault(c.Key) != c.Value)
                .Select(c => $"empty request, {mutation}: refused, yet {c.Key}'s rows went from {before.GetValueOrDefault(c.Key)} to {c.Value}"));
        }

        // A request naming real objects, with one hostile field: the field's own checks are what stop it.
        foreach (var mutation in BadValues.Of(method.InputType))
        {
            var request = world.Plausible(service, method.InputType);
            mutation.Apply(request);
            await CheckAsync(service, method, request, world.Admin, allowed, $"plausible request, {mutation}", failures);
        }

        // No token, and each role: refused or answered, never with an undocumented status.
        try
        {
            await CallAsync(service, method, world.Plausible(service, method.InputType), null);
            failures.Add("no token: answered");
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.Unauthenticated)
        {
        }
        catch (RpcException exception)
        {
            failures.Add($"no token: {exception.StatusCode} instead of Unauthenticated");
        }

        foreach (var role in Roles)
        {
            await CheckAsync(service, method, world.Plausible(service, method.InputType), world.Stack.As($"contract-{role}", [role]), allowed, $"as {role}", failures);
        }

        Assert.True(failures.Count == 0, $"{rpc}: {failures.Count} answers broke the contract:{Environment.NewLine}{string.Join(Environment.NewLine, failures.Take(40))}");
    }

    // An answer may be OK (the value may be one the field takes); a refusal must be documented, short, and say why.
    // Returns whether the call was accepted.
    private async Task<bool> CheckAsync(
        string service, MethodDescriptor method, IMessage request, Metadata? headers, IReadOnlySet<StatusCode> allowed, string what, List<string> failures)
    {
        try
        {
            await CallAsync(service, method, request, headers);
            return true;
        }
        catch (RpcException exception)
        {
            var status = exception.Status;
            var details = exception.GetRpcStatus();
            var problems = new List<string>();
            if (status.StatusCode is StatusCode.Unknown or StatusCode.Internal)
            {
                problems.Add($"{status.StatusCode}: {Clip(status.Detail)}");
            }
            else if (!allowed.Contains(status.StatusCode))
            {
                problems.Add($"{status.StatusCode}, which the RPC does not document ({Clip(status.Detail)})");
            }

            if (status.Detail.Length > MaxMessageLength)
            {
                problems.Add($"a message of {status.Detail.Length} characters");
            }

            if (details is not null && details.CalculateSize() > MaxStatusBytes)
            {
                problems.Add($"a status of {details.CalculateSize()} bytes");
            }

            // Authentication is refused by the web host before any handler runs; every other refusal has its reason.
            if (status.StatusCode is not (StatusCode.Unauthenticated or StatusCode.PermissionDenied or StatusCode.Cancelled or StatusCode.DeadlineExceeded
                or StatusCode.ResourceExhausted) && details?.GetDetail<ErrorInfo>() is not { Reason.Length: > 0 })
            {
                problems.Add($"{status.StatusCode} without a google.rpc.ErrorInfo reason");
            }

            if (status.StatusCode == StatusCode.InvalidArgument && (details?.GetDetail<BadRequest>()?.FieldViolations ?? []).All(v => v.Field.Length == 0))
            {
                problems.Add("INVALID_ARGUMENT without a field violation naming the field");
            }

            if (problems.Count > 0)
            {
                failures.Add($"{what}: {string.Join("; ", problems)}");
            }

            return false;
        }
    }

    private async Task CallAsync(string service, MethodDescriptor method, IMessage request, Metadata? headers)
    {
        var invoker = world.Stack.Invoker(service, headers);
        var call = new Method<IMessage, IMessage>(
            method.IsClientStreaming ? (method.IsServerStreaming ? MethodType.DuplexStreaming : MethodType.ClientStreaming)
            : method.IsServerStreaming ? MethodType.ServerStreaming : MethodType.Unary,
            method.Service.FullName, method.Name,
            Marshallers.Create<IMessage>(m => m.ToByteArray(), bytes => method.InputType.Parser.ParseFrom(bytes)),
            Marshallers.Create<IMessage>(m => m.ToByteArray(), bytes => method.OutputType.Parser.ParseFrom(bytes)));
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: TestContext.Current.CancellationToken);
        switch (call.Type)
        {
            case MethodType.Unary:
                await invoker.AsyncUnaryCall(call, null, options, request);
                break;
            case MethodType.ClientStreaming:
                using (var streaming = invoker.AsyncClientStreamingCall(call, null, options))
                {
                    try
                    {
                        await streaming.RequestStream.WriteAsync(request);
                        await streaming.RequestStream.CompleteAsync();
                    }
                    catch (RpcException)
                    {
                        // The server answered while the request was still being written: its status is read below.
                    }

                    await streaming;
                }

                break;
            case MethodType.ServerStreaming:
                using (var streaming = invoker.AsyncServerStreamingCall(call, null, options, request))
                {
                    while (await streaming.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
                    {
                    }
                }

                break;
            default:
                throw new NotSupportedException($"{method.FullName} is a duplex stream, which no ModelOps service serves yet.");
        }
    }

    private static (string Service, MethodDescriptor Method) Find(string rpc)
    {
        var (serviceName, methodName) = (rpc[..rpc.IndexOf('/', StringComparison.Ordinal)], rpc[(rpc.IndexOf('/', StringComparison.Ordinal) + 1)..]);
        var (service, descriptor) = ContractStack.Served.Single(s => s.Descriptor.FullName == serviceName);
        return (service, descriptor.FindMethodByName(methodName));
    }

    private static string Clip(string text) => text.Length <= 160 ? text : new StringBuilder(text, 0, 160, 161).Append('…').ToString();
}

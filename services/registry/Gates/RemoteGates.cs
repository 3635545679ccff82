using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using Microsoft.Extensions.Options;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Registry.Gates;

/// <summary>
/// Calls gates that other services serve (<c>modelops.registry.v1.GateService</c>). Only the services of
/// <see cref="RegistryOptions.RemoteGateServices"/> are asked, at the address service discovery gives them, each with a
/// token whose audience is that service: a policy can never send the registry's credentials elsewhere. Whatever goes
/// wrong — no address, refused connection, timeout, an error status, an answer without a status — the gate is PENDING,
/// never PASS.
/// </summary>
public sealed partial class RemoteGates(
    IConfiguration configuration, IOptions<RegistryOptions> options, ServiceTokens tokens, ILogger<RemoteGates> logger) : IDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);

    /// <summary>Asks the gate's service.</summary>
    public async Task<GateResult> EvaluateAsync(Gate gate, EvaluationContext context, CancellationToken cancellationToken)
    {
        var remote = gate.Remote;
        var result = GateEvaluator.Result(gate, GateStatus.Pending, "");
        result.Evidence["service"] = remote.Service;
        result.Evidence["gate"] = remote.Gate;
        var address = options.Value.RemoteGateServices.Contains(remote.Service, StringComparer.Ordinal)
            ? configuration[$"services:{remote.Service}:grpc:0"]
            : null;
        if (address is null)
        {
            result.Status = GateStatus.Pending;
            result.Reason = $"'{remote.Service}' is not a service the registry asks for gates, or has no address (services:{remote.Service}:grpc:0)";
            return result;
        }

        var version = context.Version;
        var request = new EvaluateGateRequest
        {
            Gate = remote.Gate,
            Model = version.Model,
            Version = version.Version,
            RunId = version.RunId,
            ArtifactSha256 = version.ArtifactSha256,
            Target = context.Target,
            Parameters = { remote.Parameters },
        };
        var headers = new Metadata();
        if (await tokens.GetAsync(remote.Service, cancellationToken) is { Length: > 0 } token)
        {
            headers.Add("Authorization", $"Bearer {token}");
        }

        var timeout = remote.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(remote.TimeoutMs) : DefaultTimeout;
        try
        {
            var client = new GateService.GateServiceClient(_channels.GetOrAdd(address, Open));
            var answer = await client.EvaluateGateAsync(request, headers, DateTime.UtcNow.Add(timeout), cancellationToken);
            result.Evidence.Add(answer.Evidence);
            result.Evidence["service"] = remote.Service;
            result.Evidence["gate"] = remote.Gate;
            if (answer.Status is GateStatus.Pass or GateStatus.Fail or GateStatus.Pending)
            {
                result.Status = answer.Status;
                result.Reason = answer.Reason.Length > 0 ? answer.Reason : $"{remote.Service} answered {answer.Status}";
            }
            else
            {
                result.Status = GateStatus.Pending;
                result.Reason = $"{remote.Service} answered without a status";
            }
        }
        catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
        {
            LogUnreachable(logger, remote.Service, remote.Gate, exception.StatusCode, exception);
            result.Status = GateStatus.Pending;
            result.Evidence["service"] = remote.Service;
            result.Evidence["status"] = exception.StatusCode.ToString();
            // Unreachable or too slow is one outcome, whatever the transport said this time: the sweep records a gate only
            // when its outcome changes, and the client's wording of a refused connection changes with its backoff state.
            result.Reason = exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{remote.Service} could not be reached to evaluate '{remote.Gate}' (unavailable or no answer within {timeout.TotalSeconds:0.###} s); asked again at every sweep")
                : $"{remote.Service} could not evaluate '{remote.Gate}': {exception.StatusCode} {TextRules.Clip(exception.Status.Detail, 300)}".TrimEnd();
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }
    }

    // Services talk h2c inside the cluster (TLS is the mesh's); a token on a plain channel is therefore allowed.
    private static GrpcChannel Open(string address) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions { UnsafeUseInsecureChannelCallCredentials = true });

    [LoggerMessage(Level = LogLevel.Warning, Message = "Remote gate {Service}/{Gate} could not be evaluated ({Status}); it stays PENDING")]
    private static partial void LogUnreachable(ILogger logger, string service, string gate, StatusCode status, Exception exception);
}

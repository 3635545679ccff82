using Grpc.Core;
using ModelOps.Registry.V1;

namespace ModelOps.Registry.Client;

/// <summary>
/// What a training pipeline does with the registry at the end of a run — register the model it produced and ask for
/// its promotion — and what a serving system asks: which version to deploy.
/// </summary>
public sealed class RegistryClient
{
    private readonly Metadata? _headers;

    /// <summary>A client over <paramref name="invoker"/>, sending <paramref name="headers"/> (the bearer token) with every call.</summary>
    public RegistryClient(CallInvoker invoker, Metadata? headers = null)
    {
        Raw = new RegistryService.RegistryServiceClient(invoker);
        _headers = headers;
    }

    /// <summary>A client over <paramref name="channel"/>, sending <paramref name="headers"/> with every call.</summary>
    public RegistryClient(ChannelBase channel, Metadata? headers = null)
        : this(channel.CreateCallInvoker(), headers)
    {
    }

    /// <summary>The generated client, for the calls this class does not wrap.</summary>
    public RegistryService.RegistryServiceClient Raw { get; }

    /// <summary>
    /// Registers the artifact at <paramref name="artifactPath"/> of the finished run <paramref name="runId"/> as the next
    /// version of <paramref name="model"/>, creating the model first (with <paramref name="riskTier"/>) when it does
    /// not exist yet.
    /// </summary>
    public async Task<ModelVersion> RegisterVersionAsync(
        string model, string runId, string artifactPath, RiskTier riskTier = RiskTier.Medium, string description = "",
        CancellationToken cancellationToken = default)
    {
        try
        {
            await Raw.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = model, RiskTier = riskTier }, Options(cancellationToken));
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.AlreadyExists)
        {
            // Registered by an earlier run: its risk tier and owner stay as they were set.
        }

        return await Raw.CreateModelVersionAsync(
            new CreateModelVersionRequest { Model = model, RunId = runId, ArtifactPath = artifactPath, Description = description }, Options(cancellationToken));
    }

    /// <summary>Asks for <paramref name="version"/> to move to <paramref name="stage"/>; the answer carries the first gate results.</summary>
    public Task<PromotionRequest> RequestPromotionAsync(
        string model, int version, Stage stage, string justification, CancellationToken cancellationToken = default) =>
        RequestAsync(model, version, new Target { Stage = stage }, justification, cancellationToken);

    /// <summary>Asks for <paramref name="alias"/> (<c>champion</c>, <c>challenger</c>, ...) to point at <paramref name="version"/>.</summary>
    public Task<PromotionRequest> RequestAliasAsync(
        string model, int version, string alias, string justification, CancellationToken cancellationToken = default) =>
        RequestAsync(model, version, new Target { Alias = alias }, justification, cancellationToken);

    /// <summary>The version <paramref name="stage"/> holds through its gates, with its artifact's URI and SHA-256.</summary>
    public Task<Deployable> GetDeployableAsync(string model, Stage stage, CancellationToken cancellationToken = default) =>
        Raw.GetDeployableAsync(new GetDeployableRequest { Model = model, Target = new Target { Stage = stage } }, Options(cancellationToken)).ResponseAsync;

    private Task<PromotionRequest> RequestAsync(string model, int version, Target target, string justification, CancellationToken cancellationToken) =>
        Raw.RequestPromotionAsync(
            new RequestPromotionRequest { Model = model, Version = version, Target = target, Justification = justification }, Options(cancellationToken)).ResponseAsync;

    private CallOptions Options(CancellationToken cancellationToken) => new(_headers, cancellationToken: cancellationToken);
}

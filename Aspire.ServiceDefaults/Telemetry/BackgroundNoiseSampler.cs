using System.Diagnostics;
using OpenTelemetry.Trace;

namespace ModelOps.ServiceDefaults.Telemetry;

/// <summary>
/// For a span that starts a trace: keeps one that starts with something the service was asked to do (a request, a
/// consumed event, an operation of its own) and drops a client call that starts a trace by itself, such as the
/// once-a-second polling queries of the outbox relay and the report loop. Used as the root sampler of a
/// <see cref="ParentBasedSampler"/>, which also drops what happens under a span that is not recorded (the health checks'
/// calls to the database and object store, under the unrecorded <c>/health</c> request). Without it those are most of the
/// traces in the dashboard, and the one a person looks for is buried under them.
/// </summary>
public sealed class BackgroundNoiseSampler : Sampler
{
    /// <inheritdoc />
    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) =>
        samplingParameters.ParentContext.TraceId == default && samplingParameters.Kind == ActivityKind.Client
            ? new SamplingResult(SamplingDecision.Drop)
            : new SamplingResult(SamplingDecision.RecordAndSample);
}

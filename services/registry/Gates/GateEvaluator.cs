using System.Globalization;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Minio.Exceptions;
using ModelOps.Registry.Domain;
using ModelOps.Registry.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.Tracking.V1;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace ModelOps.Registry.Gates;

/// <summary>
/// Evaluates a policy's gates for one version and target, and the check every evaluation makes of the version's run.
/// Gates run concurrently; a gate that cannot be checked (the object store down, a remote service away) is PENDING with
/// the reason, so nothing passes for lack of an answer.
/// </summary>
public sealed partial class GateEvaluator(
    ArtifactReader artifacts, RemoteGates remote, TrackingService.TrackingServiceClient tracking, TimeProvider clock, ILogger<GateEvaluator> logger)
{
    /// <summary>Largest evidence artifact read to check a JSON field.</summary>
    public const int MaxEvidenceBytes = 1 << 20;

    /// <summary>Largest signature artifact read.</summary>
    public const int MaxSignatureBytes = 4096;

    /// <summary>The name and kind of the result of the check every evaluation makes of the version's run.</summary>
    public const string RunCheck = "run";

    /// <summary>
    /// The results of <paramref name="gates"/>, in their order, followed by the run check: the version's run must still
    /// exist, not be deleted, and hold the record it had when the version was registered.
    /// </summary>
    public async Task<IReadOnlyList<GateResult>> EvaluateAsync(EvaluationContext context, IReadOnlyList<Gate> gates, CancellationToken cancellationToken)
    {
        var results = gates.Select(gate => EvaluateOneAsync(context, gate, cancellationToken)).Append(RunAsync(context.Version, cancellationToken));
        return await Task.WhenAll(results);
    }

    /// <summary>The approval gates' results alone, from <paramref name="context"/>'s approvals.</summary>
    public static GateResult Approvals(Gate gate, EvaluationContext context)
    {
        var reviewers = context.Approvals.Select(a => a.Reviewer).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var required = gate.Approval.Required;
        var result = Result(gate, reviewers.Count >= required ? GateStatus.Pass : GateStatus.Pending,
            reviewers.Count >= required
                ? $"approved by {string.Join(", ", reviewers)}"
                : $"{reviewers.Count} of {required} approvals from reviewers other than the requester and the run's author");
        result.Evidence["reviewers"] = string.Join(",", reviewers);
        result.Evidence["required"] = required.ToString(CultureInfo.InvariantCulture);
        return result;
    }

    private async Task<GateResult> EvaluateOneAsync(EvaluationContext context, Gate gate, CancellationToken cancellationToken)
    {
        try
        {
            return gate.KindCase switch
            {
                Gate.KindOneofCase.Provenance => Provenance(gate, context),
                Gate.KindOneofCase.ArtifactIntegrity => await IntegrityAsync(gate, context, cancellationToken),
                Gate.KindOneofCase.MetricThreshold => Metric(gate, context),
                Gate.KindOneofCase.Evidence => await EvidenceAsync(gate, context, cancellationToken),
                Gate.KindOneofCase.Approval => Approvals(gate, context),
                Gate.KindOneofCase.Remote => await remote.EvaluateAsync(gate, context, cancellationToken),
                _ => Result(gate, GateStatus.Fail, "the gate has no kind"),
            };
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogUncheckable(logger, gate.Name, context.Version.Model, context.Version.Version, exception);
            // The reason reaches clients: it names what was away, never the exception's own text.
            return Result(gate, GateStatus.Pending, TransientFaults.IsTransient(exception, out var source)
                ? $"could not be checked: {(source == FaultSource.ObjectStore ? "the object store" : "a service it needs")} could not be reached; evaluate again"
                : exception is InvalidDataException
                    ? $"could not be checked: {TextRules.Clip(exception.Message, 300)}"
                    : "could not be checked: the check failed unexpectedly (see the registry's log); evaluate again");
        }
    }

    private static GateResult Provenance(Gate gate, EvaluationContext context)
    {
        var required = gate.Provenance.RequiredFields.Count > 0 ? gate.Provenance.RequiredFields : ProvenanceRequirements.Default(context.Tier);
        var missing = required.Except(context.Version.ProvenancePresent, StringComparer.Ordinal).ToList();
        var result = missing.Count == 0
            ? Result(gate, GateStatus.Pass, $"the run records all {required.Count} required provenance fields")
            : Result(gate, GateStatus.Fail, $"the run's provenance lacks: {string.Join(", ", missing)}");
        result.Evidence["required"] = string.Join(",", required);
        result.Evidence["missing"] = string.Join(",", missing);
        return result;
    }

    private async Task<GateResult> IntegrityAsync(Gate gate, EvaluationContext context, CancellationToken cancellationToken)
    {
        var version = context.Version;
        GateResult result;
        try
        {
            // Hashed for this decision, every time: a hash measured earlier says nothing of the bytes now.
            var (sha256, size) = await artifacts.HashAsync(version.ArtifactUri, cancellationToken);
            result = sha256 == version.ArtifactSha256 && size == version.ArtifactSize
                ? Result(gate, GateStatus.Pass, $"the object store's bytes hash to the pinned SHA-256 {version.ArtifactSha256}")
                : Result(gate, GateStatus.Fail,
                    $"the object store's bytes hash to {sha256} ({size} bytes), not the pinned {version.ArtifactSha256} ({version.ArtifactSize} bytes)");
            result.Evidence["actual_sha256"] = sha256;
            result.Evidence["hashed_at"] = clock.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);
        }
        catch (ObjectNotFoundException)
        {
            return Result(gate, GateStatus.Fail, $"the object store no longer holds {version.ArtifactUri}");
        }

        result.Evidence["pinned_sha256"] = version.ArtifactSha256;
        result.Evidence["uri"] = version.ArtifactUri;
        if (result.Status != GateStatus.Pass)
        {
            return result;
        }

        var signaturePath = version.ArtifactPath + ".sig";
        var signature = version.Artifacts.FirstOrDefault(a => a.Path == signaturePath);
        if (signature is null)
        {
            if (gate.ArtifactIntegrity.RequireSignature)
            {
                result.Status = GateStatus.Fail;
                result.Reason = $"the policy requires a signature and the run holds no {signaturePath}";
            }

            return result;
        }

        result.Evidence["signature"] = signaturePath;
        var text = Encoding.ASCII.GetString(await artifacts.ReadSmallAsync(signature, MaxSignatureBytes, cancellationToken)).Trim();
        var bytes = new byte[64];
        if (!Convert.TryFromBase64String(text, bytes, out var length) || length != 64)
        {
            result.Status = GateStatus.Fail;
            result.Reason = $"{signaturePath} is not a base64 Ed25519 signature (64 bytes)";
            return result;
        }

        var message = Encoding.ASCII.GetBytes(version.ArtifactSha256);
        var signer = context.Policy.TrustedSigningKeys.FirstOrDefault(key => Verifies(key, message, bytes));
        if (signer is null)
        {
            result.Status = GateStatus.Fail;
            result.Reason = context.Policy.TrustedSigningKeys.Count == 0
                ? $"{signaturePath} is present but the policy trusts no signing key"
                : $"{signaturePath} is not a signature of the artifact's SHA-256 by any trusted key";
            return result;
        }

        result.Evidence["signed_by"] = signer;
        result.Reason += "; signature verified";
        return result;
    }

    private static bool Verifies(string publicKey, byte[] message, byte[] signature)
    {
        var verifier = new Ed25519Signer();
        verifier.Init(false, new Ed25519PublicKeyParameters(Convert.FromBase64String(publicKey)));
        verifier.BlockUpdate(message, 0, message.Length);
        return verifier.VerifySignature(signature);
    }

    private static GateResult Metric(Gate gate, EvaluationContext context)
    {
        var threshold = gate.MetricThreshold;
        var family = threshold.Metric.EndsWith('*');
        var prefix = threshold.Metric.TrimEnd('*');
        var values = context.Version.Metrics
            .Where(m => family ? m.Key.StartsWith(prefix, StringComparison.Ordinal) : m.Key == threshold.Metric)
            .OrderBy(m => m.Key, StringComparer.Ordinal)
            .ToList();
        var rule = $"{Symbol(threshold.Comparison)} {threshold.Threshold.ToString("R", CultureInfo.InvariantCulture)}";
        if (values.Count == 0)
        {
            return Result(gate, GateStatus.Fail,
                family ? $"the run has no metric matching {threshold.Metric}" : $"the run has no metric {threshold.Metric}");
        }

        var failing = values.Where(m => !Holds(m.Value, threshold.Comparison, threshold.Threshold)).ToList();
        var result = failing.Count == 0
            ? Result(gate, GateStatus.Pass, $"{Describe(values)} {(values.Count == 1 ? "meets" : "all meet")} {rule}")
            : Result(gate, GateStatus.Fail, $"{Describe(failing)} {(failing.Count == 1 ? "does" : "do")} not meet {rule}");
        foreach (var (key, value) in values)
        {
            result.Evidence[key] = value.ToString("R", CultureInfo.InvariantCulture);
        }

        return result;
    }

    private static string Describe(IEnumerable<KeyValuePair<string, double>> metrics) =>
        string.Join(", ", metrics.Select(m => $"{m.Key} = {m.Value.ToString("R", CultureInfo.InvariantCulture)}"));

    private static bool Holds(double value, Comparison comparison, double threshold) => comparison switch
    {
        Comparison.GreaterOrEqual => value >= threshold,
        Comparison.Greater => value > threshold,
        Comparison.LessOrEqual => value <= threshold,
        Comparison.Less => value < threshold,
        _ => false,
    };

    private static string Symbol(Comparison comparison) => comparison switch
    {
        Comparison.GreaterOrEqual => ">=",
        Comparison.Greater => ">",
        Comparison.LessOrEqual => "<=",
        Comparison.Less => "<",
        _ => "?",
    };

    private async Task<GateResult> EvidenceAsync(Gate gate, EvaluationContext context, CancellationToken cancellationToken)
    {
        var evidence = gate.Evidence;
        var artifact = context.Version.Artifacts.FirstOrDefault(a => a.Path == evidence.ArtifactPath);
        if (artifact is null)
        {
            return Result(gate, GateStatus.Fail, $"the run holds no {evidence.ArtifactPath}: no evidence, no deploy");
        }

        GateResult Found(GateStatus status, string reason)
        {
            var result = Result(gate, status, reason);
            result.Evidence["artifact"] = artifact.Path;
            result.Evidence["sha256"] = artifact.Sha256;
            return result;
        }

        if (evidence.JsonField.Length == 0)
        {
            return Found(GateStatus.Pass, $"the run holds {artifact.Path} ({artifact.Size} bytes)");
        }

        var bytes = await artifacts.ReadSmallAsync(artifact, MaxEvidenceBytes, cancellationToken);
        JsonElement element;
        try
        {
            using var document = JsonDocument.Parse(bytes);
            element = document.RootElement.Clone();
        }
        catch (JsonException exception)
        {
            return Found(GateStatus.Fail, $"{artifact.Path} is not JSON: {exception.Message}");
        }

        foreach (var name in evidence.JsonField.Split('.'))
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return Found(GateStatus.Fail, $"{artifact.Path} has no field {evidence.JsonField}");
            }
        }

        var value = element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText();
        if (evidence.Expected.Length == 0)
        {
            return Found(GateStatus.Pass, $"{artifact.Path} records {evidence.JsonField} = {value}");
        }

        var matched = Found(value == evidence.Expected ? GateStatus.Pass : GateStatus.Fail,
            value == evidence.Expected
                ? $"{artifact.Path} records {evidence.JsonField} = {value}"
                : $"{artifact.Path} records {evidence.JsonField} = {value}, not {evidence.Expected}");
        matched.Evidence[evidence.JsonField] = value;
        return matched;
    }

    private async Task<GateResult> RunAsync(VersionSnapshot version, CancellationToken cancellationToken)
    {
        var result = new GateResult { Name = RunCheck, Kind = RunCheck, Status = GateStatus.Pending };
        result.Evidence["run_id"] = version.RunId;
        result.Evidence["record_sha256"] = version.RunRecordSha256;
        Run run;
        try
        {
            run = await tracking.GetRunAsync(new GetRunRequest { RunId = version.RunId }, deadline: clock.GetUtcNow().UtcDateTime.AddSeconds(10),
                cancellationToken: cancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            result.Status = GateStatus.Fail;
            result.Reason = $"tracking no longer holds run {version.RunId}";
            return result;
        }
        catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
        {
            LogTrackingUnavailable(logger, version.RunId, exception.StatusCode);
            result.Reason = $"tracking could not be asked about run {version.RunId} ({exception.StatusCode}); evaluate again";
            return result;
        }

        (result.Status, result.Reason) = run switch
        {
            { LifecycleStage: LifecycleStage.Deleted } => (GateStatus.Fail, $"run {version.RunId} was deleted after the version was registered"),
            _ when run.RecordSha256 != version.RunRecordSha256 => (GateStatus.Fail,
                $"run {version.RunId}'s record hashes to {run.RecordSha256}, not the {version.RunRecordSha256} it had when the version was registered"),
            _ => (GateStatus.Pass, $"run {version.RunId} exists and holds the record the version was registered from"),
        };
        return result;
    }

    private static string Kind(Gate gate) => gate.KindCase switch
    {
        Gate.KindOneofCase.Provenance => "provenance",
        Gate.KindOneofCase.ArtifactIntegrity => "artifact_integrity",
        Gate.KindOneofCase.MetricThreshold => "metric_threshold",
        Gate.KindOneofCase.Evidence => "evidence",
        Gate.KindOneofCase.Approval => "approval",
        Gate.KindOneofCase.Remote => "remote",
        _ => "unknown",
    };

    /// <summary>A result of <paramref name="gate"/>, its kind named after the gate's.</summary>
    internal static GateResult Result(Gate gate, GateStatus status, string reason) =>
        new() { Name = gate.Name, Kind = Kind(gate), Status = status, Reason = reason };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tracking could not be asked about run {RunId} ({Status}); the run check stays PENDING")]
    private static partial void LogTrackingUnavailable(ILogger logger, string runId, StatusCode status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gate {Gate} of {Model} version {Version} could not be checked; it stays PENDING")]
    private static partial void LogUncheckable(ILogger logger, string gate, string model, int version, Exception exception);
}

using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ModelOps.Testing;
using Npgsql;
using AlertingV1 = ModelOps.Alerting.V1;
using DriftV1 = ModelOps.Drift.V1;
using ExplainabilityV1 = ModelOps.Explainability.V1;
using FairnessV1 = ModelOps.Fairness.V1;
using LedgerV1 = ModelOps.Ledger.V1;
using RegistryV1 = ModelOps.Registry.V1;
using TrackingV1 = ModelOps.Tracking.V1;

namespace ModelOps.Contract.Tests;

/// <summary>
/// Tracking, the registry, drift, fairness, explainability, alerting and the ledger as processes, and a small world for requests to point
/// at: an experiment, a finished run with artifacts, a running run, a registered model with a version and an open
/// promotion request, a drift reference, a fairness report, a silence and a ledger entry. A "plausible" request names
/// these, so that a hostile value in one of its fields reaches as deep into the service as that field's checks let it.
/// </summary>
public sealed class ContractStack(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    /// <summary>The services and the gRPC services each serves.</summary>
    public static readonly IReadOnlyList<(string Service, ServiceDescriptor Descriptor)> Served =
    [
        ("tracking", TrackingV1.TrackingReflection.Descriptor.Services[0]),
        ("registry", RegistryV1.RegistryReflection.Descriptor.FindTypeByName<ServiceDescriptor>("RegistryService")),
        ("drift", DriftV1.DriftReflection.Descriptor.Services[0]),
        ("drift", RegistryV1.RegistryReflection.Descriptor.FindTypeByName<ServiceDescriptor>("GateService")),
        ("ledger", LedgerV1.LedgerReflection.Descriptor.Services[0]),
        ("alerting", AlertingV1.AlertingReflection.Descriptor.Services[0]),
        ("fairness", FairnessV1.FairnessReflection.Descriptor.Services[0]),
        ("explainability", ExplainabilityV1.ExplainabilityReflection.Descriptor.Services[0]),
    ];

    private readonly Dictionary<string, object> _plausible = new(StringComparer.Ordinal);

    /// <summary>The running services.</summary>
    public TestStack Stack { get; private set; } = null!;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        Stack = await TestStack.CreateAsync(infrastructure, "contract");
        await Stack.StartAsync("ledger", new ServiceProjects.ModelOps_Ledger(), settings: new Dictionary<string, string>
        {
            ["Ledger:SigningKeyPath"] = Path.Combine(infrastructure.Context.DirectoryFor(Stack.Shared.Name), "signing.key"),
        });
        await Stack.StartAsync("tracking", new ServiceProjects.ModelOps_Tracking());
        await Stack.StartAsync("drift", new ServiceProjects.ModelOps_Drift(), ["tracking"]);
        await Stack.StartAsync("registry", new ServiceProjects.ModelOps_Registry(), ["tracking", "ledger", "drift"],
            new Dictionary<string, string> { ["ConnectionStrings:artifacts"] = Stack.Shared.ObjectStoreConnectionString });
        await Stack.StartAsync("alerting", new ServiceProjects.ModelOps_Alerting());
        await Stack.StartAsync("fairness", new ServiceProjects.ModelOps_Fairness(), ["tracking"]);
        await Stack.StartAsync("explainability", new ServiceProjects.ModelOps_Explainability(), ["tracking", "registry"]);
        await SeedAsync();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Stack.DisposeAsync();

    /// <summary>The admin's headers: the role that may call most RPCs, so that a refusal is about the request.</summary>
    public Metadata Admin => Stack.As("contract-admin", ["admin"], ["contract-team"]);

    /// <summary>A request of <paramref name="type"/> that names the world's objects where its fields ask for them.</summary>
    public IMessage Plausible(string service, MessageDescriptor type)
    {
        var message = (IMessage)Activator.CreateInstance(type.ClrType)!;
        foreach (var field in type.Fields.InDeclarationOrder())
        {
            if (field.IsMap || field.RealContainingOneof is not null && field.RealContainingOneof.Accessor.GetCaseFieldDescriptor(message) is not null)
            {
                continue;
            }

            var value = _plausible.GetValueOrDefault($"{service}:{field.Name}") ?? _plausible.GetValueOrDefault(field.Name);
            if (value is null)
            {
                continue;
            }

            if (field.IsRepeated && field.FieldType == FieldType.String && value is string one)
            {
                ((System.Collections.IList)field.Accessor.GetValue(message)).Add(one);
            }
            else if (!field.IsRepeated && Fits(field, value))
            {
                field.Accessor.SetValue(message, value);
            }
        }

        return message;
    }

    /// <summary>Waits until every event written so far is in the ledger, so that counts taken now stay still.</summary>
    public async Task QuiesceAsync()
    {
        long last = -1;
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var pending = 0L;
            foreach (var service in Stack.Services)
            {
                await using var connection = new NpgsqlConnection(Stack.DatabaseOf(service));
                await connection.OpenAsync(TestContext.Current.CancellationToken);
                await using var command = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE published_at IS NULL", connection);
                pending += (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
            }

            var size = (await Stack.RowCountsAsync("ledger"))["ledger.ledger_entries"];
            if (pending == 0 && size == last)
            {
                return;
            }

            last = size;
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    private static bool Fits(FieldDescriptor field, object value) => field.FieldType switch
    {
        FieldType.String => value is string,
        FieldType.Int32 => value is int,
        FieldType.Int64 => value is long,
        _ => false,
    };

    // A configuration as an operator would apply it.
    private const string AlertingYaml = """
        route:
          receiver: nobody
          group_by: [alertname, model]
        receivers:
          - name: nobody
        """;

    private async Task SeedAsync()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var pipeline = Stack.As("contract-pipeline", ["pipeline"], ["contract-team"]);
        var tracking = new TrackingV1.TrackingService.TrackingServiceClient(Stack.Invoker("tracking", pipeline));
        var experiment = await tracking.CreateExperimentAsync(new TrackingV1.CreateExperimentRequest { Name = "contract" }, cancellationToken: cancellation);
        var finished = await tracking.StartRunAsync(new TrackingV1.StartRunRequest { ExperimentId = experiment.ExperimentId }, cancellationToken: cancellation);
        var bytes = "contract model"u8.ToArray();
        using (var upload = tracking.UploadArtifact(cancellationToken: cancellation))
        {
            await upload.RequestStream.WriteAsync(new TrackingV1.UploadArtifactRequest { Header = new TrackingV1.ArtifactHeader { RunId = finished.RunId, Path = "model.bin" } }, cancellation);
            await upload.RequestStream.WriteAsync(new TrackingV1.UploadArtifactRequest { Chunk = ByteString.CopyFrom(bytes) }, cancellation);
            await upload.RequestStream.CompleteAsync();
            await upload;
        }

        using (var upload = tracking.UploadArtifact(cancellationToken: cancellation))
        {
            await upload.RequestStream.WriteAsync(new TrackingV1.UploadArtifactRequest { Header = new TrackingV1.ArtifactHeader { RunId = finished.RunId, Path = "eval.csv" } }, cancellation);
            await upload.RequestStream.WriteAsync(new TrackingV1.UploadArtifactRequest
            {
                Chunk = ByteString.CopyFromUtf8("sex,label,score\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{(i % 2 == 0 ? "F" : "M")},{i % 3 % 2},0.{i % 10}\n"))),
            }, cancellation);
            await upload.RequestStream.CompleteAsync();
            await upload;
        }

        await tracking.EndRunAsync(new TrackingV1.EndRunRequest { RunId = finished.RunId, Status = TrackingV1.RunStatus.Finished }, cancellationToken: cancellation);
        var running = await tracking.StartRunAsync(new TrackingV1.StartRunRequest { ExperimentId = experiment.ExperimentId }, cancellationToken: cancellation);

        var registry = new RegistryV1.RegistryService.RegistryServiceClient(Stack.Invoker("registry", pipeline));
        await registry.CreateRegisteredModelAsync(new RegistryV1.CreateRegisteredModelRequest { Name = "contract-model", RiskTier = RegistryV1.RiskTier.Low },
            cancellationToken: cancellation);
        await registry.CreateModelVersionAsync(new RegistryV1.CreateModelVersionRequest { Model = "contract-model", RunId = finished.RunId, ArtifactPath = "model.bin" },
            cancellationToken: cancellation);
        var request = await registry.RequestPromotionAsync(new RegistryV1.RequestPromotionRequest
        {
            Model = "contract-model", Version = 1, Target = new RegistryV1.Target { Stage = RegistryV1.Stage.Staging }, Justification = "contract",
        }, cancellationToken: cancellation);

        var drift = new DriftV1.DriftService.DriftServiceClient(Stack.Invoker("drift", pipeline));
        using (var reference = drift.SetReference(cancellationToken: cancellation))
        {
            await reference.RequestStream.WriteAsync(new DriftV1.SetReferenceRequest
            {
                Header = new DriftV1.ReferenceHeader
                {
                    Model = "contract-model", Version = "1", Columns = { new DriftV1.Column { Name = "income", Kind = DriftV1.ColumnKind.Numeric } },
                },
            }, cancellation);
            await reference.RequestStream.WriteAsync(new DriftV1.SetReferenceRequest
            {
                Rows = new DriftV1.RowBatch { Rows = { Enumerable.Range(0, 50).Select(i => new DriftV1.Row { Values = { ["income"] = Value.ForNumber(i) } }) } },
            }, cancellation);
            await reference.RequestStream.CompleteAsync();
            await reference;
        }

        var alerting = new AlertingV1.AlertingService.AlertingServiceClient(Stack.Invoker("alerting", Admin));
        var silence = await alerting.CreateSilenceAsync(new AlertingV1.CreateSilenceRequest
        {
            Matchers = { new AlertingV1.Matcher { Name = "model", Type = AlertingV1.MatcherType.Equal, Value = "contract-model" } },
            EndsAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(1)), Comment = "contract",
        }, cancellationToken: cancellation);

        var fairness = new FairnessV1.FairnessService.FairnessServiceClient(Stack.Invoker("fairness", pipeline));
        var report = await fairness.EvaluateDatasetAsync(new FairnessV1.EvaluateDatasetRequest
        {
            Model = "contract-model", Version = "1",
            Dataset = new FairnessV1.Dataset { RunId = finished.RunId, ArtifactPath = "eval.csv", LabelColumn = "label", ScoreColumn = "score", SensitiveColumns = { "sex" } },
        }, cancellationToken: cancellation);

        foreach (var (name, value) in new (string, object)[]
                 {
                     ("experiment_id", experiment.ExperimentId), ("experiment_ids", experiment.ExperimentId), ("tracking:run_id", running.RunId),
                     ("run_id", finished.RunId), ("rebuild_of", finished.RunId), ("model", "contract-model"), ("registry:name", "contract-model"),
                     ("tracking:name", "contract"), ("registry:version", 1), ("version", "1"), ("registry:request_id", request.RequestId),
                     ("request_id", "req-1"), ("event_id", Guid.NewGuid().ToString()), ("event_type", "external.ContractTest"), ("payload_json", "{}"),
                     ("path", "model.bin"), ("artifact_path", "model.bin"), ("metric_key", "loss"), ("key", "k"), ("value", "v"), ("justification", "because"),
                     ("reason", "because"), ("comment", "because"), ("description", "because"), ("ledger:kind", "model"), ("gate", "drift.baseline"),
                     ("column", "income"), ("new_name", "renamed"), ("prediction_column", ""), ("silence_id", silence.SilenceId),
                     ("fairness:id", report.Id), ("alerting:receiver", "nobody"), ("alerting:filter", "model=\"contract-model\""), ("alerting:yaml", AlertingYaml),
                 })
        {
            _plausible[name] = value;
        }

        await QuiesceAsync();
    }
}

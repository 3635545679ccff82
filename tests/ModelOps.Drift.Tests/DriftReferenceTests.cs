using System.Globalization;
using System.Text;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Minio.DataModel.Args;
using ModelOps.AppHost.Hosting;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Testing;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

namespace ModelOps.Drift.Tests;

/// <summary>A reference read from a CSV artifact of a tracking run: tracking and drift as real processes sharing the artifact bucket.</summary>
public sealed class DriftReferenceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private readonly List<ProjectResource> _services = [];
    private readonly List<GrpcChannel> _channels = [];
    private TestEnvironment _tracking = null!;
    private TrackingClient _trainer = null!;
    private DriftService.DriftServiceClient _drift = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _tracking = await infrastructure.CreateEnvironmentAsync(nameof(DriftReferenceTests) + "_t", Cancellation);
        var driftEnvironment = await infrastructure.CreateEnvironmentAsync(nameof(DriftReferenceTests), Cancellation);
        var tracking = await StartAsync("tracking", new Projects.ModelOps_Tracking(), _tracking.ServiceConfiguration("tracking"));
        var settings = driftEnvironment.ServiceConfiguration("drift");
        settings["ConnectionStrings:artifacts"] = _tracking.ObjectStoreConnectionString;
        settings["services:tracking:grpc:0"] = tracking.GrpcAddress;
        settings["Identity:ServiceToken"] = infrastructure.Tokens.CreateToken("service:drift", ["service"]);
        var drift = await StartAsync("drift", new Projects.ModelOps_Drift(), settings);
        _trainer = new TrackingClient(Invoker(tracking.GrpcAddress, "trainer", "pipeline"));
        _drift = new DriftService.DriftServiceClient(Invoker(drift.GrpcAddress, "trainer", "pipeline"));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        foreach (var service in Enumerable.Reverse(_services))
        {
            await service.StopAsync();
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task ACsvArtifactOfARunBecomesTheReferenceWithItsKindsInferredAndItsBytesChecked()
    {
        var csv = new StringBuilder("income,age,region,owner,note\n");
        for (var i = 0; i < 3000; i++)
        {
            var value = i % 100 == 7 ? "" : i == 2500 ? "n/a" : (30_000 + (i * 13 % 40_000)).ToString(CultureInfo.InvariantCulture);
            var region = i % 3 == 0 ? "\"north, upper\"" : i % 3 == 1 ? "south" : "east";
            csv.Append(CultureInfo.InvariantCulture, $"{value},{20 + (i % 50)},{region},{(i % 4 == 0 ? "true" : "false")},\"said \"\"hi\"\"\"\n");
        }

        var runId = await RunWithAsync(("validation.csv", Encoding.UTF8.GetBytes(csv.ToString())), ("broken.csv", "a,b\n1,2\n3\n"u8.ToArray()));
        var reference = await _drift.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = "scoring", Version = "2", RunId = runId, ArtifactPath = "validation.csv", Window = new WindowPolicy { Records = 1000 },
        }, cancellationToken: Cancellation);
        Assert.Equal(3000, reference.Rows);
        Assert.Equal([("income", ColumnKind.Numeric), ("age", ColumnKind.Numeric), ("region", ColumnKind.Categorical), ("owner", ColumnKind.Boolean), ("note", ColumnKind.Categorical)],
            reference.Columns.Select(c => (c.Name, c.Kind)));
        var income = reference.Summary.Single(c => c.Name == "income");
        Assert.Equal((2969L, 30L, 1L), (income.Count, income.Missing, income.TypeViolations));
        Assert.Equal(3, reference.Summary.Single(c => c.Name == "region").Distinct);
        Assert.Equal((1L, 3000L), (reference.Summary.Single(c => c.Name == "note").Distinct, reference.Summary.Single(c => c.Name == "note").Count));
        Assert.StartsWith($"tracking run {runId}: validation.csv (sha256 ", reference.Source, StringComparison.Ordinal);

        // A kind given wins over the inferred one.
        var given = await _drift.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = "scoring", Version = "3", RunId = runId, ArtifactPath = "validation.csv", Columns = { new Column { Name = "age", Kind = ColumnKind.Categorical } },
        }, cancellationToken: Cancellation);
        Assert.Equal((ColumnKind.Categorical, 50L), (given.Columns.Single(c => c.Name == "age").Kind, given.Summary.Single(c => c.Name == "age").Distinct));

        var broken = await Assert.ThrowsAsync<RpcException>(() => _drift.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = "scoring", Version = "4", RunId = runId, ArtifactPath = "broken.csv",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(("artifact_path", "'broken.csv' is not a usable CSV: line 3 has 1 fields; the header names 2"),
            (Violations(broken).Single().Field, Violations(broken).Single().Description));
        var missing = await Assert.ThrowsAsync<RpcException>(() => _drift.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = "scoring", Version = "4", RunId = runId, ArtifactPath = "nope.csv",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        // Bytes changed behind tracking's back are refused, and nothing is stored.
        var record = await _trainer.Raw.GetArtifactAsync(new GetArtifactRequest { RunId = runId, Path = "validation.csv" }, cancellationToken: Cancellation);
        var store = ObjectStoreConnection.Parse(_tracking.ObjectStoreConnectionString);
        var tampered = Encoding.UTF8.GetBytes(csv.ToString().Replace("south", "SOUTH", StringComparison.Ordinal));
        await store.CreateClient().PutObjectAsync(new PutObjectArgs().WithBucket(store.Bucket).WithObject(record.Uri[$"s3://{store.Bucket}/".Length..])
            .WithStreamData(new MemoryStream(tampered)).WithObjectSize(tampered.Length), Cancellation);
        var mismatch = await Assert.ThrowsAsync<RpcException>(() => _drift.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = "scoring", Version = "5", RunId = runId, ArtifactPath = "validation.csv",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, mismatch.StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            _drift.GetReferenceAsync(new GetReferenceRequest { Model = "scoring", Version = "5" }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);
    }

    private async Task<string> RunWithAsync(params (string Path, byte[] Content)[] files)
    {
        var experiment = await _trainer.Raw.CreateExperimentAsync(new CreateExperimentRequest { Name = $"d-{Guid.NewGuid():N}" }, cancellationToken: Cancellation);
        await using var run = await _trainer.StartRunAsync(experiment.ExperimentId, cancellationToken: Cancellation);
        foreach (var (path, content) in files)
        {
            await _trainer.UploadArtifactAsync(run.RunId, path, new MemoryStream(content), "text/csv", Cancellation);
        }

        run.Complete();
        return run.RunId;
    }

    private async Task<ProjectResource> StartAsync(string name, IProjectMetadata project, Dictionary<string, string?> settings)
    {
        var resource = new ProjectResource(name, project, infrastructure.Context);
        foreach (var (key, value) in settings)
        {
            resource.WithEnvironment(key.Replace(":", "__", StringComparison.Ordinal), value ?? "");
        }

        _services.Add(resource);
        await resource.StartAsync(Cancellation);
        return resource;
    }

    private CallInvoker Invoker(string address, string subject, string role)
    {
        var channel = GrpcChannel.ForAddress(address);
        _channels.Add(channel);
        var token = infrastructure.Tokens.CreateToken(subject, [role]);
        return channel.Intercept(metadata =>
        {
            metadata.Add("Authorization", $"Bearer {token}");
            return metadata;
        });
    }

    private static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException exception) =>
        exception.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations ?? [];
}

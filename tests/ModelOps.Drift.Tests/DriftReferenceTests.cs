using System.Globalization;
using System.Text;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Minio.DataModel.Args;
using ModelOps.Hosting.Local;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.ObjectStore;
using ModelOps.Testing;
using ModelOps.Tracking.Client;
using ModelOps.Tracking.V1;

using static ModelOps.Drift.Tests.DriftTraffic;

namespace ModelOps.Drift.Tests;

/// <summary>A reference read from a CSV artifact of a tracking run: tracking and drift as real processes sharing the artifact bucket.</summary>
public sealed class DriftReferenceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private readonly List<ServiceProcess> _services = [];
    private readonly List<GrpcChannel> _channels = [];
    private LocalTenant _tracking = null!;
    private TrackingClient _trainer = null!;
    private DriftService.DriftServiceClient _drift = null!;
    private string _driftAddress = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _tracking = await infrastructure.CreateEnvironmentAsync(nameof(DriftReferenceTests) + "_t", Cancellation);
        var driftEnvironment = await infrastructure.CreateEnvironmentAsync(nameof(DriftReferenceTests), Cancellation);
        var tracking = await StartAsync("tracking", new ServiceProjects.ModelOps_Tracking(), _tracking.ServiceConfiguration("tracking"));
        var settings = driftEnvironment.ServiceConfiguration("drift");
        settings["ConnectionStrings:artifacts"] = _tracking.ObjectStoreConnectionString;
        settings["services:tracking:grpc:0"] = tracking.GrpcAddress;
        settings["Identity:ServiceToken"] = infrastructure.Tokens.CreateToken("service:drift", ["service"]);
        var drift = await StartAsync("drift", new ServiceProjects.ModelOps_Drift(), settings);
        _trainer = new TrackingClient(Invoker(tracking.GrpcAddress, "trainer", "pipeline"));
        _drift = new DriftService.DriftServiceClient(Invoker(drift.GrpcAddress, "trainer", "pipeline"));
        _driftAddress = drift.GrpcAddress;
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

    [Fact(Timeout = 120_000)]
    public async Task AParquetArtifactProfilesLikeTheSameRowsAsCsvWithKindsFromItsSchema()
    {
        // The same 3000 rows as Parquet (two row groups, nulls, an int, a decimal and a timestamp column) and as CSV.
        const int n = 3000;
        var income = Enumerable.Range(0, n).Select(i => i % 97 == 5 ? (double?)null : 30_000 + (i * 7919 % 45_000) + 0.25).ToArray();
        var age = Enumerable.Range(0, n).Select(i => 18 + (i * 31 % 60)).ToArray();
        var rate = Enumerable.Range(0, n).Select(i => (decimal?)(0.01m * (i % 250))).ToArray();
        var region = Enumerable.Range(0, n).Select(i => i % 50 == 0 ? null : new[] { "north", "south", "east" }[i % 3]).ToArray();
        var owner = Enumerable.Range(0, n).Select(i => i % 4 == 0).ToArray();
        var score = Enumerable.Range(0, n).Select(i => (double?)((i * 13 % 1000) / 1000.0)).ToArray();
        var when = Enumerable.Range(0, n).Select(i => new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(i)).ToArray();
        var schema = new Parquet.Schema.ParquetSchema(
            new Parquet.Schema.DataField<double?>("income"), new Parquet.Schema.DataField<int>("age"), new Parquet.Schema.DataField<decimal?>("rate"),
            new Parquet.Schema.DataField<string>("region"), new Parquet.Schema.DataField<bool>("owner"), new Parquet.Schema.DataField<double?>("score"),
            new Parquet.Schema.DataField<DateTime>("when"));
        var parquet = new MemoryStream();
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(schema, parquet, cancellationToken: Cancellation))
        {
            foreach (var (from, count) in new[] { (0, 1700), (1700, n - 1700) })
            {
                using var group = writer.CreateRowGroup();
                var fields = schema.GetDataFields();
                await group.WriteAsync<double>(fields[0], income.AsMemory(from, count), cancellationToken: Cancellation);
                await group.WriteAsync<int>(fields[1], age.AsMemory(from, count), cancellationToken: Cancellation);
                await group.WriteAsync<decimal>(fields[2], rate.AsMemory(from, count), cancellationToken: Cancellation);
                await group.WriteAsync(fields[3], region[from..(from + count)]);
                await group.WriteAsync<bool>(fields[4], owner.AsMemory(from, count), cancellationToken: Cancellation);
                await group.WriteAsync<double>(fields[5], score.AsMemory(from, count), cancellationToken: Cancellation);
                await group.WriteAsync<DateTime>(fields[6], when.AsMemory(from, count), cancellationToken: Cancellation);
            }
        }

        var csv = new StringBuilder("income,age,rate,region,owner,score\n");
        for (var i = 0; i < n; i++)
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{income[i]?.ToString("R", CultureInfo.InvariantCulture)},{age[i]},{rate[i]?.ToString(CultureInfo.InvariantCulture)},{region[i]},{(owner[i] ? "true" : "false")},{score[i]?.ToString("R", CultureInfo.InvariantCulture)}\n");
        }

        var runId = await RunWithAsync(("validation.parquet", parquet.ToArray()), ("validation.csv", Encoding.UTF8.GetBytes(csv.ToString())),
            ("not-really.parquet", "income,age\n1,2\n"u8.ToArray()));
        SetReferenceFromArtifactRequest Request(string path, string version) => new()
        {
            Model = "scoring", Version = version, RunId = runId, ArtifactPath = path, PredictionColumn = "score", Task = ModelTask.BinaryClassification,
        };
        var fromParquet = await _drift.SetReferenceFromArtifactAsync(Request("validation.parquet", "10"), cancellationToken: Cancellation);
        var fromCsv = await _drift.SetReferenceFromArtifactAsync(Request("validation.csv", "11"), cancellationToken: Cancellation);

        // The timestamp column is left out; the rest profile exactly as the CSV's rows do.
        Assert.Equal([("income", ColumnKind.Numeric), ("age", ColumnKind.Numeric), ("rate", ColumnKind.Numeric), ("region", ColumnKind.Categorical),
            ("owner", ColumnKind.Boolean), ("score", ColumnKind.Numeric)], fromParquet.Columns.Select(c => (c.Name, c.Kind)));
        Assert.Equal(fromCsv.Columns, fromParquet.Columns);
        Assert.Equal(n, fromParquet.Rows);
        Assert.Equal(("score", ModelTask.BinaryClassification), (fromParquet.PredictionColumn, fromParquet.Task));
        foreach (var (p, c) in fromParquet.Summary.Zip(fromCsv.Summary))
        {
            Assert.Equal((p.Name, p.Count, p.Missing, p.Distinct, p.Min, p.Max), (c.Name, c.Count, c.Missing, c.Distinct, c.Min, c.Max));
            Assert.Equal(c.Mean, p.Mean, 9);
            Assert.Equal(c.StandardDeviation, p.StandardDeviation, 9);
        }

        Assert.Equal((31L, 60L), (fromParquet.Summary[0].Missing, fromParquet.Summary.Single(s => s.Name == "region").Missing));
        Assert.Equal(income.Where(v => v is not null).Average()!.Value, fromParquet.Summary[0].Mean, 6);

        // A number read as a label when asked; a column the file lacks, a timestamp read as a number, a prediction
        // column it lacks and a file that is not Parquet are refused, and nothing is stored.
        var labels = await _drift.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = "scoring", Version = "12", RunId = runId, ArtifactPath = "validation.parquet", Columns = { new Column { Name = "age", Kind = ColumnKind.Categorical } },
        }, cancellationToken: Cancellation);
        Assert.Equal((ColumnKind.Categorical, 60L, 3000L), (labels.Columns.Single(c => c.Name == "age").Kind, labels.Summary.Single(c => c.Name == "age").Distinct,
            labels.Summary.Single(c => c.Name == "age").Count));
        foreach (var (request, field, description) in new[]
        {
            (new SetReferenceFromArtifactRequest { ArtifactPath = "validation.parquet", Columns = { new Column { Name = "salary", Kind = ColumnKind.Numeric } } },
                "artifact_path", "the file has no column 'salary'"),
            (new SetReferenceFromArtifactRequest { ArtifactPath = "validation.parquet", Columns = { new Column { Name = "when", Kind = ColumnKind.Numeric } } },
                "artifact_path", "column 'when' holds DateTime values, which cannot be read as numeric"),
            (new SetReferenceFromArtifactRequest { ArtifactPath = "validation.parquet", PredictionColumn = "probability", Task = ModelTask.BinaryClassification },
                "prediction_column", "'probability' is not a column of the reference"),
            (new SetReferenceFromArtifactRequest { ArtifactPath = "validation.parquet", PredictionColumn = "region", Task = ModelTask.Regression },
                "prediction_column", "a regression's predictions are numbers; 'region' is categorical"),
            (new SetReferenceFromArtifactRequest { ArtifactPath = "not-really.parquet" }, "artifact_path", "'not-really.parquet' is not a usable Parquet file"),
        })
        {
            request.Model = "scoring";
            request.Version = "13";
            request.RunId = runId;
            var refused = await Assert.ThrowsAsync<RpcException>(() => _drift.SetReferenceFromArtifactAsync(request, cancellationToken: Cancellation).ResponseAsync);
            Assert.Equal(field, Violations(refused).Single().Field);
            Assert.Contains(description, Violations(refused).Single().Description, StringComparison.Ordinal);
        }

        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            _drift.GetReferenceAsync(new GetReferenceRequest { Model = "scoring", Version = "13" }, cancellationToken: Cancellation).ResponseAsync)).StatusCode);

        // The same from the command line: a reference, its summary, a monitoring policy, a watch by hand and the status.
        var pipeline = infrastructure.Tokens.CreateToken("trainer", ["pipeline"]);
        var (exit, text, error) = await CliAsync("drift", "reference", "set", "scoring", "20", "--run", runId, "--artifact", "validation.parquet",
            "--column", "age:categorical", "--window-records", "500", "--prediction-column", "score", "--task", "binary-classification", "--token", pipeline);
        Assert.True(exit == 0, error);
        Assert.StartsWith($"reference of scoring version 20: 3000 rows, 6 columns (tracking run {runId}: validation.parquet (sha256 ", text, StringComparison.Ordinal);
        (exit, text, error) = await CliAsync("drift", "reference", "show", "scoring", "20", "--token", pipeline);
        Assert.True(exit == 0, error);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(["age", "Categorical", "3000", "0", "60"], lines.Single(l => l[0] == "age"));
        Assert.Equal(["score", "(prediction)", "Numeric", "3000", "0"], lines.Single(l => l[0] == "score").Take(5));
        (exit, _, error) = await CliAsync("drift", "reference", "set", "scoring", "21", "--run", runId, "--artifact", "validation.parquet", "--task", "ranking",
            "--token", pipeline);
        Assert.Equal((ModelOps.Cli.ModelOpsCli.UsageOrConnectionError, "error: --task: 'ranking' is neither binary-classification nor regression"), (exit, error.Trim()));

        var policyFile = Path.Combine(Path.GetTempPath(), $"policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(policyFile, """
            {"rules": [{"column": "income", "method": "DRIFT_METHOD_POPULATION_STABILITY_INDEX", "threshold": 0.15}], "importance": {"income": 2, "rate": 1}}
            """, Cancellation);
        (exit, text, error) = await CliAsync("drift", "policy", "set", "scoring", "--file", policyFile, "--reason", "income first", "--token", pipeline);
        File.Delete(policyFile);
        Assert.True(exit == 0, error);
        Assert.Equal("monitoring policy v1 of scoring in effect", text.Trim());
        (exit, text, error) = await CliAsync("drift", "policy", "get", "scoring", "--token", pipeline);
        Assert.True(exit == 0, error);
        Assert.Contains("DRIFT_METHOD_POPULATION_STABILITY_INDEX", text, StringComparison.Ordinal);
        (exit, _, error) = await CliAsync("drift", "watch", "scoring", "20", "--reason", "batch scoring", "--token", pipeline);
        Assert.Equal(ModelOps.Cli.ModelOpsCli.UsageOrConnectionError, exit);
        Assert.Contains("PermissionDenied", error, StringComparison.Ordinal);
        (exit, text, error) = await CliAsync("drift", "watch", "scoring", "20", "--reason", "batch scoring",
            "--token", infrastructure.Tokens.CreateToken("ops", ["admin"]));
        Assert.True(exit == 0, error);
        Assert.StartsWith("scoring version 20 watched since ", text, StringComparison.Ordinal);
        (exit, text, error) = await CliAsync("drift", "status", "--token", pipeline);
        Assert.True(exit == 0, error);
        Assert.Equal(["scoring", "20", "yes", "no", "window", "yet"], text.Split('\n').Single(l => l.StartsWith("scoring", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    private async Task<(int Exit, string Output, string Error)> CliAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await ModelOps.Cli.ModelOpsCli.RunAsync([.. args, "--drift", _driftAddress], output, error, Cancellation);
        return (exit, output.ToString(), error.ToString());
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

    private async Task<ServiceProcess> StartAsync(string name, IServiceProject project, Dictionary<string, string?> settings)
    {
        var resource = await infrastructure.Servers.StartServiceAsync(name, project, settings, Cancellation);
        _services.Add(resource);
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
}

using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Hosting.Local;
using ModelOps.Drift.V1;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Drift.Tests;

/// <summary>What the tests of the drift service as a process share: the loan schema as requests, callers, the outbox.</summary>
internal static class DriftTraffic
{
    /// <summary>A reference header of the loan columns.</summary>
    public static ReferenceHeader Header(string model, WindowPolicy window, string version = "1")
    {
        var header = new ReferenceHeader { Model = model, Version = version, Window = window, Source = "validation split" };
        header.Columns.AddRange(LoanTraffic.Columns.Select(c => new Column
        {
            Name = c.Name,
            Kind = c.Kind switch { "numeric" => ColumnKind.Numeric, "categorical" => ColumnKind.Categorical, _ => ColumnKind.Boolean },
        }));
        return header;
    }

    /// <summary><paramref name="count"/> reference rows of loan traffic.</summary>
    public static IEnumerable<Row> Rows(LoanTraffic traffic, int count, bool shifted = false) =>
        Enumerable.Range(0, count).Select(_ => new Row { Values = { traffic.Features(shifted) } });

    /// <summary>Records column by column, in the reference's column order, stamped "now".</summary>
    public static RecordBatch Batch(string model, List<Dictionary<string, Value>> features)
    {
        var batch = new RecordBatch { Model = model, Version = "1", Timestamps = { features.Select(_ => 0L) } };
        foreach (var (name, kind) in LoanTraffic.Columns)
        {
            var column = new BatchColumn { Name = name };
            switch (kind)
            {
                case "numeric":
                    column.Numbers.Add(features.Select(f => f[name].NumberValue));
                    break;
                case "categorical":
                    column.Labels.Add(features.Select(f => f[name].StringValue));
                    break;
                default:
                    column.Flags.Add(features.Select(f => f[name].BoolValue));
                    break;
            }

            batch.Columns.Add(column);
        }

        return batch;
    }

    /// <summary>The drift service as a process on a slice of its own, reporting closed windows every half second, and a channel to it.</summary>
    public static async Task<(ServiceProcess Service, LocalTenant Environment, GrpcChannel Channel)> StartServiceAsync(
        InfrastructureFixture infrastructure, string name, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = await infrastructure.CreateEnvironmentAsync(name, cancellationToken);
        var settings = environment.ServiceConfiguration("drift");
        settings["Drift:ReportEvery"] = "00:00:00.500";
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        var service = await infrastructure.Servers.StartServiceAsync("drift", new ServiceProjects.ModelOps_Drift(), settings, cancellationToken);
        return (service, environment, GrpcChannel.ForAddress(service.GrpcAddress));
    }

    /// <summary>Calls through <paramref name="channel"/> as <paramref name="subject"/> with <paramref name="role"/>.</summary>
    public static CallInvoker Invoker(GrpcChannel channel, DevelopmentTokenIssuer tokens, string subject, string role)
    {
        var token = tokens.CreateToken(subject, [role]);
        return channel.Intercept(metadata =>
        {
            metadata.Add("Authorization", $"Bearer {token}");
            return metadata;
        });
    }

    /// <summary>The events about <paramref name="model"/> in the service's outbox, oldest first: the type's short name and the payload.</summary>
    public static async Task<List<(string Type, JsonDocument Payload)>> OutboxAsync(string connectionString, string model, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT message_type, payload::text FROM outbox_messages WHERE payload->>'model' = $1 ORDER BY sequence", connection)
        {
            Parameters = { new NpgsqlParameter { Value = model } },
        };
        var events = new List<(string, JsonDocument)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add((reader.GetString(0).Split(',')[0].Split('.')[^1], JsonDocument.Parse(reader.GetString(1))));
        }

        return events;
    }

    /// <summary>A fixed logistic model of default risk from income and debt: the score the tests' serving systems send.</summary>
    public static double Risk(Dictionary<string, Value> features) =>
        1 / (1 + Math.Exp(-((features["debt"].NumberValue - 5_000) / 2_000 - ((features["income"].NumberValue - 40_000) / 15_000))));

    /// <summary>The field violations of an INVALID_ARGUMENT.</summary>
    public static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException exception) =>
        exception.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations ?? [];
}

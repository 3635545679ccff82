using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using ModelOps.Alerting.V1;
using ModelOps.Cli;
using ModelOps.Testing;

namespace ModelOps.Alerting.Tests;

/// <summary>Alerting's gRPC API and the CLI over it: silences, the configuration, alerts and the delivery log.</summary>
public sealed partial class AlertingServiceTests
{
    private AlertingService.AlertingServiceClient Api(string subject, string role) =>
        new(_stack.Invoker("alerting", _stack.As(subject, [role])));

    private async Task<(int Exit, string Output, string Error)> CliAsync(string role, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var token = _stack.Shared.Tokens.CreateToken($"cli-{role}", [role]);
        var exit = await ModelOpsCli.RunAsync([.. args, "--alerting", _stack.GrpcAddress("alerting"), "--token", token], output, error, Cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact(Timeout = 120_000)]
    public async Task ASilenceMadeWithTheCliMutesItsAlertsInTheApiUntilItIsExpired()
    {
        await PostAsync(_prometheus, Firing("grpc", "Saturation", "credit"), Firing("grpc", "Saturation", "churn"));
        var reviewer = Api("rita", "reviewer");

        // A pipeline may not silence; a reviewer may, and is recorded as its author.
        var refused = await CliAsync("pipeline", "silences", "add", "test=\"grpc\"", "model=~\"cred.*\"", "-m", "maintenance window");
        Assert.Equal((ModelOpsCli.UsageOrConnectionError, true), (refused.Exit, refused.Error.Contains("PermissionDenied", StringComparison.Ordinal)));
        var added = await CliAsync("reviewer", "silences", "add", "test=\"grpc\"", "model=~\"cred.*\"", "note!=\"a=~b\"", "-m", "maintenance window", "--json");
        Assert.True(added.Exit == 0, added.Error);
        var silenceId = System.Text.Json.JsonDocument.Parse(added.Output).RootElement[0].GetProperty("silenceId").GetString()!;

        var alerts = await reviewer.ListAlertsAsync(new ListAlertsRequest { Filter = { "test=\"grpc\"" } }, cancellationToken: Cancellation);
        Assert.Equal(["churn", "credit"], alerts.Alerts.Select(a => a.Labels["model"]).Order(StringComparer.Ordinal));
        Assert.Equal([silenceId], alerts.Alerts.Single(a => a.Labels["model"] == "credit").SilencedBy);
        var active = await reviewer.ListAlertsAsync(new ListAlertsRequest { Filter = { "test=\"grpc\"" }, ActiveOnly = true }, cancellationToken: Cancellation);
        Assert.Equal(["churn"], active.Alerts.Select(a => a.Labels["model"]));
        var silence = await reviewer.GetSilenceAsync(new GetSilenceRequest { SilenceId = silenceId }, cancellationToken: Cancellation);
        Assert.Equal(("active", "cli-reviewer", "maintenance window"), (silence.State, silence.CreatedBy, silence.Comment));
        // Each matcher's operator is the first in its text: a value may hold operators of its own.
        Assert.Contains(silence.Matchers, m => (m.Name, m.Type, m.Value) == ("note", MatcherType.NotEqual, "a=~b"));

        var expired = await CliAsync("reviewer", "silences", "expire", silenceId);
        Assert.True(expired.Exit == 0, expired.Error);
        Assert.Contains("expired", expired.Output, StringComparison.Ordinal);
        active = await reviewer.ListAlertsAsync(new ListAlertsRequest { Filter = { "test=\"grpc\"" }, ActiveOnly = true }, cancellationToken: Cancellation);
        Assert.Equal(2, active.Alerts.Count);

        // A silence with no matcher, or already over, is refused and names its field.
        var empty = await Assert.ThrowsAsync<RpcException>(() => reviewer.CreateSilenceAsync(new CreateSilenceRequest
        {
            EndsAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(1)), Comment = "x",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Contains(Violations(empty), v => v.Field == "matchers");
        var over = await Assert.ThrowsAsync<RpcException>(() => reviewer.CreateSilenceAsync(new CreateSilenceRequest
        {
            Matchers = { new Matcher { Name = "model", Type = MatcherType.Equal, Value = "credit" } },
            EndsAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(-1)), Comment = "x",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Contains(Violations(over), v => v.Field == "ends_at");
    }

    [Fact(Timeout = 120_000)]
    public async Task AConfigurationThatDoesNotParseIsRefusedWithEachProblemsLineAndFieldAndAGoodOneIsInForceAtOnce()
    {
        var admin = Api("ada", "admin");
        var before = await admin.GetConfigAsync(new GetConfigRequest(), cancellationToken: Cancellation);
        Assert.Contains(before.Receivers, r => r.Name == "jira" && r.Integrations.SequenceEqual(["jira/0"]));
        Assert.Contains(before.Routes, r => r.Id == "0.0" && r.Matchers.SequenceEqual(["test=\"grouping\""]) && r.Receiver == "grouping");
        Assert.Equal("churn-drift", before.RetrainPolicies.Single().Name);

        var bad = await Assert.ThrowsAsync<RpcException>(() => admin.ApplyConfigAsync(new ApplyConfigRequest
        {
            Yaml = "route:\n  receiver: pager\n  routes:\n    - matchers: ['severity=~\"(high\"']\nreceivers:\n  - name: team\n",
        }, cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        var problems = Violations(bad).Select(v => (v.Field, v.Description)).ToList();
        Assert.Contains(problems, p => p.Field == "yaml" && p.Description.StartsWith("line 2: route.receiver: undefined receiver \"pager\"", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Field == "yaml" && p.Description.StartsWith("line 4: route.routes[0].matchers[0]:", StringComparison.Ordinal));
        Assert.Equal(before.Version, (await admin.GetConfigAsync(new GetConfigRequest(), cancellationToken: Cancellation)).Version);

        // A reviewer may not change it; an admin's valid text is in force at once, and the same text again changes nothing.
        var denied = await Assert.ThrowsAsync<RpcException>(() => Api("rita", "reviewer").ApplyConfigAsync(new ApplyConfigRequest { Yaml = ActiveConfigText() },
            cancellationToken: Cancellation).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var applied = await admin.ApplyConfigAsync(new ApplyConfigRequest { Yaml = ActiveConfigText(), Comment = "route grpc alerts" }, cancellationToken: Cancellation);
        Assert.Equal((true, before.Version + 1, "ada", "route grpc alerts"), (applied.Changed, applied.Config.Version, applied.Config.Author, applied.Config.Comment));
        var again = await admin.ApplyConfigAsync(new ApplyConfigRequest { Yaml = ActiveConfigText() }, cancellationToken: Cancellation);
        Assert.Equal((false, applied.Config.Version), (again.Changed, again.Config.Version));
        Assert.True(await Eventually.HoldsAsync(async () => (await OutboxAsync("AlertingConfigChanged")).Any(e => e.GetProperty("version").GetInt32() == applied.Config.Version),
            TimeSpan.FromSeconds(10)));

        // The service's metrics tell Prometheus each call's gRPC status, so that the objectives in deploy/prometheus count
        // a refusal (INVALID_ARGUMENT, 3) as the caller's error and a fault as the service's. (A call refused by the
        // authorization middleware is an HTTP 403, which the gRPC client reads as PERMISSION_DENIED.)
        using var http = new HttpClient();
        var seen = "";
        bool Counted(string metrics, string code) => metrics.Split('\n').Any(line => line.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal) &&
            line.Contains("http_route=\"/modelops.alerting.v1.AlertingService/ApplyConfig\"", StringComparison.Ordinal) &&
            line.Contains($"rpc_grpc_status_code=\"{code}\"", StringComparison.Ordinal));
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var metrics = await http.GetStringAsync($"{_stack.HttpAddress("alerting")}/metrics", Cancellation);
            seen = string.Join("\n", metrics.Split('\n').Where(l => l.Contains("ApplyConfig", StringComparison.Ordinal) && l.Contains("_count", StringComparison.Ordinal)));
            return Counted(metrics, "3") && Counted(metrics, "0");
        }, TimeSpan.FromSeconds(15)), seen);

        // The CLI shows the version in force and the delivery log.
        var shown = await CliAsync("pipeline", "alerts", "config");
        Assert.True(shown.Exit == 0, shown.Error);
        Assert.StartsWith($"version {applied.Config.Version} ", shown.Output, StringComparison.Ordinal);
        Assert.Contains("grpc-sink", shown.Output, StringComparison.Ordinal);
        var log = await CliAsync("pipeline", "alerts", "deliveries", "--status", "bogus");
        Assert.Equal(ModelOpsCli.UsageOrConnectionError, log.Exit);
        Assert.Contains("status", log.Error, StringComparison.Ordinal);
    }

    // The test configuration with one more receiver.
    private string ActiveConfigText() =>
        File.ReadAllText(_configFile).Replace("  - name: nobody\n", $"  - name: nobody\n  - name: grpc-sink\n    webhook_configs: [{{url: \"{_sink.Address}/grpc\"}}]\n",
            StringComparison.Ordinal);

    private static IReadOnlyList<BadRequest.Types.FieldViolation> Violations(RpcException exception) =>
        exception.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations ?? [];
}

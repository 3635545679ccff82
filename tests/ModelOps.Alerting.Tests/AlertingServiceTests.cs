using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MassTransit;
using ModelOps.Contracts.Drift.V1;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Alerting.Tests;

/// <summary>
/// The alerting service as a real process on PostgreSQL and RabbitMQ, fed through its Alertmanager-compatible API and
/// the bus, notifying local receivers: grouping, resolution, silences, inhibition, retries and dead letters, two
/// replicas, and findings from the bus.
/// </summary>
public sealed partial class AlertingServiceTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private TestStack _stack = null!;
    private ReceiverSink _sink = null!;
    private HttpClient _prometheus = null!;
    private HttpClient _reviewer = null!;
    private string _configFile = null!;
    private string _keyFile = null!;
    private JiraSink _jira = null!;
    private string _jiraTokenFile = null!;
    private SmtpSink _smtp = null!;
    private string _smtpPasswordFile = null!;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    // Each test routes its alerts (label test=...) to receivers of its own.
    private const string Config = """
        global:
          resolve_timeout: 5m
        route:
          receiver: nobody
          group_by: [alertname, model]
          group_wait: 1s
          group_interval: 2s
          repeat_interval: 1h
          routes:
            - matchers: ['test="grouping"']
              receiver: grouping
            - matchers: ['test="silence"']
              receiver: silence
            - matchers: ['test="inhibit"']
              receiver: inhibit
            - matchers: ['test="retry"']
              receiver: retry
              continue: true
            - matchers: ['test="retry"']
              receiver: steady
            - matchers: ['test="broken"']
              receiver: broken
            - matchers: ['test="replicas"']
              receiver: replicas
            - matchers: ['test="prometheus"']
              receiver: prometheus
            - matchers: ['test="jira"']
              receiver: jira
            - matchers: ['test="email"']
              receiver: mail
            - matchers: ['source="drift"']
              receiver: findings
              group_by: [alertname, model, version]
        retrain_policies:
          - name: churn-drift
            matchers: ['alertname="DriftDetected"', 'model="churn"']
            thresholds: {drift_share: 0.15}
            cooldown: 1h
            receiver: ci
        inhibit_rules:
          - source_matchers: ['test="inhibit"', 'severity="critical"']
            target_matchers: ['test="inhibit"', 'severity="warning"']
            equal: [model]
        receivers:
          - name: nobody
          - name: grouping
            webhook_configs: [{url: "SINK/grouping"}]
          - name: silence
            webhook_configs: [{url: "SINK/silence"}]
          - name: inhibit
            webhook_configs: [{url: "SINK/inhibit"}]
          - name: retry
            webhook_configs: [{url: "SINK/retry"}]
          - name: steady
            webhook_configs: [{url: "SINK/steady"}]
          - name: broken
            webhook_configs: [{url: "SINK/broken"}]
          - name: replicas
            webhook_configs: [{url: "SINK/replicas"}]
          - name: prometheus
            webhook_configs: [{url: "SINK/prometheus"}]
          - name: ci
            webhook_configs: [{url: "SINK/ci"}]
          - name: jira
            jira_configs:
              - api_url: "JIRA"
                project: ML
                issue_type: Bug
                priority: High
                labels: [modelops, drift]
                username: bot@example.com
                api_token_file: "JIRATOKEN"
                resolve_transition: Done
                reopen_transition: Reopen
                reopen_duration: 1h
          - name: mail
            email_configs:
              - to: "ML team <ml@example.test>, oncall@example.test"
                from: "ModelOps <alerts@modelops.test>"
                smarthost: "127.0.0.1:SMTPPORT"
                auth_username: alerts
                auth_password_file: "SMTPPASSWORD"
                require_tls: false
                headers: {X-Team: ml}
                send_resolved: true
          - name: findings
            webhook_configs: [{url: "SINK/findings"}]
            slack_configs: [{api_url: "SINK/slack", channel: "#ml", send_resolved: true}]
            pagerduty_configs: [{url: "SINK/pagerduty", routing_key_file: "KEYFILE"}]
            msteams_configs: [{webhook_url: "SINK/teams"}]
        """;

    public async ValueTask InitializeAsync()
    {
        _sink = await ReceiverSink.StartAsync();
        _configFile = Path.Combine(Path.GetTempPath(), $"alerting-{Guid.NewGuid():N}.yml");
        // The routing key lives in a file of its own, as a mounted secret would.
        _keyFile = Path.Combine(Path.GetTempPath(), $"pagerduty-{Guid.NewGuid():N}.key");
        await File.WriteAllTextAsync(_keyFile, "R0UTINGKEY0123456789abcdef012345\n", Cancellation);
        _jira = await JiraSink.StartAsync("bot@example.com", "jira-api-token-42");
        _jiraTokenFile = Path.Combine(Path.GetTempPath(), $"jira-{Guid.NewGuid():N}.token");
        await File.WriteAllTextAsync(_jiraTokenFile, "jira-api-token-42\n", Cancellation);
        _smtp = SmtpSink.Start("alerts", "s3cret-smtp");
        _smtpPasswordFile = Path.Combine(Path.GetTempPath(), $"smtp-{Guid.NewGuid():N}.password");
        await File.WriteAllTextAsync(_smtpPasswordFile, "s3cret-smtp\n", Cancellation);
        await File.WriteAllTextAsync(_configFile,
            Config.Replace("SINK", _sink.Address, StringComparison.Ordinal).Replace("KEYFILE", _keyFile, StringComparison.Ordinal)
                .Replace("SMTPPORT", _smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace("SMTPPASSWORD", _smtpPasswordFile, StringComparison.Ordinal)
                .Replace("JIRATOKEN", _jiraTokenFile, StringComparison.Ordinal).Replace("JIRA", _jira.Address, StringComparison.Ordinal), Cancellation);
        _stack = await TestStack.CreateAsync(infrastructure, nameof(AlertingServiceTests));
        await _stack.StartAsync("alerting", new ServiceProjects.ModelOps_Alerting(), settings: new Dictionary<string, string>
        {
            ["Alerting:ConfigFile"] = _configFile,
            ["Alerting:InitialBackoff"] = "00:00:00.200",
        });
        _prometheus = Client(_stack.HttpAddress("alerting"), "service:prometheus", "service");
        _reviewer = Client(_stack.HttpAddress("alerting"), "rita", "reviewer");
    }

    public async ValueTask DisposeAsync()
    {
        _prometheus.Dispose();
        _reviewer.Dispose();
        await _stack.DisposeAsync();
        await _sink.DisposeAsync();
        await _jira.DisposeAsync();
        await _smtp.DisposeAsync();
        File.Delete(_smtpPasswordFile);
        File.Delete(_configFile);
        File.Delete(_keyFile);
        File.Delete(_jiraTokenFile);
    }

    private HttpClient Client(string address, string subject, params string[] roles)
    {
        var client = new HttpClient { BaseAddress = new Uri(address) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _stack.Shared.Tokens.CreateToken(subject, roles));
        return client;
    }

    private static object Firing(string test, string alertname, string model, params (string, string)[] more) => new
    {
        labels = new Dictionary<string, string> { ["test"] = test, ["alertname"] = alertname, ["model"] = model }
            .Concat(more.Select(m => KeyValuePair.Create(m.Item1, m.Item2))).ToDictionary(),
        annotations = new Dictionary<string, string> { ["summary"] = $"{alertname} on {model}" },
        startsAt = DateTimeOffset.UtcNow.AddSeconds(-1).ToString("O"),
        generatorURL = "http://prometheus/graph",
    };

    private async Task PostAsync(HttpClient client, params object[] alerts)
    {
        using var response = await client.PostAsJsonAsync("/api/v2/alerts", alerts, Cancellation);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<IReadOnlyList<Received>> WaitForAsync(string path, int count, TimeSpan? timeout = null)
    {
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(_sink.At(path).Count >= count), timeout ?? TimeSpan.FromSeconds(20)),
            $"{path} got {_sink.At(path).Count} notification(s), not {count}");
        return _sink.At(path);
    }

    private static List<string> Labels(Received message, string label) =>
        [.. message.Body.GetProperty("alerts").EnumerateArray().Select(a => a.GetProperty("labels").GetProperty(label).GetString()!)];

    [Fact(Timeout = 120_000)]
    public async Task AlertsFromPrometheusAreGroupedIntoOneMessagePerGroupAndTheirResolutionFollows()
    {
        // 40 alerts in two groups (model a, model b), sent in a batch and again one by one, as Prometheus resends them.
        // (All of them first: alerts that arrive after a group's first notification are told at its next group_interval.)
        var alerts = Enumerable.Range(0, 40).Select(i => Firing("grouping", "HighLatency", i % 2 == 0 ? "a" : "b", ("instance", $"i{i:00}"))).ToArray();
        await PostAsync(_prometheus, alerts);
        foreach (var alert in alerts.Take(10))
        {
            await PostAsync(_prometheus, alert);
        }

        var messages = await WaitForAsync("/grouping", 2);
        await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
        Assert.Equal(2, _sink.At("/grouping").Count);
        foreach (var message in messages)
        {
            var body = message.Body;
            var model = body.GetProperty("groupLabels").GetProperty("model").GetString();
            Assert.Equal(("firing", "4", "grouping", 20), (body.GetProperty("status").GetString(), body.GetProperty("version").GetString(),
                body.GetProperty("receiver").GetString(), body.GetProperty("alerts").GetArrayLength()));
            Assert.Equal($"{{}}/{{test=\"grouping\"}}:{{alertname=\"HighLatency\", model=\"{model}\"}}", body.GetProperty("groupKey").GetString());
            Assert.Equal(Labels(message, "instance").Order(StringComparer.Ordinal), Labels(message, "instance"));
        }

        // The API lists them with Prometheus's fingerprints and their receiver.
        var listed = await _prometheus.GetFromJsonAsync<JsonElement>("/api/v2/alerts?filter=test%3D%22grouping%22", Cancellation);
        Assert.Equal(40, listed.GetArrayLength());
        Assert.All(listed.EnumerateArray(), a => Assert.Equal("grouping", a.GetProperty("receivers")[0].GetProperty("name").GetString()));

        // Model a's alerts end: one resolved message for its group at the next group_interval, none for b's.
        var ended = alerts.Where((_, i) => i % 2 == 0).Select(a => JsonSerializer.SerializeToElement(a))
            .Select(a => new { labels = a.GetProperty("labels"), startsAt = a.GetProperty("startsAt").GetString(), endsAt = DateTimeOffset.UtcNow.ToString("O") })
            .ToArray();
        await PostAsync(_prometheus, ended);
        var resolved = (await WaitForAsync("/grouping", 3))[2].Body;
        Assert.Equal(("resolved", "a", 20), (resolved.GetProperty("status").GetString(), resolved.GetProperty("groupLabels").GetProperty("model").GetString(),
            resolved.GetProperty("alerts").GetArrayLength()));
        await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
        Assert.Equal(3, _sink.At("/grouping").Count);

        // Each notification is in the delivery log and, through the outbox, on its way to the ledger.
        var delivered = await OutboxAsync("NotificationDelivered");
        Assert.Equal(3, delivered.Count(e => e.GetProperty("receiver").GetString() == "grouping" && e.GetProperty("outcome").GetString() == "sent"));
    }

    [Fact(Timeout = 120_000)]
    public async Task ASilenceMutesItsAlertsAndOnceExpiredTheyAreNotified()
    {
        var silence = new
        {
            matchers = new[] { new { name = "test", value = "silence", isRegex = false, isEqual = true }, new { name = "model", value = "m.*", isRegex = true, isEqual = true } },
            startsAt = DateTimeOffset.UtcNow.ToString("O"),
            endsAt = DateTimeOffset.UtcNow.AddHours(1).ToString("O"),
            createdBy = "rita",
            comment = "maintenance window",
        };
        using var created = await _reviewer.PostAsJsonAsync("/api/v2/silences", silence, Cancellation);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>(Cancellation)).GetProperty("silenceID").GetString();

        await PostAsync(_prometheus, Firing("silence", "DiskFull", "m1"), Firing("silence", "DiskFull", "other"));
        var messages = await WaitForAsync("/silence", 1);
        await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
        Assert.Equal(["other"], _sink.At("/silence").SelectMany(m => Labels(m, "model")));
        var listed = await _prometheus.GetFromJsonAsync<JsonElement>("/api/v2/alerts?filter=test%3D%22silence%22&filter=model%3D%22m1%22", Cancellation);
        Assert.Equal(("suppressed", id), (listed[0].GetProperty("status").GetProperty("state").GetString(),
            listed[0].GetProperty("status").GetProperty("silencedBy")[0].GetString()));

        // Expired, the silence lets m1's group be notified at its next flush.
        using (var expired = await _reviewer.DeleteAsync($"/api/v2/silence/{id}", Cancellation))
        {
            Assert.Equal(HttpStatusCode.OK, expired.StatusCode);
        }

        Assert.Equal(["m1"], Labels((await WaitForAsync("/silence", 2))[1], "model"));
        var state = await _reviewer.GetFromJsonAsync<JsonElement>($"/api/v2/silence/{id}", Cancellation);
        Assert.Equal("expired", state.GetProperty("status").GetProperty("state").GetString());
        Assert.Equal(["created", "expired"], (await OutboxAsync("SilenceChanged")).Select(e => e.GetProperty("change").GetString()));
    }

    [Fact(Timeout = 120_000)]
    public async Task ACriticalAlertInhibitsTheWarningsOfTheSameModel()
    {
        await PostAsync(_prometheus,
            Firing("inhibit", "Drift", "credit", ("severity", "critical")), Firing("inhibit", "Drift2", "credit", ("severity", "warning")),
            Firing("inhibit", "Drift3", "churn", ("severity", "warning")));
        await WaitForAsync("/inhibit", 2);
        await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
        Assert.Equal(["Drift/credit", "Drift3/churn"],
            _sink.At("/inhibit").SelectMany(m => Labels(m, "alertname").Zip(Labels(m, "model"), (a, b) => $"{a}/{b}")).Order(StringComparer.Ordinal));
    }

    [Fact(Timeout = 120_000)]
    public async Task AReceiverThatThrottlesIsRetriedAfterItsRetryAfterWithoutHoldingUpAnother()
    {
        _sink.Answer("/retry", attempt => attempt <= 2 ? (429, "1", TimeSpan.Zero) : (200, null, TimeSpan.Zero));
        await PostAsync(_prometheus, Firing("retry", "Throttled", "x"));
        var steady = (await WaitForAsync("/steady", 1))[0];
        var retried = (await WaitForAsync("/retry", 1))[0];
        Assert.Equal(3, _sink.Attempts("/retry"));
        // Two Retry-After waits of a second each: the steady receiver was told at once, the throttled one about 2 s later.
        Assert.InRange((retried.At - steady.At).TotalSeconds, 1.8, 10);
        await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
        Assert.Equal((1, 1), (_sink.At("/retry").Count, _sink.At("/steady").Count));
        var log = await DeliveriesAsync("retry");
        Assert.Equal(("sent", 3, 200), (log[0].Status, log[0].Attempts, log[0].LastStatus));
    }

    [Fact(Timeout = 120_000)]
    public async Task AReceiverThatRefusesThePayloadIsDeadLetteredWithItsReason()
    {
        _sink.Answer("/broken", _ => (400, null, TimeSpan.Zero));
        await PostAsync(_prometheus, Firing("broken", "Refused", "x"));
        Assert.True(await Eventually.HoldsAsync(async () => (await DeliveriesAsync("broken")) is [{ Status: "dead" }], TimeSpan.FromSeconds(20)));
        var dead = (await DeliveriesAsync("broken"))[0];
        Assert.Equal((1, 400), (dead.Attempts, dead.LastStatus));
        Assert.Contains("HTTP 400", dead.LastError, StringComparison.Ordinal);
        Assert.DoesNotContain(_sink.Address, dead.LastError, StringComparison.Ordinal);
        var announced = (await OutboxAsync("NotificationDelivered")).Single(e => e.GetProperty("receiver").GetString() == "broken");
        Assert.Equal("dead", announced.GetProperty("outcome").GetString());
    }

    [Fact(Timeout = 180_000)]
    public async Task TwoReplicasSendOneNotificationPerGroup()
    {
        var replica = await _stack.StartReplicaAsync("alerting", new ServiceProjects.ModelOps_Alerting());
        using var second = Client(replica.HttpAddress, "service:prometheus-2", "service");
        // Two Prometheus servers (as in an HA pair) send the same alerts, each to its own replica.
        var alerts = Enumerable.Range(0, 30).Select(i => Firing("replicas", "Saturation", $"m{i % 3}", ("instance", $"i{i}"))).ToArray();
        await Task.WhenAll(PostAsync(_prometheus, alerts), PostAsync(second, alerts));
        await WaitForAsync("/replicas", 3);
        await Task.Delay(TimeSpan.FromSeconds(4), Cancellation);
        var messages = _sink.At("/replicas");
        Assert.Equal(3, messages.Count);
        Assert.Equal(["m0", "m1", "m2"], messages.Select(m => m.Body.GetProperty("groupLabels").GetProperty("model").GetString()).Order(StringComparer.Ordinal));
        Assert.All(messages, m => Assert.Equal(10, m.Body.GetProperty("alerts").GetArrayLength()));
    }

    [Fact(Timeout = 60_000)]
    public async Task BadAlertsAreRefusedWithTheirReasonAndNothingIsStored()
    {
        var before = await _stack.TotalRowsAsync();
        foreach (var (body, expected) in new (string Body, string Expected)[]
        {
            ("""[{"labels": {}}]""", "at least one label pair required"),
            ("""[{"labels": {"alertname": "A"}}, {"labels": {"bad-name": "x"}}]""", "alerts[1]: invalid label name"),
            ("""[{"labels": {"alertname": "A"}, "startsAt": "2026-01-02T00:00:00Z", "endsAt": "2026-01-01T00:00:00Z"}]""", "start time must be before end time"),
            ("""[{"labels": {"alertname": "A"}, "startsAt": "yesterday"}]""", "startsAt is not an RFC 3339 date-time"),
            ("""{"labels": {"alertname": "A"}}""", "not a JSON array"),
        })
        {
            using var response = await _prometheus.PostAsync("/api/v2/alerts", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Cancellation);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(expected, await response.Content.ReadFromJsonAsync<string>(Cancellation), StringComparison.Ordinal);
        }

        using (var anonymous = new HttpClient { BaseAddress = new Uri(_stack.HttpAddress("alerting")) })
        using (var response = await anonymous.PostAsJsonAsync("/api/v2/alerts", new[] { Firing("grouping", "X", "y") }, Cancellation))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var pipeline = Client(_stack.HttpAddress("alerting"), "trainer", "pipeline"))
        using (var response = await pipeline.PostAsJsonAsync("/api/v2/alerts", new[] { Firing("grouping", "X", "y") }, Cancellation))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        foreach (var (silence, expected) in new (object Silence, string Expected)[]
        {
            (new { matchers = Array.Empty<object>(), endsAt = DateTimeOffset.UtcNow.AddHours(1).ToString("O"), createdBy = "rita", comment = "c" }, "at least one matcher"),
            (new { matchers = new[] { new { name = "a", value = "b", isRegex = false } }, endsAt = DateTimeOffset.UtcNow.AddHours(-1).ToString("O"), createdBy = "rita", comment = "c" }, "already expired"),
            (new { matchers = new[] { new { name = "a", value = ".*", isRegex = true } }, endsAt = DateTimeOffset.UtcNow.AddHours(1).ToString("O"), createdBy = "rita", comment = "c" }, "must not match the empty string"),
        })
        {
            using var response = await _reviewer.PostAsJsonAsync("/api/v2/silences", silence, Cancellation);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(expected, await response.Content.ReadFromJsonAsync<string>(Cancellation), StringComparison.Ordinal);
        }

        Assert.Equal(before, await _stack.TotalRowsAsync());
        using var healthy = new HttpClient { BaseAddress = new Uri(_stack.HttpAddress("alerting")) };
        Assert.Equal("OK", await healthy.GetStringAsync("/-/healthy", Cancellation));
    }

    private sealed record DeliveryRow(string Status, int Attempts, int? LastStatus, string LastError);

    private async Task<List<DeliveryRow>> DeliveriesAsync(string receiver)
    {
        await using var connection = new NpgsqlConnection(_stack.DatabaseOf("alerting"));
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand(
            "SELECT status, attempts, last_status, coalesce(last_error, '') FROM deliveries WHERE receiver = $1 ORDER BY id", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = receiver });
        await using var reader = await command.ExecuteReaderAsync(Cancellation);
        List<DeliveryRow> rows = [];
        while (await reader.ReadAsync(Cancellation))
        {
            rows.Add(new DeliveryRow(reader.GetString(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetInt32(2), reader.GetString(3)));
        }

        return rows;
    }

    private async Task<List<JsonElement>> OutboxAsync(string type)
    {
        await using var connection = new NpgsqlConnection(_stack.DatabaseOf("alerting"));
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand(
            "SELECT payload::text FROM outbox_messages WHERE message_type LIKE $1 ORDER BY sequence", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = $"%.{type}, %" });
        await using var reader = await command.ExecuteReaderAsync(Cancellation);
        List<JsonElement> events = [];
        while (await reader.ReadAsync(Cancellation))
        {
            events.Add(JsonDocument.Parse(reader.GetString(0)).RootElement);
        }

        return events;
    }
}

using System.Net;
using System.Text.Json;
using MassTransit;
using ModelOps.Contracts.Drift.V1;
using ModelOps.ServiceDefaults.Messaging;
using ModelOps.Testing;

namespace ModelOps.Alerting.Tests;

/// <summary>Alerts from other sources than posts: findings on the bus, the retraining they start, and a real Prometheus.</summary>
public sealed partial class AlertingServiceTests
{
    // A bus on the stack's virtual host, publishing as the services do.
    private async Task<IBusControl> BusAsync()
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(rabbit =>
        {
            var broker = BrokerAddress.Parse(_stack.Shared.BrokerConnectionString);
            rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
            {
                host.Username(broker.Username);
                host.Password(broker.Password);
            });
        });
        await bus.StartAsync(Cancellation);
        return bus;
    }

    private static DriftDetected Drift(string model, double share) => new()
    {
        Actor = "drift",
        Model = model,
        Version = "3",
        WindowStart = DateTimeOffset.UtcNow.AddMinutes(-5),
        WindowEnd = DateTimeOffset.UtcNow,
        Columns = [new ColumnScore("income", "NormedWasserstein", share, null, 0.1)],
        DriftShare = share,
        Severity = "high",
    };

    [Fact(Timeout = 120_000)]
    public async Task DriftAboveThePolicysShareRequestsOneRetrainingWithinItsCooldownAndItsRunCompletesIt()
    {
        var bus = await BusAsync();
        try
        {
            // Below the policy's drift share: nothing.
            await bus.Publish(Drift("churn", 0.10), Cancellation);
            await bus.Publish(new DriftResolved { Actor = "drift", Model = "churn", Version = "3", WindowStart = DateTimeOffset.UtcNow, WindowEnd = DateTimeOffset.UtcNow }, Cancellation);
            await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
            Assert.Empty(await OutboxAsync("RetrainRequested"));

            // Above it: one request, sent to the pipeline's webhook with the finding as evidence.
            var finding = Drift("churn", 0.40);
            await bus.Publish(finding, Cancellation);
            var request = (await WaitForAsync("/ci", 1))[0].Body;
            var requestId = request.GetProperty("requestId").GetString()!;
            Assert.Equal(("churn-drift", "churn", "3", finding.EventId.ToString()), (request.GetProperty("policy").GetString(), request.GetProperty("model").GetString(),
                request.GetProperty("version").GetString(), request.GetProperty("findingEventId").GetString()));
            Assert.Equal("0.4", request.GetProperty("findingAnnotations").GetProperty("drift_share").GetString());

            // Drifting again while that retraining is in flight and within the cooldown: no second request.
            await bus.Publish(new DriftResolved { Actor = "drift", Model = "churn", Version = "3", WindowStart = DateTimeOffset.UtcNow, WindowEnd = DateTimeOffset.UtcNow }, Cancellation);
            await bus.Publish(Drift("churn", 0.6), Cancellation);
            await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
            Assert.Single(await OutboxAsync("RetrainRequested"));
            Assert.Single(_sink.At("/ci"));

            // The pipeline's run names the request; its end (seen here before its start) completes it.
            var runId = Guid.NewGuid().ToString("N");
            await bus.Publish(new Contracts.Tracking.V1.RunFinished { Actor = "trainer", RunId = runId, ExperimentId = "1", Status = "FINISHED", RecordSha256 = new string('0', 64) }, Cancellation);
            await bus.Publish(new Contracts.Tracking.V1.RunStarted
            {
                Actor = "trainer", RunId = runId, ExperimentId = "1", RunName = "retrain-churn",
                ProvenanceJson = JsonSerializer.Serialize(new { gitSha = "abc", correlationIds = new Dictionary<string, string> { ["retrain_request_id"] = requestId } }),
            }, Cancellation);
            Assert.True(await Eventually.HoldsAsync(async () => (await OutboxAsync("RetrainCompleted")).Count == 1, TimeSpan.FromSeconds(20)));
            var completed = (await OutboxAsync("RetrainCompleted"))[0];
            Assert.Equal((requestId, runId, "completed"), (completed.GetProperty("requestId").GetString(), completed.GetProperty("runId").GetString(),
                completed.GetProperty("outcome").GetString()));
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task ADriftFindingOnTheBusIsNotifiedOnceAndItsResolutionFollows()
    {
        var bus = await BusAsync();
        try
        {
            var detected = new DriftDetected
            {
                Actor = "drift",
                Model = "credit",
                Version = "7",
                WindowStart = DateTimeOffset.UtcNow.AddMinutes(-5),
                WindowEnd = DateTimeOffset.UtcNow,
                Columns = [new ColumnScore("income", "NormedWasserstein", 0.4, null, 0.1)],
                DriftShare = 0.5,
                Severity = "high",
            };
            // Delivered twice (a redelivery), and drifting again in the next window: one alert, one notification.
            await bus.Publish(detected, Cancellation);
            await bus.Publish(detected, Cancellation);
            await bus.Publish(detected with { EventId = Guid.CreateVersion7(), DriftShare = 0.6 }, Cancellation);
            var fired = (await WaitForAsync("/findings", 1))[0].Body;
            await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
            Assert.Single(_sink.At("/findings"));
            var alert = fired.GetProperty("alerts")[0];
            Assert.Equal(("DriftDetected", "credit", "7", "high", "drift"), (alert.GetProperty("labels").GetProperty("alertname").GetString(),
                alert.GetProperty("labels").GetProperty("model").GetString(), alert.GetProperty("labels").GetProperty("version").GetString(),
                alert.GetProperty("labels").GetProperty("severity").GetString(), alert.GetProperty("labels").GetProperty("source").GetString()));
            Assert.StartsWith("1 column(s) of credit version 7 drifted", alert.GetProperty("annotations").GetProperty("summary").GetString(), StringComparison.Ordinal);

            await bus.Publish(new DriftResolved { Actor = "drift", Model = "credit", Version = "7", WindowStart = DateTimeOffset.UtcNow, WindowEnd = DateTimeOffset.UtcNow }, Cancellation);
            var resolved = (await WaitForAsync("/findings", 2))[1].Body;
            Assert.Equal("resolved", resolved.GetProperty("status").GetString());

            // Slack, PagerDuty and Teams were told too, once each, in their vendors' documented formats: a Block Kit
            // message, then its resolution; a trigger, then a resolve of the same incident, with the routing key from its
            // file; an Adaptive Card, then its resolution.
            var slack = await WaitForAsync("/slack", 2);
            var pagerDuty = await WaitForAsync("/pagerduty", 2);
            await Task.Delay(TimeSpan.FromSeconds(3), Cancellation);
            Assert.Equal((2, 2), (_sink.At("/slack").Count, _sink.At("/pagerduty").Count));
            Assert.All(slack, m => Assert.Empty(VendorSchemas.Slack(m.Body)));
            Assert.All(pagerDuty, m => Assert.Empty(VendorSchemas.PagerDuty(m.Body)));
            Assert.StartsWith("[FIRING:1] DriftDetected", slack[0].Body.GetProperty("text").GetString(), StringComparison.Ordinal);
            Assert.StartsWith("[RESOLVED] DriftDetected", slack[1].Body.GetProperty("text").GetString(), StringComparison.Ordinal);
            Assert.Equal(["trigger", "resolve"], pagerDuty.Select(m => m.Body.GetProperty("event_action").GetString()));
            Assert.Equal(pagerDuty[0].Body.GetProperty("dedup_key").GetString(), pagerDuty[1].Body.GetProperty("dedup_key").GetString());
            Assert.All(pagerDuty, m => Assert.Equal("R0UTINGKEY0123456789abcdef012345", m.Body.GetProperty("routing_key").GetString()));
            Assert.Equal("error", pagerDuty[0].Body.GetProperty("payload").GetProperty("severity").GetString());
            var teams = _sink.At("/teams");
            Assert.Equal(2, teams.Count);
            Assert.All(teams, m => Assert.Empty(VendorSchemas.Teams(m.Body, m.Body.GetRawText().Length)));
            Assert.Equal(["[FIRING:1] DriftDetected model=credit version=7", "[RESOLVED] DriftDetected model=credit version=7"],
                teams.Select(m => m.Body.GetProperty("attachments")[0].GetProperty("content").GetProperty("body")[0].GetProperty("text").GetString()));
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task APrometheusRulesAlertReachesAReceiverThroughTheAlertmanagerApi()
    {
        // Debian's Prometheus 2.42, with ModelOps as its Alertmanager and a service token in a credentials file.
        var work = Directory.CreateTempSubdirectory("prometheus-").FullName;
        try
        {
            var token = Path.Combine(work, "token");
            await File.WriteAllTextAsync(token, _stack.Shared.Tokens.CreateToken("service:prometheus", ["service"]), Cancellation);
            await File.WriteAllTextAsync(Path.Combine(work, "rules.yml"), """
                groups:
                  - name: slo
                    interval: 1s
                    rules:
                      - alert: DriftIngestSlow
                        expr: vector(1)
                        labels: {test: prometheus, severity: warning, model: drift-ingest}
                        annotations: {summary: "p99 of drift ingest above 1 s"}
                """, Cancellation);
            var alerting = new Uri(_stack.HttpAddress("alerting"));
            await File.WriteAllTextAsync(Path.Combine(work, "prometheus.yml"), $$"""
                global: {evaluation_interval: 1s, scrape_interval: 1m}
                rule_files: [rules.yml]
                alerting:
                  alertmanagers:
                    - static_configs: [{targets: ["{{alerting.Authority}}"]}]
                      authorization: {credentials_file: {{token}}}
                """, Cancellation);
            var port = FreePort();
            using var prometheus = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/bin/prometheus",
                // Its first evaluation may come before it has found its Alertmanager (the alert is then dropped):
                // a short resend delay sends it again within seconds rather than the default minute.
                [$"--config.file={work}/prometheus.yml", $"--storage.tsdb.path={work}/data", $"--web.listen-address=127.0.0.1:{port}",
                    "--rules.alert.resend-delay=2s"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
            prometheus.ErrorDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
            prometheus.OutputDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
            prometheus.BeginErrorReadLine();
            prometheus.BeginOutputReadLine();
            try
            {
                Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(_sink.At("/prometheus").Count > 0), TimeSpan.FromSeconds(60)),
                    $"Prometheus's alert never arrived; Prometheus said:\n{string.Join('\n', log.TakeLast(30))}");
                var message = _sink.At("/prometheus")[0].Body;
                var alert = message.GetProperty("alerts")[0];
                Assert.Equal(("firing", "DriftIngestSlow", "p99 of drift ingest above 1 s"), (alert.GetProperty("status").GetString(),
                    alert.GetProperty("labels").GetProperty("alertname").GetString(), alert.GetProperty("annotations").GetProperty("summary").GetString()));
                Assert.Contains($":{port}/graph", alert.GetProperty("generatorURL").GetString(), StringComparison.Ordinal);
            }
            finally
            {
                prometheus.Kill(entireProcessTree: true);
                await prometheus.WaitForExitAsync(CancellationToken.None);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Security.Cryptography;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

/// <summary>
/// The real AppHost (Program.cs of Aspire.AppHost) run by Aspire.Hosting.Testing, with the dashboard, on free ports and
/// a state folder of its own, until every resource is healthy. A known browser token lets a test log in to the dashboard.
/// </summary>
public sealed class RunningStack : IAsyncLifetime
{
    /// <summary>Every service the AppHost starts.</summary>
    public static readonly string[] Services = ["tracking", "registry", "drift", "fairness", "explainability", "alerting", "ledger", "mlflow", "console"];

    // The Aspire dashboard's resource name.
    private const string DashboardResource = "aspire-dashboard";

    private DistributedApplication? _app;

    /// <summary>The state folder.</summary>
    public string StateDirectory { get; } = Path.Combine(Path.GetTempPath(), "modelops-stack-tests", Guid.NewGuid().ToString("N")[..12]);

    /// <summary>The token that logs a browser in to the dashboard.</summary>
    public string BrowserToken { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>The running application.</summary>
    public DistributedApplication App => _app ?? throw new InvalidOperationException("The stack has not started.");

    /// <summary>Every service's gRPC address.</summary>
    public Dictionary<string, string> ServiceGrpcAddresses { get; } = [];

    /// <summary>Every service's HTTP address (health, metrics).</summary>
    public Dictionary<string, string> ServiceHttpAddresses { get; } = [];

    /// <summary>The dashboard's address.</summary>
    public string DashboardUrl { get; private set; } = "";

    /// <summary>Slack, PagerDuty, the retraining pipeline's and the fairness reviewers' webhooks, as alerting's configuration names them (/slack, /pagerduty, /ci, /fairness).</summary>
    public ReceiverSink Receivers { get; private set; } = null!;

    /// <summary>The Jira alerting opens issues in.</summary>
    public JiraSink Jira { get; private set; } = null!;

    // Drift findings page the ML team on Slack, PagerDuty and Jira, one message per model version; a drift share of
    // 15 % or more asks the pipeline to retrain. Bias found in production goes to the fairness reviewers' webhook
    // (/fairness). Everything else is recorded and told to nobody.
    private const string AlertingConfig = """
        route:
          receiver: nobody
          group_by: [alertname, model, version]
          group_wait: 1s
          group_interval: 2s
          repeat_interval: 1h
          routes:
            - matchers: ['source="drift"', 'alertname=~"Drift.*"']
              receiver: ml-team
            - matchers: ['source="fairness"']
              receiver: fairness-reviewers
        receivers:
          - name: nobody
          - name: ml-team
            slack_configs: [{api_url: "SINK/slack", channel: "#ml-alerts", send_resolved: true}]
            pagerduty_configs: [{url: "SINK/pagerduty", routing_key: "R0UTINGKEY0123456789abcdef012345"}]
            jira_configs:
              - {api_url: "JIRA", project: ML, issue_type: Bug, username: "bot@example.com", api_token: "jira-token", resolve_transition: Done}
          - name: ci
            webhook_configs: [{url: "SINK/ci"}]
          - name: fairness-reviewers
            webhook_configs: [{url: "SINK/fairness", send_resolved: true}]
        retrain_policies:
          - name: drift-retrain
            matchers: ['alertname="DriftDetected"']
            thresholds: {drift_share: 0.15}
            cooldown: 1h
            receiver: ci
        """;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        Receivers = await ReceiverSink.StartAsync();
        Jira = await JiraSink.StartAsync("bot@example.com", "jira-token");
        Directory.CreateDirectory(StateDirectory);
        var alertingConfig = Path.Combine(StateDirectory, "alerting.yml");
        await File.WriteAllTextAsync(alertingConfig,
            AlertingConfig.Replace("SINK", Receivers.Address, StringComparison.Ordinal).Replace("JIRA", Jira.Address, StringComparison.Ordinal), cancellationToken);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.ModelOps_AppHost>(
            ["--state", StateDirectory, "--dynamic-ports", "--user-file", "none", "--alerting-config", alertingConfig, $"--ASPIRE_DASHBOARD_FRONTEND_BROWSERTOKEN={BrowserToken}"],
            (options, _) =>
            {
                options.DisableDashboard = false;
                options.AllowUnsecuredTransport = true;
            },
            cancellationToken);
        _app = await builder.BuildAsync(cancellationToken);
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        startup.CancelAfter(TimeSpan.FromMinutes(4));
        await _app.StartAsync(startup.Token);
        foreach (var service in Services)
        {
            await WaitHealthyAsync(service, startup.Token, cancellationToken);
            ServiceGrpcAddresses[service] = _app.GetEndpoint(service, "grpc").ToString().TrimEnd('/');
            ServiceHttpAddresses[service] = _app.GetEndpoint(service, "http").ToString().TrimEnd('/');
        }

        await WaitHealthyAsync(DashboardResource, startup.Token, cancellationToken);
        DashboardUrl = _app.GetEndpoint(DashboardResource, "http").ToString().TrimEnd('/');
    }

    // A resource that does not become healthy fails the fixture with what it printed.
    private async Task WaitHealthyAsync(string resource, CancellationToken startup, CancellationToken cancellationToken)
    {
        try
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, startup);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"{exception.Message}{Environment.NewLine}Its console:{Environment.NewLine}{await ConsoleOfAsync(resource)}", exception);
        }
    }

    /// <summary>What <paramref name="resource"/> has printed so far (its last 200 lines).</summary>
    public async Task<string> ConsoleOfAsync(string resource)
    {
        var loggers = (ResourceLoggerService)App.Services.GetService(typeof(ResourceLoggerService))!;
        var lines = new List<string>();
        using var enough = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await foreach (var batch in loggers.WatchAsync(resource).WithCancellation(enough.Token))
            {
                lines.AddRange(batch.Select(line => line.Content));
            }
        }
        catch (OperationCanceledException)
        {
            // The backlog has been read.
        }

        return string.Join(Environment.NewLine, lines.TakeLast(200));
    }

    /// <summary>The ready-made development token of <paramref name="role"/>.</summary>
    public string Token(string role) => File.ReadAllText(Path.Combine(StateDirectory, "tokens", $"{role}.jwt")).Trim();

    /// <summary>The state of <paramref name="resource"/> as Aspire reports it.</summary>
    public string? StateOf(string resource) =>
        App.Services.GetService(typeof(ResourceNotificationService)) is ResourceNotificationService notifications &&
        notifications.TryGetCurrentState(resource, out var state)
            ? state.Snapshot.State?.Text
            : null;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        if (Receivers is not null)
        {
            await Receivers.DisposeAsync();
        }

        if (Jira is not null)
        {
            await Jira.DisposeAsync();
        }

        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

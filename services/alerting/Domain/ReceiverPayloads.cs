namespace ModelOps.Alerting.Domain;

/// <summary>The body each kind of integration is sent for a notification, in its vendor's documented format.</summary>
public static class ReceiverPayloads
{
    /// <summary>The body for <paramref name="settings"/>.</summary>
    public static byte[] Build(IntegrationConfig settings, Notification notification) => settings switch
    {
        WebhookConfig webhook => WebhookPayload.Build(notification, webhook.MaxAlerts),
        SlackConfig slack => SlackPayload.Build(notification, slack),
        PagerDutyConfig pagerDuty => PagerDutyPayload.Build(notification, pagerDuty),
        TeamsConfig => TeamsPayload.Build(notification),
        JiraConfig jira => JiraPayload.Build(notification, jira),
        EmailConfig => EmailPayload.Build(notification),
        _ => throw new NotSupportedException($"No payload for {settings.GetType().Name}."),
    };
}

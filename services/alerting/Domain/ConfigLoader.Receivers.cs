using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace ModelOps.Alerting.Domain;

public sealed partial class ConfigLoader
{
    private ReceiverConfig? ReadReceiver(YamlNode node, string path)
    {
        if (Mapping(node, path) is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, "name", "webhook_configs", "slack_configs", "pagerduty_configs", "msteams_configs", "jira_configs", "email_configs");
        var name = Scalar(f, path, "name");
        if (string.IsNullOrEmpty(name))
        {
            Error(node, $"{path}.name", "missing name in receiver");
            return null;
        }

        return new ReceiverConfig(name)
        {
            Webhooks = Integrations(f, path, "webhook_configs", ReadWebhook),
            Slack = Integrations(f, path, "slack_configs", ReadSlack),
            PagerDuty = Integrations(f, path, "pagerduty_configs", ReadPagerDuty),
            Teams = Integrations(f, path, "msteams_configs", ReadTeams),
            Jira = Integrations(f, path, "jira_configs", ReadJira),
            Email = Integrations(f, path, "email_configs", ReadEmail),
        };
    }

    private List<T> Integrations<T>(Dictionary<string, YamlNode> fields, string path, string field, Func<YamlMappingNode, string, T?> read)
        where T : class
    {
        List<T> list = [];
        if (fields.TryGetValue(field, out var node) && Sequence(node, $"{path}.{field}") is { } items)
        {
            for (var i = 0; i < items.Children.Count; i++)
            {
                var itemPath = $"{path}.{field}[{i}]";
                if (Mapping(items.Children[i], itemPath) is { } map && read(map, itemPath) is { } item)
                {
                    list.Add(item);
                }
            }
        }

        return list;
    }

    private WebhookConfig? ReadWebhook(YamlMappingNode map, string path)
    {
        var f = Fields(map, path, "url", "url_file", "send_resolved", "max_alerts");
        var url = Secret(map, f, path, "url", "url_file", HttpUrl);
        var maxAlerts = Int(f, path, "max_alerts") ?? 0;
        if (maxAlerts < 0)
        {
            Error(f["max_alerts"], $"{path}.max_alerts", "must not be negative");
        }

        return url is null ? null : new WebhookConfig { Url = url, SendResolved = Bool(f, path, "send_resolved") ?? true, MaxAlerts = maxAlerts };
    }

    private SlackConfig? ReadSlack(YamlMappingNode map, string path)
    {
        var f = Fields(map, path, "api_url", "api_url_file", "channel", "username", "icon_emoji", "icon_url", "send_resolved");
        var url = Secret(map, f, path, "api_url", "api_url_file", HttpUrl);
        return url is null ? null : new SlackConfig
        {
            ApiUrl = url,
            Channel = Scalar(f, path, "channel"),
            Username = Scalar(f, path, "username"),
            IconEmoji = Scalar(f, path, "icon_emoji"),
            IconUrl = Scalar(f, path, "icon_url"),
            // Alertmanager's default for Slack.
            SendResolved = Bool(f, path, "send_resolved") ?? false,
        };
    }

    private TeamsConfig? ReadTeams(YamlMappingNode map, string path)
    {
        var f = Fields(map, path, "webhook_url", "webhook_url_file", "send_resolved");
        var url = Secret(map, f, path, "webhook_url", "webhook_url_file", HttpUrl);
        return url is null ? null : new TeamsConfig { WebhookUrl = url, SendResolved = Bool(f, path, "send_resolved") ?? true };
    }

    private PagerDutyConfig? ReadPagerDuty(YamlMappingNode map, string path)
    {
        var f = Fields(map, path, "routing_key", "routing_key_file", "service_key", "url", "severity", "client", "client_url", "send_resolved");
        if (f.TryGetValue("service_key", out var serviceKey))
        {
            Error(serviceKey, $"{path}.service_key", "Events API v1 is not supported: use routing_key (Events API v2)");
        }

        var key = Secret(map, f, path, "routing_key", "routing_key_file", k => k.Length is > 0 and <= 128 ? null : "must be 1 to 128 characters");
        var url = Scalar(f, path, "url") ?? PagerDutyConfig.DefaultUrl;
        if (HttpUrl(url) is { } problem)
        {
            Error(f.TryGetValue("url", out var urlNode) ? urlNode : map, $"{path}.url", problem);
        }

        var severity = Scalar(f, path, "severity");
        if (severity is not null && !PagerDutyConfig.Severities.Contains(severity))
        {
            Error(f["severity"], $"{path}.severity", $"\"{severity}\" is not one of {string.Join(", ", PagerDutyConfig.Severities)}");
        }

        return key is null ? null : new PagerDutyConfig
        {
            RoutingKey = key,
            Url = new Uri(HttpUrl(url) is null ? url : PagerDutyConfig.DefaultUrl),
            Severity = severity,
            Client = Scalar(f, path, "client") ?? "ModelOps",
            ClientUrl = Scalar(f, path, "client_url"),
            SendResolved = Bool(f, path, "send_resolved") ?? true,
        };
    }

    private JiraConfig? ReadJira(YamlMappingNode map, string path)
    {
        var f = Fields(map, path, "api_url", "project", "issue_type", "priority", "labels", "username", "api_token", "api_token_file",
            "resolve_transition", "reopen_transition", "reopen_duration", "wont_fix_resolution", "send_resolved");
        var apiUrl = Scalar(f, path, "api_url");
        if (apiUrl is null || HttpUrl(apiUrl) is not null)
        {
            Error(f.TryGetValue("api_url", out var node) ? node : map, $"{path}.api_url", apiUrl is null ? "missing api_url" : HttpUrl(apiUrl)!);
        }

        var project = Required(map, f, path, "project");
        var issueType = Required(map, f, path, "issue_type");
        List<string> labels = [];
        if (f.TryGetValue("labels", out var labelsNode) && Sequence(labelsNode, $"{path}.labels") is { } items)
        {
            foreach (var item in items)
            {
                // Jira refuses a label with a space, or longer than 255 characters.
                if (ScalarValue(item, $"{path}.labels") is { } label)
                {
                    if (label.Length is 0 or > 255 || label.Any(char.IsWhiteSpace))
                    {
                        Error(item, $"{path}.labels", $"\"{label}\" is not a Jira label (1 to 255 characters, no spaces)");
                    }
                    else
                    {
                        labels.Add(label);
                    }
                }
            }
        }

        var token = Secret(map, f, path, "api_token", "api_token_file", t => t.Length > 0 && !t.Any(char.IsWhiteSpace) ? null : "must be one word");
        var reopenDuration = Duration(f, path, "reopen_duration") ?? TimeSpan.Zero;
        var reopen = Scalar(f, path, "reopen_transition");
        if (reopenDuration > TimeSpan.Zero && reopen is null)
        {
            Error(f["reopen_duration"], $"{path}.reopen_duration", "needs reopen_transition");
        }

        return token is null || project is null || issueType is null || apiUrl is null || HttpUrl(apiUrl) is not null ? null : new JiraConfig
        {
            ApiUrl = new Uri(apiUrl.TrimEnd('/') + "/"),
            Project = project,
            IssueType = issueType,
            Priority = Scalar(f, path, "priority"),
            Labels = labels,
            Username = Scalar(f, path, "username"),
            ApiToken = token,
            ResolveTransition = Scalar(f, path, "resolve_transition"),
            ReopenTransition = reopen,
            ReopenDuration = reopenDuration,
            WontFixResolution = Scalar(f, path, "wont_fix_resolution"),
            SendResolved = Bool(f, path, "send_resolved") ?? true,
        };
    }

    private EmailConfig? ReadEmail(YamlMappingNode map, string path)
    {
        var f = Fields(map, path, "to", "from", "smarthost", "hello", "auth_username", "auth_password", "auth_password_file", "require_tls",
            "headers", "send_resolved");
        var to = Required(map, f, path, "to");
        if (to is not null && (!MimeKit.InternetAddressList.TryParse(to, out var list) || list.Count == 0))
        {
            Error(f["to"], $"{path}.to", "is not a list of e-mail addresses");
        }

        var from = Required(map, f, path, "from");
        if (from is not null && !MimeKit.MailboxAddress.TryParse(from, out _))
        {
            Error(f["from"], $"{path}.from", "is not an e-mail address");
        }

        var smarthost = Required(map, f, path, "smarthost");
        string? host = null;
        var port = 0;
        if (smarthost is not null)
        {
            var colon = smarthost.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(smarthost[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65_535)
            {
                Error(f["smarthost"], $"{path}.smarthost", "must be host:port");
            }
            else
            {
                host = smarthost[..colon].Trim('[', ']');
            }
        }

        var username = Scalar(f, path, "auth_username");
        Secret? password = null;
        if (username is not null)
        {
            password = Secret(map, f, path, "auth_password", "auth_password_file", p => p.Length > 0 ? null : "must not be empty");
        }
        else if (f.ContainsKey("auth_password") || f.ContainsKey("auth_password_file"))
        {
            Error(map, $"{path}.auth_username", "a password needs auth_username");
        }

        Dictionary<string, string> headers = new(StringComparer.OrdinalIgnoreCase);
        if (f.TryGetValue("headers", out var headersNode) && Mapping(headersNode, $"{path}.headers") is { } headerMap)
        {
            foreach (var (key, value) in headerMap.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (name.Length == 0 || name.Any(c => c is <= ' ' or ':' or > '~') ||
                    name.ToLowerInvariant() is "from" or "to" or "subject" or "message-id" or "references" or "content-type" or "mime-version")
                {
                    Error(key, $"{path}.headers", $"\"{name}\" cannot be set");
                }
                else if (ScalarValue(value, $"{path}.headers.{name}") is { } text)
                {
                    headers[name] = text;
                }
            }
        }

        var valid = to is not null && from is not null && host is not null && (username is null || password is not null);
        return !valid ? null : new EmailConfig
        {
            To = to!,
            From = from!,
            Host = host!,
            Port = port,
            Hello = Scalar(f, path, "hello") ?? "localhost",
            Username = username,
            Password = password,
            RequireTls = Bool(f, path, "require_tls") ?? true,
            Headers = headers,
            // Alertmanager's default for e-mail.
            SendResolved = Bool(f, path, "send_resolved") ?? false,
        };
    }

    private string? Required(YamlMappingNode map, Dictionary<string, YamlNode> fields, string path, string name)
    {
        var value = Scalar(fields, path, name);
        if (string.IsNullOrWhiteSpace(value))
        {
            Error(fields.TryGetValue(name, out var node) ? node : map, $"{path}.{name}", $"missing {name}");
            return null;
        }

        return value;
    }

    // A secret given inline or as a file to read when it is used (so that it can be kept apart from the
    // configuration, and rotated without a new version): exactly one of the two.
    private Secret? Secret(YamlMappingNode map, Dictionary<string, YamlNode> fields, string path, string inline, string file, Func<string, string?> check)
    {
        var value = Scalar(fields, path, inline);
        var filePath = Scalar(fields, path, file);
        if ((value is null) == (filePath is null))
        {
            Error(map, $"{path}.{inline}", $"exactly one of {inline} and {file} must be configured");
            return null;
        }

        if (value is not null && check(value) is { } problem)
        {
            // The value is a secret: the message does not repeat it.
            Error(fields[inline], $"{path}.{inline}", problem);
            return null;
        }

        if (filePath is not null && !Path.IsPathFullyQualified(filePath))
        {
            Error(fields[file], $"{path}.{file}", "must be an absolute path");
            return null;
        }

        return value is not null ? Domain.Secret.Of(value) : Domain.Secret.FromFile(filePath!, check);
    }

    private static string? HttpUrl(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? null : "must be an absolute http or https URL";
}

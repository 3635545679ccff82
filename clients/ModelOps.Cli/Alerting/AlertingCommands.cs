using System.CommandLine;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using ModelOps.Alerting.V1;

namespace ModelOps.Cli.Alerting;

/// <summary>
/// <c>modelops alerts|silences|retrain</c>: what fires and who was told (alerts, deliveries, the configuration), what is
/// muted, and the retraining findings asked for.
/// </summary>
public static class AlertingCommands
{
    /// <summary>The alerting address when neither <c>--alerting</c> nor <c>MODELOPS_ALERTING_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7106";

    /// <summary>The <c>alerts</c>, <c>silences</c> and <c>retrain</c> commands.</summary>
    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("alerting", "The alerting service's", DefaultAddress);
        var token = new Option<string?>("--token") { Description = "A bearer token (default: $MODELOPS_TOKEN, else the development token of the role the command needs)", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON (protobuf JSON mapping) instead of a table", Recursive = true };
        var common = new Common(address, token, json, output, error);
        yield return AlertsCommand(common);
        yield return SilencesCommand(common);
        yield return RetrainCommand(common);
    }

    private sealed record Common(Option<string> Address, Option<string?> Token, Option<bool> Json, TextWriter Output, TextWriter Error)
    {
        public AlertingService.AlertingServiceClient Connect(ParseResult parse) => new(CliOutput.Channel(parse.GetValue(Address)!));

        public Grpc.Core.Metadata Headers(ParseResult parse, string role) => CliOutput.Headers(parse.GetValue(Token), role);

        public Task<int> Guard(Func<Task<int>> action) => CliOutput.Guard(Error, "alerting service", action);

        public Command Add(Command command)
        {
            command.Options.Add(Address);
            command.Options.Add(Token);
            command.Options.Add(Json);
            return command;
        }
    }

    // alerts [list] | deliveries | config [apply]
    private static Command AlertsCommand(Common c)
    {
        var filter = new Option<string[]>("--filter", "-f") { Description = "A matcher in Alertmanager's syntax, e.g. 'model=\"credit\"' (repeatable)" };
        var receiver = new Option<string?>("--receiver") { Description = "Only alerts routed to this receiver" };
        var active = new Option<bool>("--active") { Description = "Leave out silenced and inhibited alerts" };
        var alerts = c.Add(new Command("alerts", "Alerts that fire, who they reach and what mutes them; also the delivery log and the configuration")
        {
            filter, receiver, active,
        });
        alerts.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var response = await c.Connect(parse).ListAlertsAsync(new ListAlertsRequest
            {
                Filter = { parse.GetValue(filter) ?? [] }, Receiver = parse.GetValue(receiver) ?? "", ActiveOnly = parse.GetValue(active), PageSize = 1000,
            }, c.Headers(parse, "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(c.Output, parse.GetValue(c.Json), response.Alerts, ["ALERT", "LABELS", "SINCE", "RECEIVERS", "STATE", "SUMMARY"],
                a => [a.Labels.GetValueOrDefault("alertname", ""), string.Join(",", a.Labels.Where(l => l.Key != "alertname").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")),
                      CliOutput.Time(a.StartsAt), string.Join(",", a.Receivers),
                      a.SilencedBy.Count > 0 ? "silenced" : a.InhibitedBy.Length > 0 ? "inhibited" : "active", a.Annotations.GetValueOrDefault("summary", "")]);
            return 0;
        }));

        var deliveryReceiver = new Option<string?>("--receiver") { Description = "Only deliveries to this receiver" };
        var status = new Option<string?>("--status") { Description = "pending, sent or dead" };
        var deliveries = new Command("deliveries", "The delivery log, newest first: who was told what, and how it went") { deliveryReceiver, status };
        deliveries.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var response = await c.Connect(parse).ListDeliveriesAsync(new ListDeliveriesRequest
            {
                Receiver = parse.GetValue(deliveryReceiver) ?? "", Status = parse.GetValue(status) ?? "", PageSize = 1000,
            }, c.Headers(parse, "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(c.Output, parse.GetValue(c.Json), response.Deliveries, ["ID", "RECEIVER", "INTEGRATION", "KIND", "STATUS", "ATTEMPTS", "CREATED", "ERROR"],
                d => [d.Id.ToString(CultureInfo.InvariantCulture), d.Receiver, d.Integration, d.Firing ? "firing" : "resolved", d.Status,
                      d.Attempts.ToString(CultureInfo.InvariantCulture), CliOutput.Time(d.CreatedAt), d.LastError]);
            return 0;
        }));

        var config = new Command("config", "The configuration in force: its version, routes, receivers and retraining policies");
        config.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            await PrintConfig(c, parse, await c.Connect(parse).GetConfigAsync(new GetConfigRequest(), c.Headers(parse, "pipeline"), cancellationToken: cancellationToken));
            return 0;
        }));
        var file = new Argument<FileInfo>("file") { Description = "The configuration (Alertmanager's YAML)" };
        var comment = new Option<string?>("--comment", "-m") { Description = "Why it changes" };
        var apply = new Command("apply", "Puts a configuration in force on every replica (admin); refused with each problem's line and field") { file, comment };
        apply.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var yaml = await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, cancellationToken);
            var response = await c.Connect(parse).ApplyConfigAsync(new ApplyConfigRequest { Yaml = yaml, Comment = parse.GetValue(comment) ?? "" },
                c.Headers(parse, "admin"), cancellationToken: cancellationToken);
            if (!parse.GetValue(c.Json))
            {
                await c.Output.WriteLineAsync(response.Changed ? $"version {response.Config.Version} is in force" : $"unchanged: version {response.Config.Version} is in force");
            }

            await PrintConfig(c, parse, response.Config);
            return 0;
        }));
        config.Subcommands.Add(apply);
        alerts.Subcommands.Add(deliveries);
        alerts.Subcommands.Add(config);
        return alerts;
    }

    private static async Task PrintConfig(Common c, ParseResult parse, Config config)
    {
        if (parse.GetValue(c.Json))
        {
            await c.Output.WriteLineAsync(CliOutput.Json.Format(config));
            return;
        }

        await c.Output.WriteLineAsync($"version {config.Version} (sha256 {config.Sha256[..12]}…) by {config.Author} at {CliOutput.Time(config.CreatedAt)}: {config.Comment}");
        await CliOutput.Section(c.Output, "Routes", config.Routes.Select(r => new[]
        {
            r.Id, r.Matchers.Count == 0 ? "(every alert)" : string.Join(",", r.Matchers), $"→ {r.Receiver}", $"by {string.Join(",", r.GroupBy)}",
            $"wait {r.GroupWaitSeconds:0}s/{r.GroupIntervalSeconds:0}s/{r.RepeatIntervalSeconds:0}s", r.Continue ? "continue" : "",
        }));
        await CliOutput.Section(c.Output, "Receivers", config.Receivers.Select(r => new[] { r.Name, string.Join(",", r.Integrations) }));
        await CliOutput.Section(c.Output, "Retraining policies", config.RetrainPolicies.Select(p => new[]
        {
            p.Name, string.Join(",", p.Matchers), string.Join(",", p.Thresholds.Select(t => $"{t.Key}≥{t.Value.ToString(CultureInfo.InvariantCulture)}")),
            $"cooldown {TimeSpan.FromSeconds(p.CooldownSeconds)}", $"→ {p.Receiver}",
        }));
    }

    // silences [list] | add | expire | show
    private static Command SilencesCommand(Common c)
    {
        var all = new Option<bool>("--all") { Description = "Also silences expired within the last five days" };
        var silences = c.Add(new Command("silences", "Silences: list them, add one, expire one") { all });
        silences.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var response = await c.Connect(parse).ListSilencesAsync(new ListSilencesRequest { ActiveOnly = !parse.GetValue(all), PageSize = 1000 },
                c.Headers(parse, "pipeline"), cancellationToken: cancellationToken);
            await PrintSilences(c, parse, response.Silences);
            return 0;
        }));

        var matchers = new Argument<string[]>("matchers") { Description = "What to mute, in Alertmanager's syntax: model=\"credit\" severity=~\"warn.*\"", Arity = ArgumentArity.OneOrMore };
        var duration = new Option<TimeSpan>("--duration", "-d")
        {
            Description = "How long, as Prometheus writes durations: 4h, 1h30m, 2d (default 2h)",
            DefaultValueFactory = _ => TimeSpan.FromHours(2),
            CustomParser = result =>
            {
                try
                {
                    return ModelOps.Alerting.Domain.PromDuration.Parse(result.Tokens.Single().Value);
                }
                catch (FormatException exception)
                {
                    result.AddError($"--duration: {exception.Message}");
                    return default;
                }
            },
        };
        var comment = new Option<string>("--comment", "-m") { Description = "Why (required)", Required = true };
        var add = new Command("add", "Mutes the alerts matching every matcher, from now (reviewer or admin)") { matchers, duration, comment };
        add.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var request = new CreateSilenceRequest
            {
                EndsAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow + parse.GetValue(duration)), Comment = parse.GetValue(comment)!,
            };
            foreach (var text in parse.GetValue(matchers)!)
            {
                request.Matchers.Add(ParseMatcher(text));
            }

            var silence = await c.Connect(parse).CreateSilenceAsync(request, c.Headers(parse, "reviewer"), cancellationToken: cancellationToken);
            await PrintSilences(c, parse, [silence]);
            return 0;
        }));

        var id = new Argument<string>("id") { Description = "The silence's id" };
        var expire = new Command("expire", "Ends a silence now (reviewer or admin)") { id };
        expire.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var silence = await c.Connect(parse).ExpireSilenceAsync(new ExpireSilenceRequest { SilenceId = parse.GetValue(id)! }, c.Headers(parse, "reviewer"),
                cancellationToken: cancellationToken);
            await PrintSilences(c, parse, [silence]);
            return 0;
        }));

        var show = new Command("show", "One silence") { id };
        show.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var silence = await c.Connect(parse).GetSilenceAsync(new GetSilenceRequest { SilenceId = parse.GetValue(id)! }, c.Headers(parse, "pipeline"),
                cancellationToken: cancellationToken);
            await PrintSilences(c, parse, [silence]);
            return 0;
        }));
        silences.Subcommands.Add(add);
        silences.Subcommands.Add(expire);
        silences.Subcommands.Add(show);
        return silences;
    }

    private static Task PrintSilences(Common c, ParseResult parse, IReadOnlyList<Silence> silences) =>
        CliOutput.Print(c.Output, parse.GetValue(c.Json), silences, ["ID", "MATCHERS", "STATE", "ENDS", "BY", "COMMENT"],
            s => [s.SilenceId, string.Join(",", s.Matchers.Select(Text)), s.State, CliOutput.Time(s.EndsAt), s.CreatedBy, s.Comment]);

    // A matcher as typed (name="value", name!=value, name=~"re", name!~"re"): the operator is the first one in the text,
    // so a value may hold operators of its own; the server checks names and expressions.
    private static Matcher ParseMatcher(string text)
    {
        var found = new[] { ("=~", MatcherType.Regexp), ("!~", MatcherType.NotRegexp), ("!=", MatcherType.NotEqual), ("=", MatcherType.Equal) }
            .Select(o => (Op: o.Item1, Type: o.Item2, At: text.IndexOf(o.Item1, StringComparison.Ordinal)))
            .Where(o => o.At > 0)
            .OrderBy(o => o.At).ThenByDescending(o => o.Op.Length)
            .FirstOrDefault();
        if (found.Op is null)
        {
            throw new FormatException($"'{text}' is not a matcher: name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"");
        }

        var value = text[(found.At + found.Op.Length)..].Trim();
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            value = value[1..^1].Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
        }

        return new Matcher { Name = text[..found.At].Trim(), Type = found.Type, Value = value };
    }

    private static string Text(Matcher m) =>
        $"{m.Name}{m.Type switch { MatcherType.NotEqual => "!=", MatcherType.Regexp => "=~", MatcherType.NotRegexp => "!~", _ => "=" }}\"{m.Value}\"";

    // retrain [list]
    private static Command RetrainCommand(Common c)
    {
        var model = new Option<string?>("--model") { Description = "Only requests for this model" };
        var retrain = c.Add(new Command("retrain", "Retraining requested by findings that met a policy, newest first, with the run that answered") { model });
        retrain.SetAction((parse, cancellationToken) => c.Guard(async () =>
        {
            var response = await c.Connect(parse).ListRetrainRequestsAsync(new ListRetrainRequestsRequest { Model = parse.GetValue(model) ?? "", PageSize = 1000 },
                c.Headers(parse, "pipeline"), cancellationToken: cancellationToken);
            await CliOutput.Print(c.Output, parse.GetValue(c.Json), response.Requests, ["REQUEST", "POLICY", "MODEL", "STATUS", "REQUESTED", "RUN"],
                r => [r.RequestId, r.Policy, r.Model, r.Status, CliOutput.Time(r.RequestedAt), r.RunId]);
            return 0;
        }));
        return retrain;
    }
}

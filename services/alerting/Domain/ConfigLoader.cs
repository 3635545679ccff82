using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ModelOps.Alerting.Domain;

/// <summary>One thing wrong with a configuration: where (line, and the field's path) and what.</summary>
/// <param name="Line">1-based line in the YAML.</param>
/// <param name="Field">The field's path, such as <c>route.routes[1].matchers[0]</c>.</param>
/// <param name="Description">What is wrong.</param>
public sealed record ConfigError(int Line, string Field, string Description)
{
    /// <inheritdoc />
    public override string ToString() => $"line {Line}: {Field}: {Description}";
}

/// <summary>A configuration that cannot be used, with every error found.</summary>
public sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : Exception(string.Join("; ", errors))
{
    /// <summary>Every error, in the order of the document.</summary>
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}

/// <summary>
/// Reads an alerting configuration from YAML with Alertmanager's field names, and checks it as Alertmanager does
/// (a root route with a receiver and no matchers, receivers defined once and all used ones defined, valid matchers,
/// durations, group_by, non-zero intervals), plus what Alertmanager lets through: unknown fields are errors, not
/// ignored. Every error gives its line and field; all of them are reported at once.
/// </summary>
public sealed partial class ConfigLoader
{
    /// <summary>The largest configuration accepted, in characters.</summary>
    public const int MaxLength = 1 << 20;

    private readonly List<ConfigError> _errors = [];
    private readonly HashSet<string> _receivers = new(StringComparer.Ordinal);

    private ConfigLoader()
    {
    }

    /// <summary>The configuration in <paramref name="yaml"/>, or <see cref="ConfigException"/>.</summary>
    public static AlertingConfig Load(string yaml)
    {
        if (yaml.Length > MaxLength)
        {
            throw new ConfigException([new ConfigError(1, "", $"the configuration is longer than {MaxLength} characters")]);
        }

        var stream = new YamlStream();
        try
        {
            if (Shape(yaml) is { } tooLarge)
            {
                throw new ConfigException([tooLarge]);
            }

            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ConfigException([new ConfigError((int)e.Start.Line, "", $"not valid YAML: {Inner(e).Message}")]);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ConfigException([new ConfigError(1, "", "the configuration must be one YAML mapping")]);
        }

        var loader = new ConfigLoader();
        var config = loader.Read(root);
        if (loader._errors.Count > 0 || config is null)
        {
            throw new ConfigException([.. loader._errors.OrderBy(e => e.Line)]);
        }

        return config;

        static Exception Inner(Exception e) => e.InnerException is { } inner ? Inner(inner) : e;
    }

    private AlertingConfig? Read(YamlMappingNode root)
    {
        var fields = Fields(root, "", "global", "route", "receivers", "inhibit_rules", "templates", "time_intervals", "retrain_policies");
        var resolveTimeout = AlertingConfig.DefaultResolveTimeout;
        string? externalUrl = null;
        if (fields.TryGetValue("global", out var global) && Mapping(global, "global") is { } globalMap)
        {
            var g = Fields(globalMap, "global", "resolve_timeout", "external_url");
            resolveTimeout = Duration(g, "global", "resolve_timeout") ?? resolveTimeout;
            externalUrl = Scalar(g, "global", "external_url");
            if (externalUrl is not null && HttpUrl(externalUrl) is { } problem)
            {
                Error(g["external_url"], "global.external_url", problem);
            }
            if (resolveTimeout <= TimeSpan.Zero)
            {
                Error(g["resolve_timeout"], "global.resolve_timeout", "must be positive");
            }
        }

        foreach (var unsupported in new[] { "templates", "time_intervals" })
        {
            if (fields.TryGetValue(unsupported, out var node))
            {
                Error(node, unsupported, "is not supported (notification content comes from each receiver's documented payload)");
            }
        }

        List<ReceiverConfig> receivers = [];
        if (fields.TryGetValue("receivers", out var receiversNode) && Sequence(receiversNode, "receivers") is { } list)
        {
            for (var i = 0; i < list.Children.Count; i++)
            {
                if (ReadReceiver(list.Children[i], $"receivers[{i}]") is { } receiver)
                {
                    if (receivers.Any(r => r.Name == receiver.Name))
                    {
                        Error(list.Children[i], $"receivers[{i}].name", $"notification config name \"{receiver.Name}\" is not unique");
                    }

                    receivers.Add(receiver);
                    _receivers.Add(receiver.Name);
                }
            }
        }

        RouteConfig? route = null;
        if (!fields.TryGetValue("route", out var routeNode))
        {
            Error(root, "route", "no route provided in config");
        }
        else if (ReadRoute(routeNode, "route") is { } r)
        {
            route = r;
            if (r.Receiver is null)
            {
                Error(routeNode, "route.receiver", "root route must specify a default receiver");
            }

            if (r.Matchers.Count > 0)
            {
                Error(routeNode, "route", "root route must not have any matchers");
            }

            if (r.Continue)
            {
                Error(routeNode, "route.continue", "cannot have continue in root route");
            }
        }

        List<InhibitRule> inhibitRules = [];
        if (fields.TryGetValue("inhibit_rules", out var inhibitNode) && Sequence(inhibitNode, "inhibit_rules") is { } rules)
        {
            for (var i = 0; i < rules.Children.Count; i++)
            {
                if (ReadInhibitRule(rules.Children[i], $"inhibit_rules[{i}]") is { } rule)
                {
                    inhibitRules.Add(rule);
                }
            }
        }

        var retrain = fields.TryGetValue("retrain_policies", out var retrainNode) ? ReadRetrainPolicies(retrainNode, receivers) : [];
        return route is null ? null : new AlertingConfig(resolveTimeout, route, receivers, inhibitRules, externalUrl) { RetrainPolicies = retrain };
    }

    private RouteConfig? ReadRoute(YamlNode node, string path)
    {
        if (Mapping(node, path) is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, "receiver", "group_by", "continue", "matchers", "match", "match_re", "group_wait",
            "group_interval", "repeat_interval", "routes", "mute_time_intervals", "active_time_intervals");
        if (f.TryGetValue("mute_time_intervals", out var mute) || f.TryGetValue("active_time_intervals", out mute))
        {
            Error(mute, path, "time intervals are not supported");
        }

        var receiver = Scalar(f, path, "receiver");
        if (receiver is not null && !_receivers.Contains(receiver))
        {
            Error(f["receiver"], $"{path}.receiver", $"undefined receiver \"{receiver}\" used in route");
        }
        List<string>? groupBy = null;
        if (f.TryGetValue("group_by", out var groupByNode) && Sequence(groupByNode, $"{path}.group_by") is { } groupBySeq)
        {
            groupBy = [];
            foreach (var item in groupBySeq.Children)
            {
                if (ScalarValue(item, $"{path}.group_by") is not { } label)
                {
                    continue;
                }

                if (groupBy.Contains(label))
                {
                    Error(item, $"{path}.group_by", $"duplicated label \"{label}\" in group_by");
                }
                else if (label != "..." && !Matcher.LabelName().IsMatch(label))
                {
                    Error(item, $"{path}.group_by", $"invalid label name \"{label}\" in group_by list");
                }

                groupBy.Add(label);
            }

            if (groupBy.Contains("...") && groupBy.Count > 1)
            {
                Error(groupByNode, $"{path}.group_by", "cannot have wildcard group_by (`...`) and other other labels at the same time");
            }
        }

        var matchers = MatcherList(f, path, "matchers");

        matchers.AddRange(LegacyMatchers(f, path, "match", MatcherType.Equal));
        matchers.AddRange(LegacyMatchers(f, path, "match_re", MatcherType.Regexp));

        var groupWait = Duration(f, path, "group_wait");
        var groupInterval = Duration(f, path, "group_interval");
        var repeatInterval = Duration(f, path, "repeat_interval");
        if (groupInterval == TimeSpan.Zero)
        {
            Error(f["group_interval"], $"{path}.group_interval", "group_interval cannot be zero");
        }

        if (repeatInterval == TimeSpan.Zero)
        {
            Error(f["repeat_interval"], $"{path}.repeat_interval", "repeat_interval cannot be zero");
        }

        List<RouteConfig> routes = [];
        if (f.TryGetValue("routes", out var routesNode) && Sequence(routesNode, $"{path}.routes") is { } children)
        {
            for (var i = 0; i < children.Children.Count; i++)
            {
                if (ReadRoute(children.Children[i], $"{path}.routes[{i}]") is { } child)
                {
                    routes.Add(child);
                }
            }
        }

        return new RouteConfig(receiver, groupBy, matchers, Bool(f, path, "continue") ?? false, groupWait, groupInterval,
            repeatInterval, routes);
    }

    // A list of matcher strings in Alertmanager's syntax (each may hold several, comma-separated), with an error per bad one.
    private List<Matcher> MatcherList(Dictionary<string, YamlNode> fields, string path, string field)
    {
        List<Matcher> matchers = [];
        if (fields.TryGetValue(field, out var node) && Sequence(node, $"{path}.{field}") is { } seq)
        {
            for (var i = 0; i < seq.Children.Count; i++)
            {
                if (ScalarValue(seq.Children[i], $"{path}.{field}[{i}]") is { } text)
                {
                    try
                    {
                        matchers.AddRange(Matcher.ParseList(text));
                    }
                    catch (FormatException e)
                    {
                        Error(seq.Children[i], $"{path}.{field}[{i}]", e.Message);
                    }
                }
            }
        }

        return matchers;
    }

    private IEnumerable<Matcher> LegacyMatchers(Dictionary<string, YamlNode> fields, string path, string field, MatcherType type)
    {
        if (!fields.TryGetValue(field, out var node) || Mapping(node, $"{path}.{field}") is not { } map)
        {
            yield break;
        }

        foreach (var (key, value) in map.Children)
        {
            var name = ((YamlScalarNode)key).Value ?? "";
            if (ScalarValue(value, $"{path}.{field}.{name}") is not { } text)
            {
                continue;
            }

            Matcher? matcher = null;
            try
            {
                matcher = Matcher.Create(type, name, text);
            }
            catch (FormatException e)
            {
                Error(key, $"{path}.{field}.{name}", e.Message);
            }

            if (matcher is not null)
            {
                yield return matcher;
            }
        }
    }

    private InhibitRule? ReadInhibitRule(YamlNode node, string path)
    {
        if (Mapping(node, path) is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, "source_matchers", "target_matchers", "source_match", "source_match_re", "target_match",
            "target_match_re", "equal");
        List<string> equal = [];
        if (f.TryGetValue("equal", out var equalNode) && Sequence(equalNode, $"{path}.equal") is { } labels)
        {
            foreach (var item in labels.Children)
            {
                if (ScalarValue(item, $"{path}.equal") is { } label)
                {
                    if (!Matcher.LabelName().IsMatch(label))
                    {
                        Error(item, $"{path}.equal", $"invalid label name \"{label}\"");
                    }

                    equal.Add(label);
                }
            }
        }

        return new InhibitRule(Side("source"), Side("target"), equal);

        Matchers Side(string side)
        {
            var matchers = MatcherList(f, path, $"{side}_matchers");

            matchers.AddRange(LegacyMatchers(f, path, $"{side}_match", MatcherType.Equal));
            matchers.AddRange(LegacyMatchers(f, path, $"{side}_match_re", MatcherType.Regexp));
            return new Matchers(matchers);
        }
    }

    // The fields of a mapping by name, with an error for each one not in `known` and each repeated.
    private Dictionary<string, YamlNode> Fields(YamlMappingNode map, string path, params string[] known)
    {
        var fields = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (key, value) in map.Children)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            var field = path.Length == 0 ? name : $"{path}.{name}";
            if (!known.Contains(name))
            {
                Error(key, field, "unknown field");
            }
            else if (!fields.TryAdd(name, value))
            {
                Error(key, field, "repeated field");
            }
        }

        return fields;
    }

    private YamlMappingNode? Mapping(YamlNode node, string path)
    {
        if (node is YamlMappingNode map)
        {
            return map;
        }

        Error(node, path, "must be a mapping");
        return null;
    }

    private YamlSequenceNode? Sequence(YamlNode node, string path)
    {
        if (node is YamlSequenceNode seq)
        {
            return seq;
        }

        Error(node, path, "must be a list");
        return null;
    }

    private string? ScalarValue(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: { } value })
        {
            return value;
        }

        Error(node, path, "must be a single value");
        return null;
    }

    private string? Scalar(Dictionary<string, YamlNode> fields, string path, string name) =>
        fields.TryGetValue(name, out var node) ? ScalarValue(node, $"{path}.{name}") : null;

    private TimeSpan? Duration(Dictionary<string, YamlNode> fields, string path, string name)
    {
        if (Scalar(fields, path, name) is not { } text)
        {
            return null;
        }

        try
        {
            return PromDuration.Parse(text);
        }
        catch (FormatException e)
        {
            Error(fields[name], $"{path}.{name}", e.Message);
            return null;
        }
    }

    private bool? Bool(Dictionary<string, YamlNode> fields, string path, string name)
    {
        if (Scalar(fields, path, name) is not { } text)
        {
            return null;
        }

        if (text is "true" or "false")
        {
            return text == "true";
        }

        Error(fields[name], $"{path}.{name}", $"\"{text}\" is not true or false");
        return null;
    }

    private int? Int(Dictionary<string, YamlNode> fields, string path, string name)
    {
        if (Scalar(fields, path, name) is not { } text)
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        Error(fields[name], $"{path}.{name}", $"\"{text}\" is not an integer");
        return null;
    }

    private void Error(YamlNode node, string field, string description) => _errors.Add(new ConfigError(Line(node), field, description));

    private static int Line(YamlNode node) => (int)node.Start.Line;
}

using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace ModelOps.Alerting.Domain;

public sealed partial class ConfigLoader
{
    private static readonly Dictionary<string, DayOfWeek> DayNames = new(StringComparer.Ordinal)
    {
        ["mon"] = DayOfWeek.Monday, ["tue"] = DayOfWeek.Tuesday, ["wed"] = DayOfWeek.Wednesday, ["thu"] = DayOfWeek.Thursday,
        ["fri"] = DayOfWeek.Friday, ["sat"] = DayOfWeek.Saturday, ["sun"] = DayOfWeek.Sunday,
    };

    private List<RetrainPolicy> ReadRetrainPolicies(YamlNode node, IReadOnlyList<ReceiverConfig> receivers)
    {
        List<RetrainPolicy> policies = [];
        if (Sequence(node, "retrain_policies") is not { } items)
        {
            return policies;
        }

        for (var i = 0; i < items.Children.Count; i++)
        {
            var path = $"retrain_policies[{i}]";
            if (Mapping(items.Children[i], path) is not { } map)
            {
                continue;
            }

            var f = Fields(map, path, "name", "matchers", "thresholds", "cooldown", "timeout", "business_hours", "receiver");
            var name = Scalar(f, path, "name");
            if (string.IsNullOrEmpty(name) || !Matcher.LabelName().IsMatch(name.Replace('-', '_')))
            {
                Error(map, $"{path}.name", "a name of letters, digits, '_' and '-' is required");
                continue;
            }

            if (policies.Any(p => p.Name == name))
            {
                Error(f["name"], $"{path}.name", $"retrain policy \"{name}\" is not unique");
            }

            var matchers = MatcherList(f, path, "matchers");
            if (matchers.Count == 0)
            {
                // Without one, every finding of every model would retrain it.
                Error(map, $"{path}.matchers", "at least one matcher is required");
            }

            var thresholds = new Dictionary<string, double>(StringComparer.Ordinal);
            if (f.TryGetValue("thresholds", out var thresholdsNode) && Mapping(thresholdsNode, $"{path}.thresholds") is { } thresholdMap)
            {
                foreach (var (key, value) in thresholdMap.Children)
                {
                    var figure = (key as YamlScalarNode)?.Value ?? "";
                    if (ScalarValue(value, $"{path}.thresholds.{figure}") is { } text)
                    {
                        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var threshold) && double.IsFinite(threshold))
                        {
                            thresholds[figure] = threshold;
                        }
                        else
                        {
                            Error(value, $"{path}.thresholds.{figure}", $"\"{text}\" is not a number");
                        }
                    }
                }
            }

            var cooldown = Duration(f, path, "cooldown") ?? TimeSpan.FromHours(24);
            var timeout = Duration(f, path, "timeout") ?? TimeSpan.FromHours(24);
            if (cooldown <= TimeSpan.Zero || timeout <= TimeSpan.Zero)
            {
                Error(map, $"{path}.cooldown", "cooldown and timeout must be positive");
            }

            var receiver = Scalar(f, path, "receiver");
            if (receiver is null || receivers.FirstOrDefault(r => r.Name == receiver) is not { } target)
            {
                Error(f.TryGetValue("receiver", out var receiverNode) ? receiverNode : map, $"{path}.receiver",
                    receiver is null ? "a receiver is required" : $"undefined receiver \"{receiver}\" used in retrain policy");
                continue;
            }

            if (target.Webhooks.Count == 0)
            {
                Error(f["receiver"], $"{path}.receiver", $"receiver \"{receiver}\" has no webhook_configs to start a pipeline with");
            }

            var hours = f.TryGetValue("business_hours", out var hoursNode) ? ReadBusinessHours(hoursNode, $"{path}.business_hours") : null;
            policies.Add(new RetrainPolicy(name, new Matchers(matchers), thresholds, cooldown, timeout, hours, receiver));
        }

        return policies;
    }

    private BusinessHours? ReadBusinessHours(YamlNode node, string path)
    {
        if (Mapping(node, path) is not { } map)
        {
            return null;
        }

        var f = Fields(map, path, "days", "start", "end", "time_zone");
        HashSet<DayOfWeek> days = [];
        if (f.TryGetValue("days", out var daysNode) && Sequence(daysNode, $"{path}.days") is { } list)
        {
            foreach (var item in list.Children)
            {
                if (ScalarValue(item, $"{path}.days") is { } day)
                {
                    if (DayNames.TryGetValue(day, out var dayOfWeek))
                    {
                        days.Add(dayOfWeek);
                    }
                    else
                    {
                        Error(item, $"{path}.days", $"\"{day}\" is not one of mon, tue, wed, thu, fri, sat, sun");
                    }
                }
            }
        }

        if (days.Count == 0)
        {
            Error(map, $"{path}.days", "at least one day is required");
        }

        TimeOnly? Time(string field)
        {
            var text = Scalar(f, path, field);
            if (text is not null && TimeOnly.TryParseExact(text, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
            {
                return time;
            }

            Error(f.TryGetValue(field, out var timeNode) ? timeNode : map, $"{path}.{field}", "a time of day as HH:mm is required");
            return null;
        }

        var start = Time("start");
        var end = Time("end");
        if (start >= end)
        {
            Error(f["end"], $"{path}.end", "must be after start");
        }

        var zoneName = Scalar(f, path, "time_zone") ?? "UTC";
        TimeZoneInfo? zone = null;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(zoneName);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            Error(f.TryGetValue("time_zone", out var zoneNode) ? zoneNode : map, $"{path}.time_zone", $"unknown time zone \"{zoneName}\" (use an IANA name)");
        }

        return days.Count > 0 && start < end && zone is not null ? new BusinessHours(days, start!.Value, end!.Value, zone) : null;
    }
}

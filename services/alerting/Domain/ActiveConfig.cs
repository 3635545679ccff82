using System.Security.Cryptography;
using System.Text;

namespace ModelOps.Alerting.Domain;

/// <summary>A stored configuration version, parsed, with its routing tree.</summary>
public sealed class ActiveConfig
{
    private ActiveConfig(int version, string yaml, AlertingConfig config)
    {
        Version = version;
        Yaml = yaml;
        Config = config;
        Root = Route.Build(config.Route);
        RoutesById = Root.Walk().ToDictionary(r => r.Id(), StringComparer.Ordinal);
    }

    /// <summary>What a new database starts with: every alert is recorded and grouped, and nobody is notified.</summary>
    public const string Initial = """
        # No receiver is configured yet: alerts are recorded and grouped, and nobody is notified.
        route:
          receiver: nobody
          group_by: [alertname, model, version]
        receivers:
          - name: nobody
        """;

    /// <summary>The version's number.</summary>
    public int Version { get; }

    /// <summary>Its YAML, as written.</summary>
    public string Yaml { get; }

    /// <summary>The configuration.</summary>
    public AlertingConfig Config { get; }

    /// <summary>The routing tree.</summary>
    public Route Root { get; }

    /// <summary>Every route by <see cref="Route.Id"/>.</summary>
    public IReadOnlyDictionary<string, Route> RoutesById { get; }

    /// <summary>Parses a stored version; a stored version was valid when it was written.</summary>
    public static ActiveConfig Parse(int version, string yaml) => new(version, yaml, ConfigLoader.Load(yaml));

    /// <summary>The hex SHA-256 of a configuration's text, which tells whether it changed.</summary>
    public static string Hash(string yaml) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)));

    /// <summary>The route a stored group belongs to, by the route part of its id; null when the tree no longer has it.</summary>
    public Route? RouteOfGroup(string groupId, string groupLabels) =>
        groupId.EndsWith(":" + groupLabels, StringComparison.Ordinal) &&
        RoutesById.TryGetValue(groupId[..^(groupLabels.Length + 1)], out var route) ? route : null;
}

/// <summary>The configuration version this replica works with; replaced when a newer one is stored.</summary>
public sealed class ConfigState
{
    private ActiveConfig? _current;

    /// <summary>The current version; set before the service accepts calls.</summary>
    public ActiveConfig Current => Volatile.Read(ref _current) ?? throw new InvalidOperationException("The alerting configuration has not been loaded yet.");

    /// <summary>Whether a version is loaded.</summary>
    public bool Loaded => Volatile.Read(ref _current) is not null;

    /// <summary>Takes <paramref name="config"/> unless a newer version is already current.</summary>
    public void Offer(ActiveConfig config)
    {
        ActiveConfig? seen;
        do
        {
            seen = Volatile.Read(ref _current);
            if (seen is not null && seen.Version >= config.Version)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _current, config, seen) != seen);
    }
}

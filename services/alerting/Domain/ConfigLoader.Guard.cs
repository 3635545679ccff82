namespace ModelOps.Alerting.Domain;

public sealed partial class ConfigLoader
{
    /// <summary>How deep mappings and lists may nest.</summary>
    public const int MaxDepth = 64;

    /// <summary>The most nodes a configuration may hold once its aliases are expanded.</summary>
    public const int MaxNodes = 200_000;

    /// <summary>
    /// Refuses, before the document is built, what would exhaust the loader: nesting deeper than <see cref="MaxDepth"/>
    /// (the document model is built recursively, and a deep one overflows the stack), an alias inside the node it names
    /// (a cycle, which reading would follow for ever), and aliases that expand to more than <see cref="MaxNodes"/> nodes
    /// (a "billion laughs"). YAML's event parser is iterative: it reads any text in bounded stack, and the expanded size
    /// of each anchored node is counted as its events pass.
    /// </summary>
    private static ConfigError? Shape(string yaml)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        var anchors = new Dictionary<string, long>(StringComparer.Ordinal);
        var open = new Stack<(string? Anchor, long Nodes)>();
        long total = 0;
        while (parser.MoveNext())
        {
            var line = (int)parser.Current!.Start.Line;
            long added;
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    var anchor = ((YamlDotNet.Core.Events.NodeEvent)parser.Current).Anchor;
                    open.Push((anchor.IsEmpty ? null : anchor.Value, 1));
                    if (open.Count > MaxDepth)
                    {
                        return new ConfigError(line, "", $"mappings and lists nest deeper than {MaxDepth} levels");
                    }

                    continue;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    var closed = open.Pop();
                    if (closed.Anchor is not null)
                    {
                        anchors[closed.Anchor] = closed.Nodes;
                    }

                    added = closed.Nodes;
                    break;
                case YamlDotNet.Core.Events.Scalar scalar:
                    if (!scalar.Anchor.IsEmpty)
                    {
                        anchors[scalar.Anchor.Value] = 1;
                    }

                    added = 1;
                    total++;
                    break;
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    if (!anchors.TryGetValue(alias.Value.Value, out added))
                    {
                        return new ConfigError(line, "", $"the alias *{alias.Value.Value} refers to a node that is not complete where it is used (an alias inside its own anchor, or before it)");
                    }

                    total += added;
                    break;
                default:
                    continue;
            }

            if (open.Count > 0)
            {
                var (name, nodes) = open.Pop();
                open.Push((name, nodes + added));
            }

            if (total > MaxNodes)
            {
                return new ConfigError(line, "", $"the configuration expands to more than {MaxNodes} values once its aliases are followed");
            }
        }

        return null;
    }
}

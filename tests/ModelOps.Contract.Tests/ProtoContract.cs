using System.Text.RegularExpressions;
using Grpc.Core;
using ModelOps.Testing;

namespace ModelOps.Contract.Tests;

/// <summary>
/// The statuses each RPC documents, read from the comments of the protos themselves: a service's "Errors of every RPC:"
/// paragraph, and an RPC's own "Errors:" line. A status nobody documented is a defect of the code or of the docs.
/// </summary>
public static partial class ProtoContract
{
    private static readonly Lazy<Dictionary<string, HashSet<StatusCode>>> Documented = new(Read);

    /// <summary>The statuses <paramref name="fullMethod"/> (<c>modelops.tracking.v1.TrackingService/StartRun</c>) may answer.</summary>
    public static IReadOnlySet<StatusCode> StatusesOf(string fullMethod) =>
        Documented.Value.TryGetValue(fullMethod, out var codes)
            ? codes
            : throw new InvalidOperationException($"{fullMethod} is not in any proto under protos/");

    private static Dictionary<string, HashSet<StatusCode>> Read()
    {
        var result = new Dictionary<string, HashSet<StatusCode>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(ChildProcess.RepositoryRoot(), "protos"), "*.proto", SearchOption.AllDirectories))
        {
            var lines = File.ReadAllLines(file);
            var package = lines.Select(l => PackagePattern().Match(l)).First(m => m.Success).Groups[1].Value;
            string? service = null;
            HashSet<StatusCode> common = [];
            var comment = new List<string>();
            foreach (var raw in lines)
            {
                var line = raw.Trim();
                if (line.StartsWith("//", StringComparison.Ordinal))
                {
                    comment.Add(line[2..].Trim());
                    continue;
                }

                if (ServicePattern().Match(line) is { Success: true } declared)
                {
                    service = declared.Groups[1].Value;
                    var text = string.Join(" ", comment);
                    var at = text.IndexOf("Errors of every RPC:", StringComparison.Ordinal);
                    common = at >= 0 ? Codes(text[at..]) : [];
                }
                // rpc lines appear only inside a service: they belong to the one declared last.
                else if (service is not null && RpcPattern().Match(line) is { Success: true } rpc)
                {
                    var text = string.Join(" ", comment);
                    var at = text.IndexOf("Errors:", StringComparison.Ordinal);
                    var codes = new HashSet<StatusCode>(common);
                    if (at >= 0)
                    {
                        codes.UnionWith(Codes(text[at..]));
                    }

                    result[$"{package}.{service}/{rpc.Groups[1].Value}"] = codes;
                }

                comment.Clear();
            }
        }

        return result;
    }

    private static HashSet<StatusCode> Codes(string text) =>
        CodePattern().Matches(text).Select(m => Enum.Parse<StatusCode>(m.Value.Replace("_", "", StringComparison.Ordinal), ignoreCase: true)).ToHashSet();

    [GeneratedRegex(@"^package\s+([\w.]+);")]
    private static partial Regex PackagePattern();

    [GeneratedRegex(@"^service\s+(\w+)\s*\{")]
    private static partial Regex ServicePattern();

    [GeneratedRegex(@"^rpc\s+(\w+)\s*\(")]
    private static partial Regex RpcPattern();

    [GeneratedRegex(@"\b(INVALID_ARGUMENT|NOT_FOUND|ALREADY_EXISTS|FAILED_PRECONDITION|PERMISSION_DENIED|UNAUTHENTICATED|ABORTED|RESOURCE_EXHAUSTED|UNAVAILABLE|DATA_LOSS|CANCELLED|DEADLINE_EXCEEDED|OUT_OF_RANGE|INTERNAL)\b")]
    private static partial Regex CodePattern();
}

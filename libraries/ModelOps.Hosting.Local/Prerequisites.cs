namespace ModelOps.Hosting.Local;

/// <summary>A program the AppHost needs is not installed.</summary>
public sealed class MissingPrerequisiteException(string what)
    : Exception($"{what} was not found. Install the prerequisites with: sudo scripts/bootstrap.sh");

/// <summary>Finds the local programs the infrastructure resources run.</summary>
public static class Prerequisites
{
    /// <summary>The directory of PostgreSQL's server programs (initdb, postgres, pg_ctl), newest version first.</summary>
    public static string PostgresBinDirectory(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(Path.Combine(configured, "initdb")) ? configured : throw new MissingPrerequisiteException($"initdb in {configured}");
        }

        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(dir => (Version: int.TryParse(Path.GetFileName(dir), out var v) ? v : 0, Bin: Path.Combine(dir, "bin")))
                .Where(c => c.Version >= 15 && File.Exists(Path.Combine(c.Bin, "initdb")))
                .OrderByDescending(c => c.Version)
                .Select(c => c.Bin)
            : [];
        var onPath = FindOnPath("initdb") is { } initdb ? Path.GetDirectoryName(ResolveLink(initdb)) : null;
        return candidates.FirstOrDefault() ?? onPath ?? throw new MissingPrerequisiteException("PostgreSQL 15+ (initdb)");
    }

    /// <summary>The rabbitmq-server script of the installed RabbitMQ.</summary>
    public static string RabbitMqServer(string? configured)
    {
        string[] candidates = [configured ?? "", "/usr/lib/rabbitmq/bin/rabbitmq-server", FindOnPath("rabbitmq-server") ?? ""];
        return candidates.FirstOrDefault(c => c.Length > 0 && File.Exists(c)) ?? throw new MissingPrerequisiteException("RabbitMQ (rabbitmq-server)");
    }

    /// <summary>Erlang's port mapper daemon, which the AppHost runs on a port of its own.</summary>
    public static string Epmd() => FindOnPath("epmd") ?? throw new MissingPrerequisiteException("Erlang's epmd (package rabbitmq-server)");

    /// <summary>A <c>minio</c> binary, when one is configured or on PATH.</summary>
    public static string? Minio(string? configured) =>
        !string.IsNullOrEmpty(configured) && File.Exists(configured) ? configured : FindOnPath("minio");

    /// <summary>The s3rver entry point installed by the bootstrap under <c>scripts/node_modules</c>, and node to run it.</summary>
    public static (string Node, string Script) S3rver(string repositoryRoot)
    {
        var script = Path.Combine(repositoryRoot, "scripts", "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
        {
            throw new MissingPrerequisiteException($"s3rver ({script})");
        }

        return (FindOnPath("node") ?? throw new MissingPrerequisiteException("Node.js (node)"), script);
    }

    /// <summary>The full path of <paramref name="program"/> on PATH, if any.</summary>
    public static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    private static string ResolveLink(string path) => new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
}

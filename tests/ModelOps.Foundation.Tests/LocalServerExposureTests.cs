using System.Globalization;
using ModelOps.Hosting.Local;
using ModelOps.Testing;

namespace ModelOps.Foundation.Tests;

/// <summary>The local servers of a development machine are reachable from that machine only, and keep their secrets to their owner.</summary>
public sealed class LocalServerExposureTests(InfrastructureFixture infrastructure)
{
    [Fact]
    public void EveryPortTheServersListenOnIsOnLoopback()
    {
        var servers = new LocalResource[] { infrastructure.Postgres, infrastructure.RabbitMq, infrastructure.ObjectStore };
        var pids = servers.SelectMany(s => s.Processes).SelectMany(p => ProcessTree.Descendants(p.Id).Append(p.Id)).ToHashSet();
        var inodes = pids.SelectMany(SocketInodes).ToHashSet();

        var listening = Listening("/proc/net/tcp").Concat(Listening("/proc/net/tcp6")).Where(l => inodes.Contains(l.Inode)).ToList();

        // PostgreSQL, AMQP, management, epmd, Erlang distribution and the object store at least.
        Assert.True(listening.Count >= 6, $"only {listening.Count} listening sockets found");
        Assert.All(listening, l => Assert.True(l.Loopback, $"port {l.Port} listens on {l.Address}"));
    }

    [Fact]
    public void FilesHoldingSecretsAreReadableByTheirOwnerOnly()
    {
        var secrets = Directory.EnumerateFiles(infrastructure.Context.StateDirectory, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".secret", StringComparison.Ordinal) || Path.GetFileName(f) == "rabbitmq.conf")
            .ToList();

        Assert.Contains(secrets, f => Path.GetFileName(f) == "rabbitmq.conf");
        Assert.Contains(secrets, f => f.EndsWith("password.secret", StringComparison.Ordinal));
        Assert.All(secrets, f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
    }

    private static IEnumerable<long> SocketInodes(int pid)
    {
        string[] descriptors;
        try
        {
            descriptors = Directory.GetFiles($"/proc/{pid}/fd");
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            yield break;
        }

        foreach (var descriptor in descriptors)
        {
            string? target;
            try
            {
                target = new FileInfo(descriptor).LinkTarget;
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                yield return long.Parse(target["socket:[".Length..^1], CultureInfo.InvariantCulture);
            }
        }
    }

    // /proc/net/tcp{,6}: "sl local_address rem_address st ... inode"; state 0A is LISTEN; addresses are hex, little-endian words.
    private static IEnumerable<(string Address, int Port, bool Loopback, long Inode)> Listening(string table)
    {
        foreach (var line in File.ReadLines(table).Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields[3] != "0A")
            {
                continue;
            }

            var (address, port) = (fields[1][..fields[1].IndexOf(':', StringComparison.Ordinal)], fields[1][(fields[1].IndexOf(':', StringComparison.Ordinal) + 1)..]);
            var loopback = address is "0100007F" or "00000000000000000000000001000000" or "0000000000000000FFFF00000100007F";
            yield return (address, int.Parse(port, NumberStyles.HexNumber, CultureInfo.InvariantCulture), loopback, long.Parse(fields[9], CultureInfo.InvariantCulture));
        }
    }
}

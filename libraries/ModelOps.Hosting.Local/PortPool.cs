using System.Net;
using System.Net.Sockets;

namespace ModelOps.Hosting.Local;

/// <summary>
/// Hands out loopback ports: the preferred one when it is free, else a free one below the kernel's ephemeral range,
/// reserved across processes. A port is handed to a server before the server binds it, so two stacks starting side by
/// side (or a stack and the outgoing connections of a busy machine) could otherwise be given the same port: the kernel's
/// own pick (bind to port 0) is free only at that instant, and it is drawn from the range outgoing connections use. So
/// ports come from below that range, and each is reserved by an exclusive lock on a file named after it, held while
/// this process lives; the kernel drops the lock when the process ends, however it ends.
/// </summary>
public sealed class PortPool
{
    private static readonly string ReservationDirectory = Path.Combine(Path.GetTempPath(), "modelops-ports");
    private readonly HashSet<int> _given = [];
    private readonly List<FileStream> _reservations = [];
    private readonly bool _dynamic;

    /// <summary>With <paramref name="dynamic"/>, preferred ports are ignored (tests run side by side).</summary>
    public PortPool(bool dynamic) => _dynamic = dynamic;

    /// <summary>A free port: <paramref name="preferred"/> if it is free and not handed out already.</summary>
    public int Take(int preferred = 0)
    {
        lock (_given)
        {
            if (!_dynamic && preferred > 0 && !_given.Contains(preferred) && IsFree(preferred))
            {
                _given.Add(preferred);
                return preferred;
            }

            while (true)
            {
                var port = FreePort();
                if (_given.Add(port))
                {
                    return port;
                }
            }
        }
    }

    /// <summary>Whether something accepts connections on <paramref name="port"/> of the loopback address.</summary>
    public static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private int FreePort()
    {
        var (low, high) = UnreservedRange();
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(low, high);
            if (!_given.Contains(port) && Reserve(port) is { } reservation)
            {
                if (IsFree(port))
                {
                    _reservations.Add(reservation);
                    return port;
                }

                reservation.Dispose();
            }
        }

        throw new InvalidOperationException($"No free port between {low} and {high} after 1000 tries.");
    }

    // Another process of ours holding the port's file keeps it; the lock is advisory (flock), between our processes.
    private static FileStream? Reserve(int port)
    {
        try
        {
            Directory.CreateDirectory(ReservationDirectory);
            return new FileStream(Path.Combine(ReservationDirectory, port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    // Ports below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 by default), from 20000 on.
    private static (int Low, int High) UnreservedRange()
    {
        var ephemeralLow = 32768;
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            ephemeralLow = int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // Not Linux, or not readable: keep the default.
        }

        return ephemeralLow > 21_000 ? (20_000, ephemeralLow) : (ephemeralLow, 65_535);
    }
}

using System.Net;
using System.Net.Sockets;

namespace ModelOps.Hosting.Local;

/// <summary>Hands out loopback ports: the preferred one when it is free, else one the kernel picks.</summary>
public sealed class PortPool
{
    private readonly HashSet<int> _given = [];
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Buffers;
using System.Collections.Concurrent;
using MimeKit;
using ModelOps.Hosting.Local;
using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace ModelOps.Alerting.Tests;

/// <summary>
/// A local SMTP server (the SmtpServer library: ESMTP, AUTH PLAIN/LOGIN) that requires a login and keeps every message
/// it accepts, parsed by MimeKit. A test can make the next messages fail with a reply code of its choice.
/// </summary>
public sealed class SmtpSink : MessageStore, IUserAuthenticator, IAsyncDisposable
{
    private readonly string _user;
    private readonly string _password;
    private readonly ConcurrentQueue<MimeMessage> _messages = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<SmtpReplyCode> _failures = new();
    private Task _running = Task.CompletedTask;
    private int _attempts;

    private SmtpSink(string user, string password, int port) => (_user, _password, Port) = (user, password, port);

    /// <summary>Where it listens on the loopback address.</summary>
    public int Port { get; }

    /// <summary>The messages accepted, in order.</summary>
    public IReadOnlyList<MimeMessage> Messages => [.. _messages];

    /// <summary>How many messages were offered, accepted or not.</summary>
    public int Attempts => _attempts;

    /// <summary>Starts a server accepting the login <paramref name="user"/> / <paramref name="password"/>.</summary>
    public static SmtpSink Start(string user, string password)
    {
        var sink = new SmtpSink(user, password, new PortPool(dynamic: true).Take());
        var options = new SmtpServerOptionsBuilder()
            .ServerName("smtp.test")
            .Endpoint(endpoint => endpoint.Endpoint(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, sink.Port))
                .AllowUnsecureAuthentication(true).AuthenticationRequired(true))
            .Build();
        var services = new SmtpServer.ComponentModel.ServiceProvider();
        services.Add((IMessageStore)sink);
        services.Add((IUserAuthenticator)sink);
        sink._running = new SmtpServer.SmtpServer(options, services).StartAsync(sink._stop.Token);
        return sink;
    }

    /// <summary>The next messages are refused with <paramref name="codes"/>, one each.</summary>
    public void Refuse(params SmtpReplyCode[] codes)
    {
        foreach (var code in codes)
        {
            _failures.Enqueue(code);
        }
    }

    /// <inheritdoc />
    public override async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _attempts);
        if (_failures.TryDequeue(out var code))
        {
            return new SmtpResponse(code, "refused by the test");
        }

        using var stream = new MemoryStream(buffer.ToArray());
        _messages.Enqueue(await MimeMessage.LoadAsync(stream, cancellationToken));
        return SmtpResponse.Ok;
    }

    /// <inheritdoc />
    public Task<bool> AuthenticateAsync(ISessionContext context, string user, string password, CancellationToken cancellationToken) =>
        Task.FromResult(user == _user && password == _password);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}

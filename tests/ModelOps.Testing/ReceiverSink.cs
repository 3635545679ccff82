using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ModelOps.Testing;

/// <summary>A request a receiver got: its path, its JSON body and when it came.</summary>
public sealed record Received(string Path, JsonElement Body, DateTimeOffset At);

/// <summary>
/// Local HTTP receivers for alerting's notifications: every POST is recorded by path, and answered by a rule the test
/// sets per path (200 unless told otherwise), so that failures (429 with Retry-After, 500, 400, a hang) can be played.
/// </summary>
public sealed class ReceiverSink : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Received> _received = new();
    private readonly ConcurrentDictionary<string, Func<int, (int Status, string? RetryAfter, TimeSpan Delay)>> _answers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);

    private ReceiverSink(WebApplication app) => _app = app;

    /// <summary>The sink's base address.</summary>
    public string Address => _app.Urls.First();

    /// <summary>Starts a sink on a free port.</summary>
    public static async Task<ReceiverSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var sink = new ReceiverSink(app);
        app.MapPost("/{**path}", async (HttpContext context) =>
        {
            var path = context.Request.Path.Value ?? "/";
            using var body = await JsonDocument.ParseAsync(context.Request.Body);
            var attempt = sink._attempts.AddOrUpdate(path, 1, (_, n) => n + 1);
            var (status, retryAfter, delay) = sink._answers.TryGetValue(path, out var answer) ? answer(attempt) : (200, null, TimeSpan.Zero);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay);
            }

            if (status is >= 200 and < 300)
            {
                sink._received.Enqueue(new Received(path, body.RootElement.Clone(), DateTimeOffset.UtcNow));
            }

            if (retryAfter is not null)
            {
                context.Response.Headers.RetryAfter = retryAfter;
            }

            context.Response.StatusCode = status;
        });
        await app.StartAsync();
        return sink;
    }

    /// <summary>How <paramref name="path"/> answers its n-th attempt (1-based).</summary>
    public void Answer(string path, Func<int, (int Status, string? RetryAfter, TimeSpan Delay)> answer) => _answers[path] = answer;

    /// <summary>The notifications <paramref name="path"/> accepted, in order.</summary>
    public IReadOnlyList<Received> At(string path) => [.. _received.Where(r => r.Path == path)];

    /// <summary>How many requests <paramref name="path"/> got, accepted or not.</summary>
    public int Attempts(string path) => _attempts.TryGetValue(path, out var n) ? n : 0;

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

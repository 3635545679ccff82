using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using ModelOps.Alerting.Domain;

namespace ModelOps.Alerting.Delivery;

/// <summary>How one attempt to deliver ended.</summary>
/// <param name="Sent">The receiver accepted it.</param>
/// <param name="Retryable">It failed in a way worth trying again (a timeout, no connection, 408, 429, 5xx).</param>
/// <param name="Status">The HTTP status, when there was an answer.</param>
/// <param name="RetryAfter">How long the receiver asked to wait (<c>Retry-After</c>).</param>
/// <param name="Error">What went wrong, without the target (a secret).</param>
public sealed record SendResult(bool Sent, bool Retryable, int? Status, TimeSpan? RetryAfter, string Error);

/// <summary>
/// Sends notification bodies to receivers (over HTTP here; Jira and e-mail in their own files), as Alertmanager's notifiers do: 2xx is success; 408, 429, 5xx
/// and transport failures are retried; any other answer is final. It owns its HTTP client rather than take one from
/// the factory, whose clients carry the shared resilience handler: retries here are the deliverer's, which persists
/// them, and a retry inside an attempt would hide a receiver's 429 and its Retry-After.
/// </summary>
public sealed partial class ReceiverClient(TimeProvider clock) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        AllowAutoRedirect = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Sends <paramref name="payload"/> to the integration <paramref name="settings"/> describes.</summary>
    public async Task<SendResult> SendAsync(IntegrationConfig settings, byte[] payload, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Func<CancellationToken, Task<SendResult>> send;
        try
        {
            send = Sender(settings, payload);
        }
        catch (InvalidOperationException e)
        {
            // A secret file that is missing or wrong is fixed by a person, and retried meanwhile.
            return new SendResult(false, true, null, null, e.Message);
        }

        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(timeout);
        try
        {
            return await send(attempt.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return TimedOut(timeout);
        }
    }

    // How to send to the integration; its secrets are read now, so that a rotated file takes effect at once.
    private Func<CancellationToken, Task<SendResult>> Sender(IntegrationConfig settings, byte[] payload)
    {
        switch (settings)
        {
            case WebhookConfig webhook:
                return Post(new Uri(webhook.Url.Reveal()), payload);
            case SlackConfig slack:
                return Post(new Uri(slack.ApiUrl.Reveal()), payload);
            case TeamsConfig teams:
                return Post(new Uri(teams.WebhookUrl.Reveal()), payload);
            case PagerDutyConfig pagerDuty:
                return Post(pagerDuty.Url, WithRoutingKey(payload, pagerDuty.RoutingKey.Reveal()));
            case JiraConfig jira:
                var authorization = JiraAuthorization(jira);
                return cancellationToken => SendToJiraAsync(jira, authorization, payload, cancellationToken);
            case EmailConfig email:
                var password = email.Password?.Reveal();
                return cancellationToken => SendEmailAsync(email, password, payload, cancellationToken);
            default:
                throw new NotSupportedException($"No sender for {settings.GetType().Name}.");
        }
    }

    private Func<CancellationToken, Task<SendResult>> Post(Uri url, byte[] body) =>
        async cancellationToken => (await ExchangeAsync(HttpMethod.Post, url, body, null, cancellationToken)).Result;

    private static SendResult TimedOut(TimeSpan timeout) => new(false, true, null, null, $"no answer within {timeout.TotalSeconds:0.#} s");

    // One request: its outcome, and the answer's body when it succeeded. Cancelled when the attempt's time is up.
    private async Task<(SendResult Result, byte[] Body)> ExchangeAsync(
        HttpMethod method, Uri url, byte[]? payload, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, url);
        if (payload is not null)
        {
            request.Content = new ByteArrayContent(payload);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }

        request.Headers.Authorization = authorization;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return (new SendResult(true, false, status, null, ""), await response.Content.ReadAsByteArrayAsync(cancellationToken));
            }

            var retryable = status is 408 or 429 or >= 500;
            return (new SendResult(false, retryable, status, RetryAfter(response.Headers.RetryAfter), $"the receiver answered HTTP {status} {response.ReasonPhrase}".TrimEnd()), []);
        }
        catch (HttpRequestException e)
        {
            // The message of a transport failure may carry the address; only its kind is kept.
            var kind = e.InnerException is SocketException socket ? socket.SocketErrorCode.ToString() : e.HttpRequestError.ToString();
            return (new SendResult(false, true, null, null, $"the receiver could not be reached ({kind})"), []);
        }
    }

    // The stored event has no routing key (a secret): it goes first, as PagerDuty's examples put it.
    private static byte[] WithRoutingKey(byte[] payload, string routingKey)
    {
        var stored = System.Text.Json.Nodes.JsonNode.Parse(payload)!.AsObject();
        var sent = new System.Text.Json.Nodes.JsonObject { [PagerDutyPayload.RoutingKeyField] = routingKey };
        foreach (var (name, value) in stored.ToList())
        {
            stored.Remove(name);
            sent[name] = value;
        }

        return System.Text.Encoding.UTF8.GetBytes(sent.ToJsonString());
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - clock.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}

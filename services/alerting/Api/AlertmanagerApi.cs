using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Alerting.Api;

/// <summary>
/// The part of Alertmanager's HTTP API v2 that Prometheus, amtool and existing tooling call: <c>POST/GET
/// /api/v2/alerts</c>, <c>GET/POST /api/v2/silences</c>, <c>GET/DELETE /api/v2/silence/{id}</c>, <c>GET
/// /api/v2/receivers</c>, <c>GET /api/v2/status</c>, and <c>/-/healthy</c>, <c>/-/ready</c>. It is served on the
/// HTTP/1.1 endpoint with the same bearer tokens as the gRPC APIs (Prometheus sends one with
/// <c>authorization.credentials_file</c>): posting alerts takes the <c>service</c> or <c>admin</c> role, silences
/// <c>reviewer</c> or <c>admin</c>, reading any role. Bad input is answered 400 with a JSON string saying what is
/// wrong, as Alertmanager answers, and nothing of a refused request is stored.
/// </summary>
public static class AlertmanagerApi
{
    /// <summary>The largest request body accepted, in bytes; larger ones are refused before they are read.</summary>
    public const long MaxBodyBytes = 16 << 20;

    /// <summary>Bounds of one alert.</summary>
    public const int MaxLabels = 64, MaxNameLength = 256, MaxLabelValueLength = 4096, MaxAnnotationLength = 65_536, MaxUrlLength = 4096;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        MaxDepth = 8,
    };

    /// <summary>Maps the API.</summary>
    public static WebApplication MapAlertmanagerApi(this WebApplication app)
    {
        app.MapGet("/-/healthy", () => Results.Text("OK")).AllowAnonymous();
        app.MapGet("/-/ready", (ConfigState configs) => configs.Loaded ? Results.Text("OK") : Results.StatusCode(503)).AllowAnonymous();

        var api = app.MapGroup("/api/v2");
        api.MapPost("/alerts", PostAlertsAsync).RequireAuthorization(policy => policy.RequireRole(Roles.Service, Roles.Admin))
            .WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));
        api.MapGet("/alerts", GetAlertsAsync);
        api.MapGet("/silences", GetSilencesAsync);
        api.MapPost("/silences", PostSilenceAsync).RequireAuthorization(policy => policy.RequireRole(Roles.Reviewer, Roles.Admin))
            .WithMetadata(new RequestSizeLimitAttribute(1 << 20));
        api.MapGet("/silence/{id}", GetSilenceAsync);
        api.MapDelete("/silence/{id}", DeleteSilenceAsync).RequireAuthorization(policy => policy.RequireRole(Roles.Reviewer, Roles.Admin));
        api.MapGet("/receivers", (ConfigState configs) => Results.Json(configs.Current.Config.Receivers.Select(r => new { name = r.Name })));
        api.MapGet("/status", GetStatus);
        return app;
    }

    private static async Task<IResult> PostAlertsAsync(
        HttpRequest request, IngestQueue queue, ConfigState configs, IOptions<AlertingOptions> options, TimeProvider clock, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        List<PostableAlert>? posted;
        try
        {
            posted = await JsonSerializer.DeserializeAsync<List<PostableAlert>>(request.Body, Json, cancellationToken);
        }
        catch (JsonException e)
        {
            return BadRequest($"the body is not a JSON array of alerts: {e.Message}");
        }

        if (posted is null)
        {
            return BadRequest("the body must be a JSON array of alerts");
        }

        if (posted.Count > options.Value.MaxAlertsPerRequest)
        {
            return BadRequest($"at most {options.Value.MaxAlertsPerRequest} alerts per request, not {posted.Count}");
        }

        var config = configs.Current;
        var now = clock.GetUtcNow();
        var logger = loggers.CreateLogger(typeof(AlertmanagerApi));
        List<Alert> alerts = new(posted.Count);
        for (var i = 0; i < posted.Count; i++)
        {
            if (Parse(posted[i], now, config.Config.ResolveTimeout, out var problem) is { } alert)
            {
                alerts.Add(alert);
            }
            else
            {
                return BadRequest($"alerts[{i}]: {problem}");
            }
        }

        if (alerts.Count == 0)
        {
            return Results.Ok();
        }

        try
        {
            await queue.IngestAsync(alerts, cancellationToken);
            return Results.Ok();
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Nothing was stored. A client never sees exception text: a database away is 503 (Prometheus retries 5xx), a
            // defect 500 with the key to the log.
            if (ServiceDefaults.Errors.TransientFaults.IsTransient(exception))
            {
                request.HttpContext.Response.Headers.RetryAfter = "5";
                return Results.Json("the alerts could not be stored now (the database is unavailable); retry", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            var correlation = System.Diagnostics.Activity.Current?.TraceId.ToHexString() ?? Guid.NewGuid().ToString("N");
            logger.LogError(exception, "Storing posted alerts failed (correlation id {CorrelationId})", correlation);
            return Results.Json($"internal error; correlation id {correlation}", statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static Alert? Parse(PostableAlert posted, DateTimeOffset now, TimeSpan resolveTimeout, out string problem)
    {
        problem = "";
        if (posted.Labels is not { Count: > 0 } labels)
        {
            problem = "at least one label pair required";
            return null;
        }

        if (labels.Count > MaxLabels || (posted.Annotations?.Count ?? 0) > MaxLabels)
        {
            problem = $"at most {MaxLabels} labels and {MaxLabels} annotations";
            return null;
        }

        foreach (var (name, value) in labels)
        {
            if (name.Length > MaxNameLength || value is null || value.Length > MaxLabelValueLength)
            {
                problem = $"label {Cut(name)}: names of at most {MaxNameLength} characters and values of at most {MaxLabelValueLength}";
                return null;
            }
        }

        foreach (var (name, value) in posted.Annotations ?? [])
        {
            if (name.Length > MaxNameLength || value is null || value.Length > MaxAnnotationLength)
            {
                problem = $"annotation {Cut(name)}: names of at most {MaxNameLength} characters and values of at most {MaxAnnotationLength}";
                return null;
            }
        }

        if (posted.GeneratorUrl is { Length: > MaxUrlLength })
        {
            problem = $"generatorURL is longer than {MaxUrlLength} characters";
            return null;
        }

        if (!Instant(posted.StartsAt, "startsAt", out var startsAt, ref problem) || !Instant(posted.EndsAt, "endsAt", out var endsAt, ref problem))
        {
            return null;
        }

        var alert = Alert.Received(
            new LabelSet(labels.Select(l => KeyValuePair.Create(l.Key, l.Value!))),
            posted.Annotations?.Where(a => a.Value is { Length: > 0 }).ToDictionary(a => a.Key, a => a.Value!) ?? [],
            startsAt, endsAt, posted.GeneratorUrl, now, resolveTimeout);
        if (alert.Problem() is { } invalid)
        {
            problem = invalid;
            return null;
        }

        return alert;
    }

    // Go's zero time, which Alertmanager's clients send for "unset", counts as absent.
    private static bool Instant(string? text, string field, out DateTimeOffset? value, ref string problem)
    {
        value = null;
        if (string.IsNullOrEmpty(text) || text.StartsWith("0001-01-01T00:00:00", StringComparison.Ordinal))
        {
            return true;
        }

        if (text.Length <= 64 && DateTimeOffset.TryParse(TrimFraction(text), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var parsed))
        {
            value = parsed;
            return true;
        }

        problem = $"{field} is not an RFC 3339 date-time";
        return false;

        // Go writes nanoseconds; .NET reads at most seven fractional digits.
        static string TrimFraction(string s)
        {
            var dot = s.IndexOf('.', StringComparison.Ordinal);
            if (dot < 0)
            {
                return s;
            }

            var end = dot + 1;
            while (end < s.Length && char.IsAsciiDigit(s[end]))
            {
                end++;
            }

            return end - dot - 1 > 7 ? s[..(dot + 8)] + s[end..] : s;
        }
    }

    private static async Task<IResult> GetAlertsAsync(
        HttpRequest request, AlertStore store, ConfigState configs, TimeProvider clock, CancellationToken cancellationToken,
        bool active = true, bool silenced = true, bool inhibited = true, string? receiver = null)
    {
        if (!Filter(request, out var matchers, out var problem))
        {
            return BadRequest(problem);
        }

        Domain.Matcher? receiverMatcher = null;
        if (receiver is not null)
        {
            try
            {
                receiverMatcher = Domain.Matcher.Create(MatcherType.Regexp, "receiver", receiver);
            }
            catch (FormatException e)
            {
                return BadRequest(e.Message);
            }
        }

        List<object> shown = [];
        var receiverLabel = (string r) => receiverMatcher!.Matches(new LabelSet([KeyValuePair.Create("receiver", r)]));
        foreach (var listed in await AlertListing.ListAsync(store, configs.Current, matchers, receiverMatcher is null ? null : receiverLabel, clock.GetUtcNow(), cancellationToken))
        {
            var (alert, receivers) = (listed.Alert, listed.Receivers);
            var silencedBy = listed.SilencedBy.Select(s => s.ToString()).ToList();
            var inhibitedBy = listed.InhibitedBy is { } source ? [source.ToString("x16", CultureInfo.InvariantCulture)] : new List<string>();
            if ((!listed.Suppressed && !active) || (silencedBy.Count > 0 && !silenced) || (inhibitedBy.Count > 0 && !inhibited))
            {
                continue;
            }

            shown.Add(new
            {
                labels = alert.Labels.Labels,
                annotations = alert.Annotations,
                startsAt = Notification.Time(alert.StartsAt),
                endsAt = Notification.Time(alert.EndsAt),
                updatedAt = Notification.Time(alert.UpdatedAt),
                generatorURL = alert.GeneratorUrl ?? "",
                fingerprint = alert.Labels.FingerprintText(),
                receivers = receivers.Select(r => new { name = r }),
                status = new { state = listed.Suppressed ? "suppressed" : "active", silencedBy, inhibitedBy },
            });
        }

        return Results.Json(shown);
    }

    private static async Task<IResult> GetSilencesAsync(HttpRequest request, AlertStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!Filter(request, out var matchers, out var problem))
        {
            return BadRequest(problem);
        }

        var now = clock.GetUtcNow();
        // Alertmanager keeps expired silences for its retention (5 days by default); so does this list.
        var silences = await store.ListSilencesAsync(now - TimeSpan.FromDays(5), 10_000, cancellationToken);
        return Results.Json(silences
            .Where(s => matchers.Items.All(m => s.Matchers.Items.Any(sm => sm.Name == m.Name && m.Matches(new LabelSet([KeyValuePair.Create(sm.Name, sm.Value)])))))
            .Select(s => Gettable(s, now)));
    }

    private static async Task<IResult> GetSilenceAsync(string id, AlertStore store, TimeProvider clock, CancellationToken cancellationToken) =>
        !Guid.TryParse(id, out var silenceId) ? BadRequest("the silence id is not a UUID")
        : await store.GetSilenceAsync(silenceId, cancellationToken) is { } silence ? Results.Json(Gettable(silence, clock.GetUtcNow()))
        : Results.NotFound();

    private static async Task<IResult> DeleteSilenceAsync(string id, HttpContext context, AlertStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var silenceId))
        {
            return BadRequest("the silence id is not a UUID");
        }

        var actor = Caller.FromPrincipal(context.User).Actor;
        return await store.ExpireSilenceAsync(silenceId, actor, clock.GetUtcNow(), cancellationToken) is null ? Results.NotFound() : Results.Ok();
    }

    private static async Task<IResult> PostSilenceAsync(HttpContext context, AlertStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        PostableSilence? posted;
        try
        {
            posted = await JsonSerializer.DeserializeAsync<PostableSilence>(context.Request.Body, Json, cancellationToken);
        }
        catch (JsonException e)
        {
            return BadRequest($"the body is not a silence: {e.Message}");
        }

        if (posted is null)
        {
            return BadRequest("the body must be a silence");
        }

        if (!string.IsNullOrEmpty(posted.Id))
        {
            return BadRequest("a silence is not updated in place: expire it (DELETE /api/v2/silence/{id}) and create another");
        }

        var now = clock.GetUtcNow();
        List<Domain.Matcher> matchers = [];
        string problem = "";
        try
        {
            matchers.AddRange((posted.Matchers ?? []).Take(Silence.MaxMatchers + 1).Select(m => new MatcherJson(m.Name ?? "", m.Value ?? "", m.IsRegex, m.IsEqual ?? true).ToMatcher()));
        }
        catch (FormatException e)
        {
            return BadRequest(e.Message);
        }

        if (!Instant(posted.StartsAt, "startsAt", out var startsAt, ref problem) || !Instant(posted.EndsAt, "endsAt", out var endsAt, ref problem))
        {
            return BadRequest(problem);
        }

        if (endsAt is null)
        {
            return BadRequest("endsAt is required");
        }

        var silence = new Silence
        {
            Id = Guid.CreateVersion7(),
            Matchers = new Matchers(matchers),
            // A start in the past means now, as in Alertmanager.
            StartsAt = startsAt is { } s && s > now ? s : now,
            EndsAt = endsAt.Value,
            CreatedBy = posted.CreatedBy ?? "",
            Comment = posted.Comment ?? "",
            UpdatedAt = now,
        };
        if (silence.Problem(now) is { } invalid)
        {
            return BadRequest(invalid);
        }

        await store.CreateSilenceAsync(silence, Caller.FromPrincipal(context.User).Actor, cancellationToken);
        return Results.Json(new { silenceID = silence.Id.ToString() });
    }

    // When this process started, as Alertmanager's status reports its own start.
    private static readonly DateTimeOffset StartedAt = System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime();

    private static IResult GetStatus(ConfigState configs)
    {
        var config = configs.Current;
        return Results.Json(new
        {
            cluster = new { status = "ready", peers = Array.Empty<object>() },
            // The configuration holds receivers' secrets: only its version and hash are shown.
            config = new { original = $"# version {config.Version}, sha256 {ActiveConfig.Hash(config.Yaml)}" },
            versionInfo = new { version = "modelops", branch = "", revision = "", buildUser = "", buildDate = "", goVersion = "" },
            uptime = Notification.Time(StartedAt),
        });
    }

    // Alertmanager's `filter` query parameters: each one matcher.
    private static bool Filter(HttpRequest request, out Matchers matchers, out string problem)
    {
        problem = "";
        List<Domain.Matcher> parsed = [];
        foreach (var text in request.Query["filter"])
        {
            try
            {
                parsed.AddRange(Domain.Matcher.ParseList(text ?? ""));
            }
            catch (FormatException e)
            {
                problem = $"filter: {e.Message}";
                matchers = Matchers.None;
                return false;
            }
        }

        matchers = new Matchers(parsed);
        return true;
    }

    private static object Gettable(Silence silence, DateTimeOffset now) => new
    {
        id = silence.Id.ToString(),
        matchers = silence.Matchers.Items.Select(MatcherJson.From),
        startsAt = Notification.Time(silence.StartsAt),
        endsAt = Notification.Time(silence.EndsAt),
        updatedAt = Notification.Time(silence.UpdatedAt),
        createdBy = silence.CreatedBy,
        comment = silence.Comment,
        status = new { state = silence.StateAt(now).ToString().ToLowerInvariant() },
    };

    private static string Cut(string text) => text.Length <= 64 ? text : text[..64] + "…";

    private static IResult BadRequest(string message) => Results.Json(message, statusCode: StatusCodes.Status400BadRequest);

    private sealed record PostableAlert(
        Dictionary<string, string?>? Labels, Dictionary<string, string?>? Annotations, string? StartsAt, string? EndsAt,
        [property: JsonPropertyName("generatorURL")] string? GeneratorUrl);

    private sealed record PostableMatcher(string? Name, string? Value, bool IsRegex, bool? IsEqual);

    private sealed record PostableSilence(
        string? Id, List<PostableMatcher>? Matchers, string? StartsAt, string? EndsAt, string? CreatedBy, string? Comment);
}

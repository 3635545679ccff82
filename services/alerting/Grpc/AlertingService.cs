using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Alerting.Api;
using ModelOps.Alerting.Data;
using ModelOps.Alerting.Domain;
using ModelOps.Alerting.V1;
using MatcherType = ModelOps.Alerting.Domain.MatcherType;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;
using Route = ModelOps.Alerting.Domain.Route;
using MatchType = ModelOps.Alerting.V1.MatcherType;
using Silence = ModelOps.Alerting.Domain.Silence;

namespace ModelOps.Alerting.Grpc;

/// <summary>
/// Alerting's gRPC API: alerts, silences, the configuration, the delivery log and retraining requests. Every input is
/// bounded and checked before any work is done on it; a refused request changes nothing.
/// </summary>
public sealed class AlertingService(AlertStore store, ConfigState configs, TimeProvider clock) : V1.AlertingService.AlertingServiceBase
{
    /// <summary>Most filter matchers of one listing.</summary>
    public const int MaxFilters = 16;

    /// <summary>Longest receiver, model or label name asked for.</summary>
    public const int MaxNameLength = 256;

    /// <summary>Longest configuration change comment.</summary>
    public const int MaxCommentLength = 1024;

    /// <summary>The furthest end a silence may have.</summary>
    public static readonly TimeSpan MaxSilence = TimeSpan.FromDays(366);

    // Expired silences are listed for as long as Alertmanager keeps them.
    private static readonly TimeSpan SilenceRetention = TimeSpan.FromDays(5);

    private static readonly string[] DeliveryStates = ["pending", "sent", "dead"];

    /// <inheritdoc />
    public override async Task<ListAlertsResponse> ListAlerts(ListAlertsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        violations.Require(request.Filter.Count <= MaxFilters, "filter", $"at most {MaxFilters} matchers");
        List<Domain.Matcher> matchers = [];
        for (var i = 0; i < Math.Min(request.Filter.Count, MaxFilters); i++)
        {
            if (request.Filter[i].Length > Domain.Matcher.MaxValueLength)
            {
                violations.Add($"filter[{i}]", $"is longer than {Domain.Matcher.MaxValueLength} characters");
                continue;
            }

            try
            {
                matchers.AddRange(Domain.Matcher.ParseList(request.Filter[i]));
            }
            catch (FormatException e)
            {
                violations.Add($"filter[{i}]", e.Message);
            }
        }

        var receiver = TextRules.Name(violations, "receiver", request.Receiver, MaxNameLength, required: false);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("alerts", string.Join('\n', request.Filter), receiver, request.ActiveOnly.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();

        var listed = await AlertListing.ListAsync(store, configs.Current, new Matchers(matchers), receiver.Length == 0 ? null : r => r == receiver,
            clock.GetUtcNow(), context.CancellationToken);
        var shown = listed.Where(a => !request.ActiveOnly || !a.Suppressed).OrderByDescending(a => a.Alert.StartsAt).ThenBy(a => a.Alert.Labels.Fingerprint())
            .Skip((int)Math.Min(offset, int.MaxValue)).Take(pageSize + 1).ToList();
        return new ListAlertsResponse
        {
            Alerts = { shown.Take(pageSize).Select(ToProto) },
            NextPageToken = Paging.NextToken(shown.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Reviewer},{Roles.Admin}")]
    public override async Task<V1.Silence> CreateSilence(CreateSilenceRequest request, ServerCallContext context)
    {
        var now = clock.GetUtcNow();
        var violations = new FieldViolations();
        violations.Require(request.Matchers.Count is > 0 and <= Silence.MaxMatchers, "matchers", $"1 to {Silence.MaxMatchers} matchers are required");
        var matchers = Matchers(request.Matchers.Take(Silence.MaxMatchers), "matchers", violations);
        var startsAt = Timestamps.Check(violations, "starts_at", request.StartsAt);
        var endsAt = Timestamps.Check(violations, "ends_at", request.EndsAt, required: true);
        TextRules.FreeText(violations, "comment", request.Comment, Silence.MaxCommentLength, required: true);
        violations.Require(endsAt is null || endsAt <= now + MaxSilence, "ends_at", $"must be at most {MaxSilence.TotalDays:0} days from now");
        violations.ThrowIfAny("The silence was not created.");

        var silence = new Silence
        {
            Id = Guid.CreateVersion7(),
            Matchers = new Matchers(matchers),
            // A start in the past means now, as in Alertmanager.
            StartsAt = startsAt is { } s && s > now ? s : now,
            EndsAt = endsAt!.Value,
            CreatedBy = context.GetCaller().Actor,
            Comment = request.Comment,
            UpdatedAt = now,
        };
        if (silence.Problem(now) is { } problem)
        {
            throw ServiceErrors.InvalidArgument(problem.Contains("matcher", StringComparison.Ordinal) ? "matchers" : "ends_at", problem);
        }

        await store.CreateSilenceAsync(silence, context.GetCaller().Actor, context.CancellationToken);
        return ToProto(silence, now);
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Reviewer},{Roles.Admin}")]
    public override async Task<V1.Silence> ExpireSilence(ExpireSilenceRequest request, ServerCallContext context)
    {
        var id = SilenceId(request.SilenceId);
        var now = clock.GetUtcNow();
        var silence = await store.ExpireSilenceAsync(id, context.GetCaller().Actor, now, context.CancellationToken)
                      ?? throw ServiceErrors.NotFound("silence", request.SilenceId);
        return ToProto(silence, now);
    }

    /// <inheritdoc />
    public override async Task<V1.Silence> GetSilence(GetSilenceRequest request, ServerCallContext context)
    {
        var id = SilenceId(request.SilenceId);
        return await store.GetSilenceAsync(id, context.CancellationToken) is { } silence
            ? ToProto(silence, clock.GetUtcNow())
            : throw ServiceErrors.NotFound("silence", request.SilenceId);
    }

    /// <inheritdoc />
    public override async Task<ListSilencesResponse> ListSilences(ListSilencesRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("silences", request.ActiveOnly.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();

        var now = clock.GetUtcNow();
        var silences = (await store.ListSilencesAsync(request.ActiveOnly ? now : now - SilenceRetention, AlertListing.MaxListed, context.CancellationToken))
            .Where(s => !request.ActiveOnly || s.StateAt(now) != SilenceState.Expired)
            .Skip((int)Math.Min(offset, int.MaxValue)).Take(pageSize + 1).ToList();
        return new ListSilencesResponse
        {
            Silences = { silences.Take(pageSize).Select(s => ToProto(s, now)) },
            NextPageToken = Paging.NextToken(silences.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    public override async Task<Config> GetConfig(GetConfigRequest request, ServerCallContext context) =>
        await ToProtoAsync(configs.Current, context.CancellationToken);

    /// <inheritdoc />
    [Authorize(Roles = Roles.Admin)]
    public override async Task<ApplyConfigResponse> ApplyConfig(ApplyConfigRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        if (request.Yaml.Length == 0)
        {
            violations.Add("yaml", "is required: Alertmanager's YAML");
        }
        else if (request.Yaml.Length > ConfigLoader.MaxLength || System.Text.Encoding.UTF8.GetByteCount(request.Yaml) > ConfigLoader.MaxLength)
        {
            violations.Add("yaml", $"is larger than {ConfigLoader.MaxLength} bytes");
        }

        TextRules.FreeText(violations, "comment", request.Comment, MaxCommentLength);
        violations.ThrowIfAny("The configuration was not applied.");
        ActiveConfig config;
        bool changed;
        try
        {
            // The text is checked whole before anything is written.
            (config, changed) = await store.SaveConfigAsync(request.Yaml, context.GetCaller().Actor,
                request.Comment.Length > 0 ? request.Comment : "applied over the API", clock.GetUtcNow(), context.CancellationToken);
        }
        catch (ConfigException e)
        {
            foreach (var error in e.Errors)
            {
                violations.Add("yaml", error.ToString());
            }

            violations.ThrowIfAny("The configuration was not applied: it is not valid.");
            throw;
        }

        configs.Offer(config);
        return new ApplyConfigResponse { Config = await ToProtoAsync(config, context.CancellationToken), Changed = changed };
    }

    /// <inheritdoc />
    public override async Task<ListDeliveriesResponse> ListDeliveries(ListDeliveriesRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var receiver = TextRules.Name(violations, "receiver", request.Receiver, MaxNameLength, required: false);
        ulong? alert = null;
        if (request.Fingerprint.Length > 0)
        {
            if (request.Fingerprint.Length == 16 && ulong.TryParse(request.Fingerprint, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var parsed))
            {
                alert = parsed;
            }
            else
            {
                violations.Add("fingerprint", "must be 16 hex digits");
            }
        }

        violations.Require(request.Status.Length == 0 || DeliveryStates.Contains(request.Status), "status",
            $"must be one of {string.Join(", ", DeliveryStates)}, or empty");
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("deliveries", receiver, request.Fingerprint, request.Status);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();

        var deliveries = await store.ListDeliveriesAsync(receiver.Length == 0 ? null : receiver, alert, request.Status.Length == 0 ? null : request.Status,
            offset, pageSize + 1, context.CancellationToken);
        return new ListDeliveriesResponse
        {
            Deliveries = { deliveries.Take(pageSize).Select(ToProto) },
            NextPageToken = Paging.NextToken(deliveries.Count, pageSize, offset, fingerprint),
        };
    }

    /// <inheritdoc />
    public override async Task<ListRetrainRequestsResponse> ListRetrainRequests(ListRetrainRequestsRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var model = TextRules.Name(violations, "model", request.Model, MaxNameLength, required: false);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("retrain", model);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();

        var requests = await store.ListRetrainRequestsAsync(model.Length == 0 ? null : model, offset, pageSize + 1, context.CancellationToken);
        return new ListRetrainRequestsResponse
        {
            Requests =
            {
                requests.Take(pageSize).Select(r => new RetrainRequest
                {
                    RequestId = r.Id.ToString(), Policy = r.Policy, Model = r.Model, Status = r.Status, FindingEventId = r.FindingEventId.ToString(),
                    RequestedAt = Timestamp.FromDateTimeOffset(r.RequestedAt), RunId = r.RunId ?? "",
                    FinishedAt = r.FinishedAt is { } finished ? Timestamp.FromDateTimeOffset(finished) : null,
                }),
            },
            NextPageToken = Paging.NextToken(requests.Count, pageSize, offset, fingerprint),
        };
    }

    private static Guid SilenceId(string text) => TextRules.Uuid("silence_id", text);

    private static List<Domain.Matcher> Matchers(IEnumerable<V1.Matcher> matchers, string field, FieldViolations violations)
    {
        List<Domain.Matcher> result = [];
        var i = 0;
        foreach (var matcher in matchers)
        {
            var at = $"{field}[{i++}]";
            if (matcher.Name.Length is 0 or > MaxNameLength)
            {
                violations.Add($"{at}.name", $"is required: 1 to {MaxNameLength} characters");
                continue;
            }

            MatcherType? type = matcher.Type switch
            {
                MatchType.Equal => MatcherType.Equal,
                MatchType.NotEqual => MatcherType.NotEqual,
                MatchType.Regexp => MatcherType.Regexp,
                MatchType.NotRegexp => MatcherType.NotRegexp,
                _ => null,
            };
            if (type is null)
            {
                violations.Add($"{at}.type", "must be EQUAL, NOT_EQUAL, REGEXP or NOT_REGEXP");
                continue;
            }

            try
            {
                result.Add(Domain.Matcher.Create(type.Value, matcher.Name, matcher.Value));
            }
            catch (FormatException e)
            {
                violations.Add(e.Message.Contains("label name", StringComparison.Ordinal) ? $"{at}.name" : $"{at}.value", e.Message);
            }
        }

        return result;
    }

    private static V1.Alert ToProto(ListedAlert listed) => new()
    {
        Fingerprint = listed.Alert.Labels.FingerprintText(),
        Labels = { listed.Alert.Labels.Labels.ToDictionary() },
        Annotations = { listed.Alert.Annotations.ToDictionary() },
        StartsAt = Timestamp.FromDateTimeOffset(listed.Alert.StartsAt),
        EndsAt = Timestamp.FromDateTimeOffset(listed.Alert.EndsAt),
        UpdatedAt = Timestamp.FromDateTimeOffset(listed.Alert.UpdatedAt),
        GeneratorUrl = listed.Alert.GeneratorUrl ?? "",
        Receivers = { listed.Receivers },
        SilencedBy = { listed.SilencedBy.Select(s => s.ToString()) },
        InhibitedBy = listed.InhibitedBy?.ToString("x16", CultureInfo.InvariantCulture) ?? "",
    };

    private static V1.Silence ToProto(Silence silence, DateTimeOffset now) => new()
    {
        SilenceId = silence.Id.ToString(),
        Matchers =
        {
            silence.Matchers.Items.Select(m => new V1.Matcher
            {
                Name = m.Name,
                Value = m.Value,
                Type = m.Type switch
                {
                    MatcherType.Equal => MatchType.Equal,
                    MatcherType.NotEqual => MatchType.NotEqual,
                    MatcherType.Regexp => MatchType.Regexp,
                    _ => MatchType.NotRegexp,
                },
            }),
        },
        StartsAt = Timestamp.FromDateTimeOffset(silence.StartsAt),
        EndsAt = Timestamp.FromDateTimeOffset(silence.EndsAt),
        CreatedBy = silence.CreatedBy,
        Comment = silence.Comment,
        UpdatedAt = Timestamp.FromDateTimeOffset(silence.UpdatedAt),
        State = silence.StateAt(now).ToString().ToLowerInvariant(),
    };

    private static V1.Delivery ToProto(DeliveryRecord delivery) => new()
    {
        Id = delivery.Id,
        GroupKey = delivery.GroupKey,
        Receiver = delivery.Receiver,
        Integration = delivery.Integration,
        Status = delivery.Status,
        Firing = delivery.Firing,
        Alerts = { delivery.Alerts.Select(f => f.ToString("x16", CultureInfo.InvariantCulture)) },
        Attempts = delivery.Attempts,
        LastStatus = delivery.LastStatus ?? 0,
        LastError = delivery.LastError ?? "",
        CreatedAt = Timestamp.FromDateTimeOffset(delivery.CreatedAt),
        FinishedAt = delivery.FinishedAt is { } finished ? Timestamp.FromDateTimeOffset(finished) : null,
        NextAttemptAt = Timestamp.FromDateTimeOffset(delivery.NextAttemptAt),
    };

    private async Task<Config> ToProtoAsync(ActiveConfig config, CancellationToken cancellationToken)
    {
        var (author, comment, createdAt) = await store.ConfigVersionInfoAsync(config.Version, cancellationToken);
        return new Config
        {
            Version = config.Version,
            Sha256 = ActiveConfig.Hash(config.Yaml),
            Author = author,
            Comment = comment,
            CreatedAt = Timestamp.FromDateTimeOffset(createdAt),
            Routes = { RoutesOf(config.Root, "0") },
            Receivers = { config.Config.Receivers.Select(r => new Receiver { Name = r.Name, Integrations = { r.Integrations.Select(i => i.Integration) } }) },
            RetrainPolicies =
            {
                config.Config.RetrainPolicies.Select(p => new V1.RetrainPolicy
                {
                    Name = p.Name, Matchers = { p.Matchers.Items.Select(m => m.ToString()) }, Thresholds = { p.Thresholds.ToDictionary() },
                    CooldownSeconds = p.Cooldown.TotalSeconds, TimeoutSeconds = p.Timeout.TotalSeconds, Receiver = p.Receiver,
                    BusinessHours = p.BusinessHours is not null,
                }),
            },
        };
    }

    private static IEnumerable<V1.Route> RoutesOf(Route route, string id)
    {
        yield return new V1.Route
        {
            Id = id,
            Matchers = { route.Matchers.Items.Select(m => m.ToString()) },
            Receiver = route.Receiver,
            GroupBy = { route.GroupByAll ? ["..."] : route.GroupBy },
            Continue = route.Continue,
            GroupWaitSeconds = route.GroupWait.TotalSeconds,
            GroupIntervalSeconds = route.GroupInterval.TotalSeconds,
            RepeatIntervalSeconds = route.RepeatInterval.TotalSeconds,
        };
        for (var i = 0; i < route.Routes.Count; i++)
        {
            foreach (var child in RoutesOf(route.Routes[i], $"{id}.{i}"))
            {
                yield return child;
            }
        }
    }
}

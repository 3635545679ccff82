extern alias alerting;
using System.Text.Json;
using alerting::ModelOps.Alerting.Domain;

namespace ModelOps.Unit.Tests.Alerting;

/// <summary>
/// Alerting's Alertmanager semantics against Alertmanager 0.25 itself (Fixtures/make_alertmanager_fixtures.py: amtool's
/// routing and a running Alertmanager's webhook messages), Prometheus's published fingerprint vectors and
/// Alertmanager's own table of deduplication cases.
/// </summary>
public sealed class AlertingTests
{
    private static readonly JsonElement Fixture =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "alertmanager.json"))).RootElement;

    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);

    private static LabelSet Labels(JsonElement map) =>
        new(map.EnumerateObject().Select(p => KeyValuePair.Create(p.Name, p.Value.GetString()!)));

    private static LabelSet Labels(params string[] pairs) =>
        new(pairs.Chunk(2).Select(p => KeyValuePair.Create(p[0], p[1])));

    private static string Compact(JsonElement element) => JsonSerializer.Serialize(element);

    [Fact]
    public void FingerprintsArePrometheusPublishedVectorsAndAlertmanagersOwn()
    {
        // prometheus/common model/signature_test.go and fingerprinting_test.go.
        Assert.Equal(14695981039346656037UL, LabelSet.Empty.Fingerprint());
        Assert.Equal(5799056148416392346UL, Labels("name", "garland, briggs", "fear", "love is not enough").Fingerprint());

        var cases = Fixture.GetProperty("notifications").GetProperty("fingerprints").EnumerateArray().ToList();
        Assert.Equal(8, cases.Count);
        Assert.All(cases, c => Assert.Equal(c.GetProperty("fingerprint").GetString(), Labels(c.GetProperty("labels")).FingerprintText()));
    }

    [Fact]
    public void AlertsAreRoutedToTheReceiversAmtoolResolves()
    {
        var root = Route.Build(ConfigLoader.Load(Fixture.GetProperty("routes").GetProperty("config").GetString()!).Route);
        var cases = Fixture.GetProperty("routes").GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(18, cases.Count);
        Assert.All(cases, c => Assert.Equal(
            c.GetProperty("receivers").EnumerateArray().Select(r => r.GetString()!).ToList(),
            root.Match(Labels(c.GetProperty("labels"))).Select(r => r.Receiver).ToList()));
    }

    [Fact]
    public void GroupsAndWebhookMessagesAreAlertmanagersForTheSameAlerts()
    {
        var notifications = Fixture.GetProperty("notifications");
        var config = ConfigLoader.Load(notifications.GetProperty("config").GetString()!.Replace("%(port)d", "9", StringComparison.Ordinal));
        var root = Route.Build(config.Route);
        var alerts = notifications.GetProperty("alerts").EnumerateArray().Select(a => Alert.Received(
            Labels(a.GetProperty("labels")),
            a.GetProperty("annotations").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            a.TryGetProperty("startsAt", out var s) ? s.GetDateTimeOffset() : null,
            a.TryGetProperty("endsAt", out var e) ? e.GetDateTimeOffset() : null,
            null, Now, config.ResolveTimeout)).ToList();

        // Each alert joins a group per route it matches; a group with something firing is notified (once, at first).
        var messages = alerts
            .SelectMany(a => root.GroupsOf(a.Labels).Select(g => (Group: g, Alert: a)))
            .GroupBy(x => x.Group.Id)
            .Select(g => (Group: g.First().Group, Alerts: Notification.Ordered(g.Select(x => x.Alert))))
            .Where(g => NotificationLog.NeedsUpdate(null, g.Alerts.Where(a => !a.ResolvedAt(Now)).Select(a => a.Fingerprint).ToHashSet(),
                g.Alerts.Where(a => a.ResolvedAt(Now)).Select(a => a.Fingerprint).ToHashSet(), true, g.Group.Route.RepeatInterval, Now))
            .Select(g => JsonDocument.Parse(WebhookPayload.Build(new Notification
            {
                Receiver = g.Group.Route.Receiver,
                GroupKey = g.Group.Key,
                GroupLabels = g.Group.Labels,
                Alerts = g.Alerts,
                At = Now,
                ExternalUrl = "http://alerting",
            }, config.Receiver(g.Group.Route.Receiver).Webhooks[0].MaxAlerts)).RootElement)
            .OrderBy(m => m.GetProperty("receiver").GetString(), StringComparer.Ordinal)
            .ThenBy(m => m.GetProperty("groupKey").GetString(), StringComparer.Ordinal)
            .ToList();

        var expected = notifications.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(4, expected.Count);
        Assert.Equal(expected.Count, messages.Count);
        foreach (var (want, got) in expected.Zip(messages))
        {
            foreach (var field in new[] { "receiver", "status", "groupKey", "version" })
            {
                Assert.Equal(want.GetProperty(field).GetString(), got.GetProperty(field).GetString());
            }

            Assert.Equal(want.GetProperty("truncatedAlerts").GetInt32(), got.GetProperty("truncatedAlerts").GetInt32());
            foreach (var field in new[] { "groupLabels", "commonLabels", "commonAnnotations" })
            {
                Assert.Equal(Compact(want.GetProperty(field)), Compact(got.GetProperty(field)));
            }

            var wantAlerts = want.GetProperty("alerts").EnumerateArray().ToList();
            var gotAlerts = got.GetProperty("alerts").EnumerateArray().ToList();
            Assert.Equal(wantAlerts.Count, gotAlerts.Count);
            foreach (var (w, g) in wantAlerts.Zip(gotAlerts))
            {
                foreach (var field in new[] { "status", "fingerprint", "endsAt" })
                {
                    Assert.Equal(w.GetProperty(field).GetString(), g.GetProperty(field).GetString());
                }

                Assert.Equal(Compact(w.GetProperty("labels")), Compact(g.GetProperty("labels")));
                Assert.Equal(Compact(w.GetProperty("annotations")), Compact(g.GetProperty("annotations")));
            }
        }
    }

    // Alertmanager's notify_test.go TestDedupStageNeedsUpdate, case by case.
    public static TheoryData<ulong[]?, ulong[]?, int?, ulong[], ulong[], bool, int, bool> DedupCases() => new()
    {
        { null, null, null, [2, 3, 4], [], false, 0, true },
        { null, null, null, [], [2, 3, 4], false, 0, false },
        { [1, 2, 3], [], 0, [2, 3, 4], [], false, 0, true },
        { [1, 2, 3], [], null, [1, 2, 3], [], false, 0, true },
        { [1, 2, 3], [], -9, [1, 2, 3], [], false, 10, false },
        { [1, 2, 3], [], -11, [1, 2, 3], [], false, 10, true },
        { [], [1, 2, 3], -11, [], [3, 4, 5], true, 10, false },
        { [1, 2], [3], -9, [1], [2, 3], false, 10, false },
        { [1, 2], [3], -9, [1], [2, 3], true, 10, true },
        { [1, 2], [3], -9, [], [1, 2, 3], false, 10, true },
        { [1, 2], [3], -9, [], [1, 2, 3], true, 10, true },
    };

    [Theory]
    [MemberData(nameof(DedupCases))]
    public void AGroupIsNotifiedAgainExactlyWhenAlertmanagerWouldNotifyIt(
        ulong[]? lastFiring, ulong[]? lastResolved, int? minutesAgo, ulong[] firing, ulong[] resolved, bool sendResolved, int repeatMinutes, bool expected)
    {
        // A null time is Go's zero time (the entry "always updates").
        var last = lastFiring is null ? null : new NotificationEntry(
            lastFiring.ToHashSet(), lastResolved!.ToHashSet(), minutesAgo is { } m ? Now.AddMinutes(m) : DateTimeOffset.MinValue);
        Assert.Equal(expected, NotificationLog.NeedsUpdate(
            last, firing.ToHashSet(), resolved.ToHashSet(), sendResolved, TimeSpan.FromMinutes(repeatMinutes), Now));
    }

    [Theory]
    // Alertmanager's pkg/labels parse_test.go cases.
    [InlineData("{foo=\"bar\"}", "foo=\"bar\"")]
    [InlineData("{foo=~\"bar.*\"}", "foo=~\"bar.*\"")]
    [InlineData("{foo!=\"bar\"}", "foo!=\"bar\"")]
    [InlineData("{foo!~\"bar.*\"}", "foo!~\"bar.*\"")]
    [InlineData("{foo=\"bar\", baz!=\"quux\"}", "foo=\"bar\"|baz!=\"quux\"")]
    [InlineData("{foo=\"bar\", baz!~\"quux.*\"}", "foo=\"bar\"|baz!~\"quux.*\"")]
    [InlineData("{foo=\"bar\",baz!~\".*quux\", derp=\"wat\"}", "foo=\"bar\"|baz!~\".*quux\"|derp=\"wat\"")]
    [InlineData("{foo=\"bar\", instance=~\"some-api.*\"}", "foo=\"bar\"|instance=~\"some-api.*\"")]
    [InlineData("{foo=\"\"}", "foo=\"\"")]
    [InlineData("{foo=\"bar,quux\", job=\"job1\"}", "foo=\"bar,quux\"|job=\"job1\"")]
    [InlineData("{foo = \"bar\", dings != \"bums\", }", "foo=\"bar\"|dings!=\"bums\"")]
    [InlineData("foo=bar,dings!=bums", "foo=\"bar\"|dings!=\"bums\"")]
    [InlineData("{quote=\"She said: \\\"Hi, ladies! That's gender-neutral…\\\"\"}", "quote=\"She said: \\\"Hi, ladies! That's gender-neutral…\\\"\"")]
    [InlineData("statuscode=~\"5..\"", "statuscode=~\"5..\"")]
    [InlineData("tags=~\"^(?:.*,)?production(?:,.*)?$\"", "tags=~\"^(?:.*,)?production(?:,.*)?$\"")]
    [InlineData("trickier==\\\\=\\=\\\"", "trickier=\"=\\\\=\\\\=\\\"\"")]
    [InlineData("contains_quote != \"\\\"\" , contains_comma !~ \"foo,bar\" , ", "contains_quote!=\"\\\"\"|contains_comma!~\"foo,bar\"")]
    [InlineData("tricky=~~~", "tricky=~\"~~\"")]
    public void MatchersParseAsAlertmanagerParsesThem(string text, string expected)
    {
        Assert.Equal(expected, string.Join('|', Matcher.ParseList(text)));
    }

    [Theory]
    [InlineData("job=")]
    [InlineData("job=\"value")]
    [InlineData("job=value\"")]
    [InlineData("trickier==\\\\=\\=\\\"\"")]
    [InlineData("contains_unescaped_quote = foo\"bar")]
    [InlineData("{invalid-name = \"valid label\"}")]
    [InlineData("{foo=~\"invalid[regexp\"}")]
    [InlineData("\"{foo=\\\"bar\"}")]
    [InlineData("\"foo=\\\"bar\"")]
    [InlineData("\"foo=\\\"bar\\\"\"")]
    [InlineData("\"foo=\\\"bar\\\"")]
    [InlineData("\"{foo=\\\"bar\\\"}\"")]
    [InlineData("\"foo=\"bar\"\"")]
    public void BadMatchersAreRefusedAsAlertmanagerRefusesThem(string text)
    {
        Assert.Throws<FormatException>(() => Matcher.ParseList(text));
    }

    [Fact]
    public void RegularExpressionsMatchTheWholeValueAndAnAbsentLabelIsEmpty()
    {
        var matcher = Matcher.Parse("model=~\"credit\"");
        Assert.True(matcher.Matches(Labels("model", "credit")));
        Assert.False(matcher.Matches(Labels("model", "credit-2")));
        Assert.False(matcher.Matches(Labels("model", "credit\n")));
        Assert.True(Matcher.Parse("team=\"\"").Matches(Labels("model", "x")));
        Assert.True(Matcher.Parse("team!~\"ml|ops\"").Matches(LabelSet.Empty));
    }

    [Theory]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("1w2d", 777_600_000)]
    [InlineData("250ms", 250)]
    [InlineData("0", 0)]
    public void DurationsArePrometheuss(string text, long milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), PromDuration.Parse(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("1.5h")]
    [InlineData("30m1h")]
    [InlineData("-5m")]
    public void BadDurationsAreRefused(string text) => Assert.Throws<FormatException>(() => PromDuration.Parse(text));

    [Fact]
    public void ConfigurationErrorsGiveTheLineAndFieldOfEach()
    {
        const string yaml = """
            route:
              receiver: team
              group_wait: 30 seconds
              routes:
                - matchers: ['severity=~"(high"']
                  receiver: pager
                - receiver: nobody
                  continue: yes
                  grup_by: [model]
            receivers:
              - name: team
                webhook_configs:
                  - url: ftp://example.com/hook
              - name: team
            inhibit_rules:
              - source_matchers: ['severity="critical"']
                equal: ['bad-name']
            """;
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml)).Errors;
        Assert.Equal(
            [
                (3, "route.group_wait"), (5, "route.routes[0].matchers[0]"), (6, "route.routes[0].receiver"),
                (7, "route.routes[1].receiver"), (8, "route.routes[1].continue"), (9, "route.routes[1].grup_by"),
                (13, "receivers[0].webhook_configs[0].url"), (14, "receivers[1].name"), (17, "inhibit_rules[0].equal"),
            ],
            errors.Select(e => (e.Line, e.Field)).OrderBy(e => e.Line).ToList());
        Assert.Contains(errors, e => e.Description == "undefined receiver \"nobody\" used in route");
        Assert.Contains(errors, e => e.Description.Contains("not unique", StringComparison.Ordinal));
    }

    // Each of these overflowed the stack (and so killed the process) or looped for ever before it was refused unbuilt.
    [Theory]
    [InlineData("deep", "nest deeper than 64 levels")]
    [InlineData("cycle", "an alias inside its own anchor")]
    [InlineData("laughs", "expands to more than 200000 values")]
    public void ConfigurationsThatWouldExhaustTheLoaderAreRefusedBeforeTheyAreBuilt(string kind, string expected)
    {
        var yaml = kind switch
        {
            "deep" => "route: " + new string('[', 100_000) + new string(']', 100_000),
            "cycle" => "route: {receiver: a}\nreceivers: &r [{name: a}, *r]",
            _ => "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + string.Join("\n", Enumerable.Range(1, 6).Select(i =>
                $"{(char)('a' + i)}: &{(char)('a' + i)} [{string.Join(", ", Enumerable.Repeat($"*{(char)('a' + i - 1)}", 10))}]")),
        };
        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml)).Errors);
        Assert.Contains(expected, error.Description, StringComparison.Ordinal);

        // Anchors and aliases used as operators use them still work.
        var config = ConfigLoader.Load("""
            route: {receiver: a, routes: [{matchers: ['x="1"'], receiver: b}]}
            receivers:
              - &hook {name: a, webhook_configs: [{url: "http://h.test/x"}]}
              - {name: b, webhook_configs: [{url: "http://h.test/y"}]}
            """);
        Assert.Equal(["a", "b"], config.Receivers.Select(r => r.Name));
    }

    [Theory]
    [InlineData("receivers: [{name: a}]", "route")]
    [InlineData("route: {receiver: a, matchers: ['x=\"1\"']}\nreceivers: [{name: a}]", "route")]
    [InlineData("route: {group_by: [a]}\nreceivers: [{name: a}]", "route.receiver")]
    [InlineData("route: {receiver: a, group_by: ['...', b]}\nreceivers: [{name: a}]", "route.group_by")]
    [InlineData("route: {receiver: a, repeat_interval: 0}\nreceivers: [{name: a}]", "route.repeat_interval")]
    [InlineData("route: {receiver: a}\nreceivers: [{name: a}]\ntemplates: ['x.tmpl']", "templates")]
    [InlineData("route: [", "")]
    public void ConfigurationsAlertmanagerRefusesAreRefused(string yaml, string field)
    {
        Assert.Contains(Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml)).Errors, e => e.Field == field);
    }

    [Fact]
    public void RoutesInheritTheirParentsOptionsAndAlertmanagersDefaults()
    {
        var config = ConfigLoader.Load("""
            route:
              receiver: root
              group_by: [alertname]
              routes:
                - matchers: [team=ml]
                  group_wait: 10s
                  routes:
                    - matchers: [severity=critical]
                      receiver: pager
                      group_by: ['...']
                      repeat_interval: 1h
            receivers: [{name: root}, {name: pager}]
            """);
        var root = Route.Build(config.Route);
        var leaf = root.Routes[0].Routes[0];
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(5), TimeSpan.FromHours(4)), (root.GroupWait, root.GroupInterval, root.RepeatInterval));
        Assert.Equal(("pager", TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), true),
            (leaf.Receiver, leaf.GroupWait, leaf.GroupInterval, leaf.RepeatInterval, leaf.GroupByAll));
        Assert.Equal("root", root.Routes[0].Receiver);
        Assert.Equal(["alertname"], root.Routes[0].GroupBy);
        Assert.Equal("{}/{team=\"ml\"}/{severity=\"critical\"}", leaf.Key());
        Assert.Equal(TimeSpan.FromMinutes(5), config.ResolveTimeout);
    }

    [Fact]
    public void InhibitionMutesTargetsWithEqualLabelsWhileTheSourceFires()
    {
        var rule = new InhibitRule(
            new Matchers([Matcher.Parse("severity=\"critical\"")]), new Matchers([Matcher.Parse("severity=\"warning\"")]), ["model"]);
        Alert Firing(LabelSet labels, DateTimeOffset? endsAt = null) => Alert.Received(labels, new Dictionary<string, string>(), Now.AddMinutes(-1), endsAt, null, Now, TimeSpan.FromMinutes(5));
        var critical = Firing(Labels("alertname", "Drift", "severity", "critical", "model", "credit"));
        var inhibitor = new Inhibitor([rule], [critical], Now);
        Assert.True(inhibitor.Mutes(Labels("alertname", "Drift", "severity", "warning", "model", "credit")));
        Assert.False(inhibitor.Mutes(Labels("alertname", "Drift", "severity", "warning", "model", "churn")));
        Assert.False(inhibitor.Mutes(critical.Labels));

        // A resolved source mutes nothing.
        var ended = Firing(critical.Labels, Now.AddSeconds(-1));
        Assert.False(new Inhibitor([rule], [ended], Now).Mutes(Labels("severity", "warning", "model", "credit")));

        // Alerts matching both sides do not mute each other (Alertmanager's inhibit_test "two-sided" cases).
        var both = new InhibitRule(new Matchers([Matcher.Parse("alertname=\"Load\"")]), new Matchers([Matcher.Parse("alertname=~\"Load|Disk\"")]), []);
        var load = Firing(Labels("alertname", "Load", "host", "a"));
        Assert.False(new Inhibitor([both], [load], Now).Mutes(Labels("alertname", "Load", "host", "b")));
        Assert.True(new Inhibitor([both], [load], Now).Mutes(Labels("alertname", "Disk", "host", "b")));
    }

    [Fact]
    public void SilencesMuteBetweenTheirStartAndEndAndRefuseWhatAlertmanagerRefuses()
    {
        Silence Make(string matchers, int startMinutes, int endMinutes) => new()
        {
            Id = Guid.NewGuid(),
            Matchers = new Matchers(Matcher.ParseList(matchers)),
            StartsAt = Now.AddMinutes(startMinutes),
            EndsAt = Now.AddMinutes(endMinutes),
            CreatedBy = "ana",
            Comment = "maintenance",
            UpdatedAt = Now,
        };
        var silence = Make("model=\"credit\"", -5, 55);
        Assert.Equal(SilenceState.Active, silence.StateAt(Now));
        Assert.True(silence.Mutes(Labels("model", "credit", "alertname", "Drift"), Now));
        Assert.False(silence.Mutes(Labels("model", "credit", "alertname", "Drift"), Now.AddHours(1)));
        Assert.Equal(SilenceState.Pending, Make("model=\"credit\"", 5, 55).StateAt(Now));
        Assert.Null(silence.Problem(Now));
        Assert.Equal("at least one matcher required", Make("", 0, 5).Problem(Now));
        Assert.Equal("at least one matcher must not match the empty string", Make("model=~\".*\"", 0, 5).Problem(Now));
        Assert.Contains("already expired", Make("model=\"a\"", -10, -5).Problem(Now), StringComparison.Ordinal);
    }

    [Fact]
    public void AnAlertSentAgainMergesWithTheOneItContinuesAndStartsAnewAfterItEnded()
    {
        var labels = Labels("alertname", "HighLatency");
        var timeout = TimeSpan.FromMinutes(5);
        var first = Alert.Received(labels, new Dictionary<string, string>(), Now, null, null, Now, timeout);
        Assert.Equal((Now, Now + timeout, true), (first.StartsAt, first.EndsAt, first.Timeout));

        // Prometheus resends it a minute later with a later start (its own clock) and an explicit end.
        var again = Alert.Received(labels, new Dictionary<string, string> { ["summary"] = "p99 2s" }, Now.AddSeconds(30), Now.AddMinutes(4), null, Now.AddMinutes(1), timeout);
        var merged = first.Absorb(again);
        Assert.Equal((Now, Now.AddMinutes(4), "p99 2s"), (merged.StartsAt, merged.EndsAt, merged.Annotations["summary"]));

        // Long after it ended, the same labels start a new episode.
        var later = Alert.Received(labels, new Dictionary<string, string>(), Now.AddHours(2), null, null, Now.AddHours(2), timeout);
        Assert.Equal(Now.AddHours(2), merged.Absorb(later).StartsAt);
    }
}

using System.Globalization;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using ModelOps.Drift.Client;
using ModelOps.Drift.V1;
using ModelOps.Explainability.V1;
using ModelOps.Ledger.V1;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    [Fact(Timeout = 300_000)]
    public async Task AnXGBoostCreditModelIsExplainedPerApplicantItsImportanceWeighsDriftAndAShiftInItsDriversIsInTheLedger()
    {
        var stack = running;
        var model = $"why-{Guid.NewGuid():N}"[..16];

        // The Python pipeline (Debian's xgboost): trains, logs and registers the model, explains applicants.
        var package = await ChildProcess.PreparePythonPackageAsync(Cancellation);
        string Target(string service) => new Uri(stack.ServiceGrpcAddresses[service]) is var uri ? $"{uri.Host}:{uri.Port}" : "";
        var html = Path.Combine(stack.StateDirectory, $"{model}.declined.html");
        var (exit, output) = await ChildProcess.RunAsync("/usr/bin/python3", [Path.Combine(package, "examples", "explain_credit.py"), "--model", model, "--html", html], package,
            new Dictionary<string, string>
            {
                ["MODELOPS_TRACKING_TARGET"] = Target("tracking"), ["MODELOPS_REGISTRY_TARGET"] = Target("registry"),
                ["MODELOPS_EXPLAINABILITY_TARGET"] = Target("explainability"), ["MODELOPS_TOKEN"] = stack.Token("pipeline"), ["PYTHONPATH"] = package,
                ["PYTHONDONTWRITEBYTECODE"] = "1",
            }, Cancellation);
        Assert.True(exit == 0, output);
        var result = JsonDocument.Parse(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal("xgboost-json", result.GetProperty("format").GetString());
        Assert.True(result.GetProperty("largest_difference_from_xgboost").GetDouble() <= 1e-5, output);

        // 1. The declined applicant's page shows its reason codes, by their readable names.
        var declined = result.GetProperty("declined");
        var reasons = declined.GetProperty("reasons").EnumerateArray().ToList();
        Assert.NotEmpty(reasons);
        Assert.All(reasons, r => Assert.True(r[2].GetDouble() > 0));
        var page = await File.ReadAllTextAsync(html, Cancellation);
        Assert.Contains(declined.GetProperty("id").GetString()!, page, StringComparison.Ordinal);
        Assert.All(reasons, r => Assert.Contains(System.Net.WebUtility.HtmlEncode(r[1].GetString()!), page, StringComparison.Ordinal));
        Assert.Contains("<svg", page, StringComparison.Ordinal);

        // 2. The global importance becomes the drift policy's weights; the policy also watches what drives predictions.
        var version = result.GetProperty("version").GetInt32().ToString(CultureInfo.InvariantCulture);
        var weights = result.GetProperty("weights").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        using var driftChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["drift"]);
        DriftClient Drift(string role)
        {
            var token = stack.Token(role);
            return new DriftClient(driftChannel.Intercept(metadata =>
            {
                metadata.Add("Authorization", $"Bearer {token}");
                return metadata;
            }));
        }

        var pipeline = Drift("pipeline");
        await pipeline.Raw.SetReferenceFromArtifactAsync(new SetReferenceFromArtifactRequest
        {
            Model = model, Version = version, RunId = result.GetProperty("run_id").GetString(), ArtifactPath = "eval.csv", Window = new WindowPolicy { Records = 500 },
        }, cancellationToken: Cancellation);
        var policy = await pipeline.Raw.SetMonitoringPolicyAsync(new SetMonitoringPolicyRequest
        {
            Reason = "weigh drift by what drives the model; watch its drivers",
            Policy = new MonitoringPolicy
            {
                Model = model, Importance = { weights }, Weighted = true, Explainability = new ExplainabilityWatch { Enabled = true, MaxShift = 0.3 },
                DecisionLog = new DecisionLog { RetentionDays = 30 },
            },
        }, cancellationToken: Cancellation);
        Assert.Equal(weights, policy.Importance.ToDictionary());
        await Drift("admin").Raw.SetWatchAsync(new SetWatchRequest { Model = model, Version = version, Watch = true, Reason = "decides credit" }, cancellationToken: Cancellation);

        // 3. A window like the evaluation data, then one where the strongest driver is stuck and another spreads.
        var top = result.GetProperty("top")[0].GetString()!;
        var random = new Random(9);
        var serving = Drift("service");
        var sent = new List<InferenceRecord>();
        for (var window = 0; window < 2; window++)
        {
            var records = Enumerable.Range(0, 500).Select(i => new InferenceRecord
            {
                Model = model, Version = version, RequestId = $"{model}-w{window}-{i}",
                Features =
                {
                    ["income"] = Value.ForNumber(window == 1 && top == "income" ? 3 : Math.Exp(1.2 + (0.4 * Normal(random)))),
                    ["debt_ratio"] = Value.ForNumber(window == 1 && top == "debt_ratio" ? 0.3 : Beta25(random)),
                    ["age"] = Value.ForNumber(random.Next(18, 80)),
                    ["credit_history_years"] = Value.ForNumber(window == 1 ? 4 * Gamma2(random) * 4 : Gamma2(random) * 4),
                    ["missed_payments"] = Value.ForNumber(window == 1 && top == "missed_payments" ? 0 : Poisson(random, window == 1 ? 3 : 0.6)),
                    ["open_accounts"] = Value.ForNumber(random.Next(0, 12)),
                },
            }).ToList();
            Assert.Equal(500, (await serving.IngestAsync(records, Cancellation)).Accepted);
            sent.AddRange(records);
        }

        using var explainChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["explainability"]);
        var explain = new ExplainabilityService.ExplainabilityServiceClient(explainChannel);
        ListAttributionWindowsResponse windows = null!;
        Assert.True(await Eventually.HoldsAsync(async () => (windows = await explain.ListAttributionWindowsAsync(
            new ListImportanceRequest { Model = model, Version = int.Parse(version, CultureInfo.InvariantCulture) }, Bearer(stack.Token("auditor")),
            cancellationToken: Cancellation)).Windows.Count == 2, TimeSpan.FromSeconds(90)), "explainability never judged both windows");
        Assert.Equal([true, false], windows.Windows.Select(w => w.Drifted));
        Assert.All(windows.Windows, w => Assert.Equal(result.GetProperty("importance_report").GetString(), w.ReferenceReportId));

        using var ledgerChannel = GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["ledger"]);
        var ledger = new LedgerService.LedgerServiceClient(ledgerChannel);
        Assert.True(await Eventually.HoldsAsync(async () => (await ledger.ListEntriesBySubjectAsync(
                new ListEntriesBySubjectRequest { Kind = "model", Value = model, PageSize = 1000 }, Bearer(stack.Token("auditor")), cancellationToken: Cancellation)).Entries
            .Any(e => e.EventType.Contains(".AttributionDriftDetected", StringComparison.Ordinal)), TimeSpan.FromSeconds(60)), "AttributionDriftDetected is not in the ledger");

        await ExplainALoggedDecisionAsync(stack, model, int.Parse(version, CultureInfo.InvariantCulture), sent[7], explain);
    }

    // 4. An applicant asks why: the decision the log kept for their request is explained by the version that made it,
    // as Explain explains the same values; the auditor finds it in the console and in the version's dossier.
    private async Task ExplainALoggedDecisionAsync(
        RunningStack stack, string model, int version, InferenceRecord record, ExplainabilityService.ExplainabilityServiceClient explain)
    {
        var answer = (await explain.ExplainDecisionAsync(new ExplainDecisionRequest { Model = model, RequestId = record.RequestId },
            Bearer(stack.Token("auditor")), cancellationToken: Cancellation)).Decisions.Single();
        var direct = (await explain.ExplainAsync(new ExplainRequest
        {
            Model = new ModelRef { Model = model, Version = version }, Rows = { new ModelOps.Explainability.V1.Row { Named = { record.Features.ToDictionary(f => f.Key, f => f.Value.NumberValue) } } },
        }, Bearer(stack.Token("pipeline")), cancellationToken: Cancellation)).Rows.Single();
        Assert.Equal((version.ToString(CultureInfo.InvariantCulture), "", false), (answer.Version, answer.Unexplained, answer.HasLoggedPrediction));
        Assert.Equal(direct.Attributions, answer.Explanation.Attributions);
        Assert.Equal(direct.Reasons.Select(r => r.Feature), answer.Explanation.Reasons.Select(r => r.Feature));
        Assert.NotEmpty(answer.Explanation.Reasons);

        // The Python package asks the same, as an auditor.
        var package = await ChildProcess.PreparePythonPackageAsync(Cancellation);
        var target = new Uri(stack.ServiceGrpcAddresses["explainability"]);
        var (exit, output) = await ChildProcess.RunAsync("/usr/bin/python3",
            ["-c", "import sys, modelops; d = modelops.Explainability().explain_decision(sys.argv[1], sys.argv[2])[0]; print(d.version, ' '.join(r.feature for r in d.explanation.reasons))",
             model, record.RequestId], package,
            new Dictionary<string, string>
            {
                ["MODELOPS_EXPLAINABILITY_TARGET"] = $"{target.Host}:{target.Port}", ["MODELOPS_TOKEN"] = stack.Token("auditor"), ["PYTHONPATH"] = package,
                ["PYTHONDONTWRITEBYTECODE"] = "1",
            }, Cancellation);
        Assert.True(exit == 0, output);
        Assert.Equal($"{version} {string.Join(' ', answer.Explanation.Reasons.Select(r => r.Feature))}", output.Trim());

        var console = stack.ServiceHttpAddresses["console"];
        using var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArguments });
        var auditor = await SignInAsync(browser, console, stack.Token("auditor"));
        // A link opens the decision; the page's form asks for another.
        await auditor.GotoAsync($"{console}/decisions?model={Uri.EscapeDataString(model)}&request=nobody");
        await Microsoft.Playwright.Assertions.Expect(auditor.Locator("[data-interactive=true]")).ToHaveCountAsync(1);
        await Microsoft.Playwright.Assertions.Expect(auditor.Locator("main")).ToContainTextAsync("no logged decision for request 'nobody'");
        await auditor.Locator("#decision-request").FillAsync(record.RequestId);
        await auditor.Locator("fluent-button", new() { HasText = "Explain" }).ClickAsync();
        var card = auditor.Locator($"article[data-decision='{record.RequestId}']");
        await Microsoft.Playwright.Assertions.Expect(card).ToContainTextAsync(answer.Explanation.Reasons[0].DisplayName);
        await AssertAccessibleAsync(auditor, "the decisions page");
        await auditor.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotDirectory(), "console-decision.png"), FullPage = true });

        var bundle = await auditor.APIRequest.GetAsync($"{console}/dossier/{model}/{version}?format=json&decision={Uri.EscapeDataString(record.RequestId)}&decision=nobody");
        Assert.Equal(200, bundle.Status);
        var decisions = JsonDocument.Parse(await bundle.TextAsync()).RootElement.GetProperty("decisions");
        var requested = decisions.GetProperty("requested").EnumerateArray().ToList();
        Assert.Equal([record.RequestId, "nobody"], requested.Select(d => d.GetProperty("requestId").GetString()));
        Assert.Equal(answer.Explanation.Reasons.Select(r => r.Feature), requested[0].GetProperty("reasons").EnumerateArray().Select(r => r.GetProperty("feature").GetString()));
        Assert.Contains("no logged decision", requested[1].GetProperty("unexplained").GetString(), StringComparison.Ordinal);
        Assert.Equal(5, decisions.GetProperty("examples").GetArrayLength());
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    // Beta(2, 5) as the smallest-but-one of six uniforms (the order statistic's law), Gamma(2, 1) as the sum of two exponentials.
    private static double Beta25(Random random) => Enumerable.Range(0, 6).Select(_ => random.NextDouble()).Order().ElementAt(1);

    private static double Gamma2(Random random) => -Math.Log(1 - random.NextDouble()) - Math.Log(1 - random.NextDouble());

    private static int Poisson(Random random, double mean)
    {
        var (limit, product, count) = (Math.Exp(-mean), random.NextDouble(), 0);
        while (product > limit)
        {
            product *= random.NextDouble();
            count++;
        }

        return count;
    }
}

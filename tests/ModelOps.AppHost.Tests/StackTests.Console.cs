using System.Text.Json;
using Microsoft.Playwright;
using ModelOps.Registry.V1;
using ModelOps.Testing;

namespace ModelOps.AppHost.Tests;

public sealed partial class StackTests
{
    // Debian's chromium, as the machine's probe starts it: no download, no background traffic to Google.
    private static readonly string[] ChromiumArguments =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ];

    [Fact(Timeout = 600_000)]
    public async Task ReviewersApproveInTheConsoleAndTheAuditorsDossierVerifiesOffline()
    {
        var stack = running;
        var console = stack.ServiceHttpAddresses["console"];
        var model = $"console-{Guid.NewGuid():N}"[..18];
        using var registryChannel = Grpc.Net.Client.GrpcChannel.ForAddress(stack.ServiceGrpcAddresses["registry"]);
        var registry = new RegistryService.RegistryServiceClient(registryChannel);
        await registry.CreateRegisteredModelAsync(new CreateRegisteredModelRequest { Name = model, RiskTier = RiskTier.High, Owner = "ml-team" },
            Bearer(stack.Token("pipeline")), cancellationToken: Cancellation);
        var policy = Path.Combine(stack.StateDirectory, $"{model}.policy.json");
        await File.WriteAllTextAsync(policy, """
            {"rules": [{"stages": ["STAGE_PRODUCTION"], "gates": [
              {"name": "provenance", "provenance": {}},
              {"name": "integrity", "artifactIntegrity": {}},
              {"name": "approvals", "approval": {"required": 2}}]}]}
            """, Cancellation);
        var (exit, _, error) = await CliAsync("models", "policy", "set", model, "--file", policy, "--reason", "four eyes",
            "--registry", stack.ServiceGrpcAddresses["registry"], "--token", stack.Token("admin"));
        Assert.True(exit == 0, error);
        var pending = await PipelineAsync(model);
        Assert.Equal("OPEN", pending.State);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArguments });
        var shots = ScreenshotDirectory();

        // The first reviewer signs in, finds the request in their queue with its evidence, and approves.
        var first = await SignInAsync(browser, console, stack.Token("reviewer"));
        await first.GotoAsync($"{console}/requests");
        var card = await LiveRequestAsync(first, pending.RequestId);
        var gates = card.Locator("table.gates");
        await Assertions.Expect(gates.Locator("tr[data-gate=provenance]")).ToContainTextAsync("PASS");
        await Assertions.Expect(gates.Locator("tr[data-gate=approvals]")).ToContainTextAsync("PENDING");
        await Assertions.Expect(gates.Locator("tr[data-gate=integrity]")).ToContainTextAsync("sha256");
        await first.ScreenshotAsync(new() { Path = Path.Combine(shots, "console-requests.png"), FullPage = true });
        await AssertAccessibleAsync(first, "the promotion queue");
        // By keyboard alone: Tab from the top of the page reaches the Approve button, and Enter presses it.
        Assert.True(await TabToAsync(first, $"article[data-request='{pending.RequestId}'] fluent-button[data-action=approve]"),
            "Tab never reached the Approve button");
        await first.Keyboard.PressAsync("Enter");
        await Assertions.Expect(card.Locator("ul.approvals")).ToContainTextAsync("dev-reviewer");
        Assert.Equal(RequestState.Open, (await registry.GetPromotionRequestAsync(new GetPromotionRequestRequest { RequestId = pending.RequestId },
            Bearer(stack.Token("auditor")), cancellationToken: Cancellation)).State);

        // The pipeline cannot review: it sees the request, and no button.
        var pipeline = await SignInAsync(browser, console, stack.Token("pipeline"));
        await pipeline.GotoAsync($"{console}/requests");
        var seen = await LiveRequestAsync(pipeline, pending.RequestId);
        Assert.Equal(0, await seen.Locator("fluent-button").CountAsync());

        // The second reviewer approves: the version is in Production, as its page shows.
        var second = await SignInAsync(browser, console, stack.Token("reviewer-2"));
        await second.GotoAsync($"{console}/requests");
        await (await LiveRequestAsync(second, pending.RequestId)).Locator("fluent-button", new() { HasText = "Approve" }).ClickAsync();
        await Assertions.Expect(second.Locator($"article[data-request='{pending.RequestId}']")).ToHaveCountAsync(0);
        // The first reviewer's queue, still open, drops the decided request as the registry announces it (well before
        // the page's 30 s look of its own).
        await Assertions.Expect(first.Locator($"article[data-request='{pending.RequestId}']")).ToHaveCountAsync(0, new() { Timeout = 10_000 });
        await second.GotoAsync($"{console}/models/{model}/versions/{pending.Version}");
        await Assertions.Expect(second.Locator("[data-interactive=true]")).ToHaveCountAsync(1);
        await Assertions.Expect(second.Locator("main fluent-badge").First).ToHaveTextAsync("Production");
        await Assertions.Expect(second.Locator($"article[data-request='{pending.RequestId}']")).ToContainTextAsync("APPROVED");
        await Assertions.Expect(second.Locator("p.ok")).ToContainTextAsync("each inclusion proof was checked");
        await second.ScreenshotAsync(new() { Path = Path.Combine(shots, "console-version.png"), FullPage = true });
        await AssertAccessibleAsync(second, "the version page");
        var approved = await registry.GetPromotionRequestAsync(new GetPromotionRequestRequest { RequestId = pending.RequestId },
            Bearer(stack.Token("auditor")), cancellationToken: Cancellation);
        Assert.Equal((RequestState.Approved, "dev-reviewer-2"), (approved.State, approved.DecidedBy));
        Assert.Equal(["dev-reviewer", "dev-reviewer-2"], approved.Approvals.Select(a => a.Reviewer).Order());

        // The auditor opens the dossier, saves its bundle, and verifies it offline with the key the stack pins.
        var auditor = await SignInAsync(browser, console, stack.Token("auditor"));
        await auditor.GotoAsync($"{console}/dossier/{model}/{pending.Version}?format=html");
        await Assertions.Expect(auditor.Locator("h1")).ToHaveTextAsync($"Audit dossier: {model} version {pending.Version}");
        await Assertions.Expect(auditor.Locator("#promotions")).ToContainTextAsync("dev-reviewer-2");
        await auditor.ScreenshotAsync(new() { Path = Path.Combine(shots, "console-dossier.png"), FullPage = true });
        await AssertAccessibleAsync(auditor, "the dossier");
        var bundle = await auditor.APIRequest.GetAsync($"{console}/dossier/{model}/{pending.Version}?format=json");
        Assert.Equal(200, bundle.Status);
        var file = Path.Combine(stack.StateDirectory, $"{model}.dossier.json");
        await File.WriteAllBytesAsync(file, await bundle.BodyAsync(), Cancellation);
        using (var document = JsonDocument.Parse(await File.ReadAllTextAsync(file, Cancellation)))
        {
            var types = document.RootElement.GetProperty("ledger").GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("eventType").GetString()).ToList();
            Assert.Contains(types, t => t!.EndsWith("PromotionDecided", StringComparison.Ordinal));
            Assert.Contains(types, t => t!.EndsWith("RunFinished", StringComparison.Ordinal));
        }

        var verifierKey = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(stack.StateDirectory, "endpoints.json"), Cancellation))
            .RootElement.GetProperty("verifierKey").GetString()!;
        var (verified, report, problems) = await CliAsync("ledger", "verify", "--bundle", file, "--key", verifierKey);
        Assert.True(verified == 0, problems);
        Assert.Contains($"OK: the dossier of {model} version {pending.Version}", report, StringComparison.Ordinal);

        // A byte changed in an entry's data is caught offline.
        var tampered = (await File.ReadAllTextAsync(file, Cancellation)).Replace("dev-reviewer-2", "dev-reviewer-3", StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, tampered, Cancellation);
        Assert.Equal(ModelOps.Cli.ModelOpsCli.VerificationFailed, (await CliAsync("ledger", "verify", "--bundle", file, "--key", verifierKey)).Exit);

        // The ledger page verifies the latest checkpoint, then that the log extends what this browser saw.
        await auditor.GotoAsync($"{console}/ledger");
        await Assertions.Expect(auditor.Locator("[data-interactive=true]")).ToHaveCountAsync(1);
        await auditor.Locator("fluent-button", new() { HasText = "Verify" }).ClickAsync();
        await Assertions.Expect(auditor.Locator("div.ok")).ToContainTextAsync("is signed by the pinned key");
        await AssertAccessibleAsync(auditor, "the ledger page");

        // Every other page passes the same check, and its main links are reachable by keyboard.
        foreach (var (path, what) in new[] { ("/", "the model list"), ($"/models/{model}", "the model page"), ("/monitoring", "the monitoring page") })
        {
            await auditor.GotoAsync($"{console}{path}");
            await Assertions.Expect(auditor.Locator("[data-interactive=true]")).ToHaveCountAsync(1);
            await AssertAccessibleAsync(auditor, what);
            Assert.True(await TabToAsync(auditor, "header nav a[href='/ledger']"), $"Tab never reached the navigation on {what}");
        }
    }

    // Presses Tab from the top of the page until the element matching selector has the focus (at most 60 times).
    private static async Task<bool> TabToAsync(IPage page, string selector)
    {
        await page.EvaluateAsync("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }");
        for (var i = 0; i < 60; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            if (await page.EvaluateAsync<bool>("s => document.activeElement?.matches(s) ?? false", selector))
            {
                return true;
            }
        }

        return false;
    }

    // Screenshots are test results: TestResults/screenshots at the repository's root.
    private static string ScreenshotDirectory() =>
        Directory.CreateDirectory(Path.Combine(ChildProcess.RepositoryRoot(), "TestResults", "screenshots")).FullName;

    private static async Task<IPage> SignInAsync(IBrowser browser, string console, string token)
    {
        var context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync($"{console}/requests");
        // Not signed in: the console sends the person to sign in, and back.
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/signin"));
        await AssertAccessibleAsync(page, "the sign-in page");
        await page.Locator("textarea#token").FillAsync(token);
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/requests$"));
        return page;
    }

    private static async Task<ILocator> LiveRequestAsync(IPage page, string requestId)
    {
        await Assertions.Expect(page.Locator("[data-interactive=true]")).ToHaveCountAsync(1);
        var card = page.Locator($"article[data-request='{requestId}']");
        await Assertions.Expect(card).ToHaveCountAsync(1);
        return card;
    }

    // axe-core (from npm) runs in the page: no violation of WCAG 2.1 A or AA rules.
    private static async Task AssertAccessibleAsync(IPage page, string what)
    {
        await page.AddScriptTagAsync(new() { Path = Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "node_modules", "axe-core", "axe.min.js") });
        var violations = await page.EvaluateAsync<string[]>("""
            async () => (await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }))
                .violations.map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)
            """);
        Assert.True(violations.Length == 0, $"{what} has accessibility violations:\n{string.Join("\n", violations)}");
    }
}

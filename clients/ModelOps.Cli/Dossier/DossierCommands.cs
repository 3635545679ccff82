using System.CommandLine;
using System.Diagnostics;
using ModelOps.Cli.Ledger;
using ModelOps.Cli.Registry;
using ModelOps.Cli.Tracking;
using ModelOps.Dossier;
using ModelOps.Ledger.V1;
using ModelOps.Ledger.Verification;
using ModelOps.Registry.V1;
using ModelOps.Tracking.V1;

namespace ModelOps.Cli.Dossier;

/// <summary><c>modelops dossier MODEL VERSION --out PREFIX [--pdf] [--decision ID]...</c>: a version's audit dossier, as HTML, JSON and PDF.</summary>
public static class DossierCommands
{
    /// <summary>The command.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var registry = CliOutput.AddressOption("registry", "The registry's", RegistryCommands.DefaultAddress);
        var tracking = CliOutput.AddressOption("tracking", "Tracking's", TrackingCommands.DefaultAddress);
        var ledger = CliOutput.AddressOption("ledger", "The ledger's", LedgerCommands.DefaultAddress);
        var drift = CliOutput.AddressOption("drift", "Drift's", Drift.DriftCommands.DefaultAddress);
        var fairness = CliOutput.AddressOption("fairness", "Fairness's", Fairness.FairnessCommands.DefaultAddress);
        var explainability = CliOutput.AddressOption("explainability", "Explainability's", Explainability.ExplainCommands.DefaultAddress);
        var alerting = CliOutput.AddressOption("alerting", "Alerting's", Alerting.AlertingCommands.DefaultAddress);
        var token = new Option<string?>("--token") { Description = "A bearer token (default: $MODELOPS_TOKEN, else the stack's tokens/auditor.jwt when present)" };
        var model = new Argument<string>("model") { Description = "The registered model" };
        var version = new Argument<int>("version") { Description = "The version" };
        var prefix = new Option<string>("--out") { Description = "Write PREFIX.json (the bundle) and PREFIX.html (the page)", Required = true };
        var pdf = new Option<bool>("--pdf") { Description = "Also print the page to PREFIX.pdf with Chromium (--print-to-pdf)" };
        var chromium = new Option<string>("--chromium")
        {
            Description = "The Chromium binary for --pdf",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CHROMIUM") ?? "/usr/bin/chromium",
        };
        var decisions = new Option<string[]>("--decision")
        {
            Description = $"A request id whose logged decision the dossier explains (LGPD Art. 20), with the version that made it; repeat for more (at most {DossierDecisions.MaxRequested})",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("dossier", "Export a version's audit dossier: model card, provenance, gates, approvals, deployments, production monitoring, decisions with their reason codes and its ledger entries with inclusion proofs (verify offline with 'modelops ledger verify --bundle PREFIX.json')")
        {
            registry, tracking, ledger, drift, fairness, explainability, alerting, token, model, version, prefix, pdf, chromium, decisions,
        };
        command.Validators.Add(result =>
        {
            if (DossierDecisions.Problem(result.GetValue(decisions) ?? []) is { } problem)
            {
                result.AddError($"--decision: {problem}");
            }
        });
        command.SetAction((parse, cancellationToken) => CliOutput.Guard(error, "registry", async () =>
        {
            var headers = CliOutput.Headers(parse.GetValue(token), "auditor");
            using var registryChannel = CliOutput.Channel(parse.GetValue(registry)!);
            using var trackingChannel = CliOutput.Channel(parse.GetValue(tracking)!);
            using var ledgerChannel = CliOutput.Channel(parse.GetValue(ledger)!, 64 << 20);
            using var driftChannel = CliOutput.Channel(parse.GetValue(drift)!, 64 << 20);
            using var fairnessChannel = CliOutput.Channel(parse.GetValue(fairness)!, 64 << 20);
            using var explainabilityChannel = CliOutput.Channel(parse.GetValue(explainability)!, 64 << 20);
            using var alertingChannel = CliOutput.Channel(parse.GetValue(alerting)!, 64 << 20);
            var builder = new DossierBuilder(
                new RegistryService.RegistryServiceClient(registryChannel),
                new TrackingService.TrackingServiceClient(trackingChannel),
                new LedgerService.LedgerServiceClient(ledgerChannel),
                new MonitoringClients(
                    new ModelOps.Drift.V1.DriftService.DriftServiceClient(driftChannel),
                    new ModelOps.Fairness.V1.FairnessService.FairnessServiceClient(fairnessChannel),
                    new ModelOps.Explainability.V1.ExplainabilityService.ExplainabilityServiceClient(explainabilityChannel),
                    new ModelOps.Alerting.V1.AlertingService.AlertingServiceClient(alertingChannel)));
            var dossier = await builder.BuildAsync(parse.GetValue(model)!, parse.GetValue(version), "modelops dossier", headers, cancellationToken,
                decisions: parse.GetValue(decisions) ?? []);

            // A dossier that does not verify is not written as if it did.
            var check = DossierVerification.Verify(dossier.Ledger, new NoteVerifier(dossier.Ledger.VerifierKey));
            if (!check.Passed)
            {
                foreach (var problem in check.Problems)
                {
                    await error.WriteLineAsync($"FAILED: {problem}");
                }

                return ModelOpsCli.VerificationFailed;
            }

            var path = Path.GetFullPath(parse.GetValue(prefix)!);
            await File.WriteAllTextAsync(path + ".json", dossier.ToJson(), cancellationToken);
            await File.WriteAllTextAsync(path + ".html", DossierHtml.Render(dossier), cancellationToken);
            await output.WriteLineAsync($"Wrote {path}.json and {path}.html: {dossier.Ledger.Entries.Count} ledger entries proven against the checkpoint of size {dossier.Ledger.TreeSize}.");
            if (parse.GetValue(pdf))
            {
                await PrintAsync(parse.GetValue(chromium)!, path + ".html", path + ".pdf", cancellationToken);
                await output.WriteLineAsync($"Wrote {path}.pdf.");
            }

            return 0;
        }));
        return command;
    }

    // Headless Chromium prints the page as a reader would; no network, no profile of the user's.
    private static async Task PrintAsync(string chromium, string html, string pdf, CancellationToken cancellationToken)
    {
        var profile = Directory.CreateTempSubdirectory("modelops-pdf-");
        try
        {
            var start = new ProcessStartInfo(chromium)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            foreach (var argument in new[]
                     {
                         "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}", "--no-pdf-header-footer",
                         $"--print-to-pdf={pdf}", new Uri(html).AbsoluteUri,
                     })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new IOException($"{chromium} did not start.");
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0 || !File.Exists(pdf))
            {
                throw new IOException($"{chromium} could not print the page (exit {process.ExitCode}): {(await stderr).Trim()}");
            }
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}

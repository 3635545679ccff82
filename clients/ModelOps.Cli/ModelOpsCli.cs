using System.CommandLine;
using ModelOps.Cli.Alerting;
using ModelOps.Cli.Drift;
using ModelOps.Cli.Explainability;
using ModelOps.Cli.Fairness;
using ModelOps.Cli.Ledger;
using ModelOps.Cli.Registry;
using ModelOps.Cli.Tracking;

namespace ModelOps.Cli;

/// <summary>The <c>modelops</c> command line.</summary>
public static class ModelOpsCli
{
    /// <summary>Exit code of a check that found a problem.</summary>
    public const int VerificationFailed = 1;

    /// <summary>Exit code of a bad command line, an unreachable server or an unreadable file.</summary>
    public const int UsageOrConnectionError = 2;

    /// <summary>Runs the command line <paramref name="args"/>, writing to <paramref name="output"/> and <paramref name="error"/>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("ModelOps: keep ML models in production accountable.");
        root.Subcommands.Add(LedgerCommands.Create(output, error));
        root.Subcommands.Add(Dossier.DossierCommands.Create(output, error));
        root.Subcommands.Add(DriftCommands.Create(output, error));
        root.Subcommands.Add(FairnessCommands.Create(output, error));
        root.Subcommands.Add(ExplainCommands.Create(output, error));
        root.Subcommands.Add(StackCommand.Create(output,
        [
            ("tracking", TrackingCommands.DefaultAddress), ("registry", RegistryCommands.DefaultAddress), ("drift", DriftCommands.DefaultAddress),
            ("fairness", FairnessCommands.DefaultAddress), ("explainability", ExplainCommands.DefaultAddress),
            ("alerting", AlertingCommands.DefaultAddress), ("ledger", LedgerCommands.DefaultAddress),
        ]));
        foreach (var command in TrackingCommands.Create(output, error).Concat(RegistryCommands.Create(output, error)).Concat(AlertingCommands.Create(output, error)))
        {
            root.Subcommands.Add(command);
        }

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var problem in parse.Errors)
            {
                await error.WriteLineAsync(problem.Message);
            }

            return UsageOrConnectionError;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }
}

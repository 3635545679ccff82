using System.CommandLine;
using System.Globalization;
using ModelOps.Client;

namespace ModelOps.Cli;

/// <summary><c>modelops stack</c>: which stack the commands talk to, how it was found, and each service's address.</summary>
internal static class StackCommand
{
    /// <summary>The command, showing <paramref name="services"/> (each service with the address it has when nothing names one).</summary>
    public static Command Create(TextWriter output, IReadOnlyList<(string Service, string Default)> services)
    {
        var command = new Command("stack",
            $"Show the stack the commands talk to: ${Stack.Variable} (a state folder), else .modelops/endpoints.json in this folder or above, " +
            "else the stack started last (~/.config/modelops/stack); exits 1 when none runs and the default addresses are used");
        command.SetAction(async (_, _) =>
        {
            var stack = Stack.Current;
            var rows = new List<(string, string, string)>();
            if (stack is null)
            {
                var why = Stack.NotFound(Environment.GetEnvironmentVariable);
                await output.WriteLineAsync($"{char.ToUpperInvariant(why[0])}{why[1..]}: the default addresses are used.");
            }
            else
            {
                rows.Add(("stack", stack.File, stack.FoundBy));
                rows.Add(("apphost", stack.AppHostPid?.ToString(CultureInfo.InvariantCulture) ?? "", stack.IsRunning ? "running" : "not running"));
                rows.Add(("dashboard", stack.Dashboard ?? "", ""));
                rows.Add(("issuer", stack.Issuer ?? "", ""));
                rows.Add(("tokens", stack.Tokens ?? "", ""));
                rows.Add(("verifier-key", stack.VerifierKey ?? "", "the ledger's; pin it with ledger verify --key"));
                rows.Add(("mlflow", stack.MlflowTrackingUri ?? "", "MLflow's API: MLFLOW_TRACKING_URI"));
                rows.Add(("console", stack.ConsoleUrl ?? "", "the governance console: open it in a browser"));
            }

            foreach (var (service, fallback) in services)
            {
                var (address, source) = CliOutput.DefaultAddress(service, fallback);
                rows.Add((service, address, source));
            }

            var width = rows.Max(r => r.Item2.Length);
            foreach (var (what, value, from) in rows)
            {
                await output.WriteLineAsync($"{what,-15} {value.PadRight(width)}  {from}".TrimEnd());
            }

            return stack is { IsRunning: true } ? 0 : ModelOpsCli.VerificationFailed;
        });
        return command;
    }
}

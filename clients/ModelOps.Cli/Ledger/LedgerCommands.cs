using System.CommandLine;
using Grpc.Core;
using ModelOps.Ledger.Verification;

namespace ModelOps.Cli.Ledger;

/// <summary><c>modelops ledger verify</c> and <c>modelops ledger export</c>.</summary>
public static class LedgerCommands
{
    /// <summary>The ledger address when neither <c>--ledger</c> nor <c>MODELOPS_LEDGER_URL</c> names one.</summary>
    public const string DefaultAddress = "http://127.0.0.1:7107";

    /// <summary>The <c>ledger</c> command and its subcommands.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var address = CliOutput.AddressOption("ledger", "The ledger's", DefaultAddress);
        var token = new Option<string?>("--token")
        {
            Description = "A bearer token (default: $MODELOPS_TOKEN, else the stack's tokens/auditor.jwt when present)",
            Recursive = true,
        };
        var key = new Option<string?>("--key")
        {
            Description = "The verifier key to trust (name+hash+base64), or @FILE holding it; without it the key the source names is used, with a warning",
        };
        var bundle = new Option<string?>("--bundle")
        {
            Description = "Verify an exported bundle offline instead of a live ledger: a ledger export, or a version's audit dossier (its entries' inclusion proofs)",
        };
        var since = new Option<string?>("--since") { Description = "A checkpoint saved earlier (a file); the log must extend it" };
        var save = new Option<string?>("--save-checkpoint") { Description = "Write the verified checkpoint to this file, for a later --since" };
        var entries = new Option<string[]>("--entry")
        {
            Description = "Check the inclusion of this entry (index or event id); may be repeated",
            AllowMultipleArgumentsPerToken = false,
        };

        var verify = new Command("verify", "Verify the ledger: checkpoint signature, every entry, root, consistency and inclusion")
        {
            key, bundle, since, save, entries,
        };
        verify.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            if (parse.GetValue(bundle) is { } bundlePath && await DossierBundle.IsDossierAsync(bundlePath, cancellationToken))
            {
                return await DossierBundle.VerifyAsync(bundlePath, parse.GetValue(key), output, error, cancellationToken);
            }

            var source = OpenSource(parse.GetValue(bundle), parse.GetValue(address)!, parse.GetValue(token));
            var verifier = await ResolveVerifierAsync(parse.GetValue(key), source, error, cancellationToken);
            var sinceNote = parse.GetValue(since) is { } sincePath ? await File.ReadAllTextAsync(sincePath, cancellationToken) : null;
            var report = await new LedgerAuditor(source, verifier, output)
                .VerifyAsync(sinceNote, parse.GetValue(entries) ?? [], cancellationToken);
            if (!report.Passed)
            {
                foreach (var problem in report.Problems)
                {
                    await error.WriteLineAsync($"FAILED: {problem}");
                }

                return ModelOpsCli.VerificationFailed;
            }

            if (parse.GetValue(save) is { } savePath)
            {
                await File.WriteAllTextAsync(savePath, await source.GetCheckpointNoteAsync(cancellationToken), cancellationToken);
            }

            await output.WriteLineAsync($"OK: {report.Checkpoint!.Size} entries of {report.Checkpoint.Origin} verified.");
            return 0;
        }));

        var destination = new Option<string>("--out") { Description = "Where to write the bundle", Required = true };
        var export = new Command("export", "Write a self-contained bundle (entries, checkpoint, verifier key) to verify offline with verify --bundle")
        {
            destination,
        };
        export.SetAction((parse, cancellationToken) => Guard(error, async () =>
        {
            var source = OpenSource(null, parse.GetValue(address)!, parse.GetValue(token));
            var note = await source.GetCheckpointNoteAsync(cancellationToken);
            var verifierKey = await source.GetVerifierKeyAsync(cancellationToken);
            var checkpoint = Checkpoint.Open(note, new NoteVerifier(verifierKey));
            var path = parse.GetValue(destination)!;
            await using var file = File.Create(path);
            var written = await BundleLedgerSource.WriteAsync(source, checkpoint.Origin, note, checkpoint.Size, verifierKey, file, cancellationToken);
            await output.WriteLineAsync($"Wrote {written} entries and the checkpoint of size {checkpoint.Size} to {path}.");
            return 0;
        }));

        return new Command("ledger", "The verifiable log of every governance event") { address, token, verify, export };
    }

    private static ILedgerSource OpenSource(string? bundle, string address, string? token)
    {
        if (bundle is not null)
        {
            return new BundleLedgerSource(bundle);
        }

        return GrpcLedgerSource.Connect(address, CliOutput.Presenting(token, "auditor"), out _);
    }

    private static async Task<NoteVerifier> ResolveVerifierAsync(string? key, ILedgerSource source, TextWriter error, CancellationToken cancellationToken)
    {
        if (key is not null)
        {
            return new NoteVerifier(key.StartsWith('@') ? await File.ReadAllTextAsync(key[1..], cancellationToken) : key);
        }

        var named = await source.GetVerifierKeyAsync(cancellationToken);
        await error.WriteLineAsync(
            $"warning: no --key given; trusting the key the source names ({named}). Pin it with --key to detect a replaced key.");
        return new NoteVerifier(named);
    }

    private static Task<int> Guard(TextWriter error, Func<Task<int>> action) => CliOutput.Guard(error, "ledger", action);
}

using Grpc.Core;
using ModelOps.Cli;
using ModelOps.Ledger.V1;
using ModelOps.Testing;
using Npgsql;

namespace ModelOps.Ledger.Tests;

/// <summary><c>modelops ledger verify</c> and <c>export</c> against a live ledger, an exported bundle, and a tampered database.</summary>
public sealed class LedgerAuditTests(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private const int Entries = 40;
    private LedgerProcess _ledger = null!;
    private string _verifierKey = null!;
    private readonly string _work = Directory.CreateTempSubdirectory("modelops-audit").FullName;

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _ledger = await LedgerProcess.StartAsync(infrastructure, nameof(LedgerAuditTests));
        var admin = _ledger.As("admin", "admin");
        for (var i = 0; i < Entries; i++)
        {
            var request = new AppendRequest { EventType = "external.Decision", PayloadJson = $$"""{"decision":{{i}}}""" };
            request.Subjects.Add("model", $"m{i % 3}");
            await _ledger.Client.AppendAsync(request, admin, cancellationToken: Cancellation);
        }

        await _ledger.CheckpointCoveringAsync(Entries);
        _verifierKey = (await _ledger.Client.GetVerifierKeyAsync(new GetVerifierKeyRequest(), admin, cancellationToken: Cancellation)).VerifierKey_;
    }

    public async ValueTask DisposeAsync()
    {
        await _ledger.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public async Task VerifyPassesOnTheLiveLedgerAndTheExportedBundleAndFailsNamingTheFirstTamperedEntry()
    {
        var saved = Path.Combine(_work, "checkpoint.note");
        var (code, output, error) = await CliAsync("ledger", "verify", "--key", _verifierKey, "--entry", "7", "--save-checkpoint", saved);
        Assert.True(code == 0, error);
        Assert.Contains($"OK: {Entries} entries", output);
        Assert.Contains("Entry 7 (index 7) is included", output);

        var bundle = Path.Combine(_work, "ledger.bundle.json");
        (code, _, error) = await CliAsync("ledger", "export", "--out", bundle);
        Assert.True(code == 0, error);
        (code, output, error) = await CliAsync("ledger", "verify", "--bundle", bundle, "--key", _verifierKey, "--since", saved);
        Assert.True(code == 0, error);
        Assert.Contains($"OK: {Entries} entries", output);

        // A later checkpoint still extends the saved one.
        await _ledger.Client.AppendAsync(new AppendRequest { EventType = "external.Later", PayloadJson = "{}" }, _ledger.As("admin", "admin"),
            cancellationToken: Cancellation);
        await _ledger.CheckpointCoveringAsync(Entries + 1);
        (code, output, error) = await CliAsync("ledger", "verify", "--key", _verifierKey, "--since", saved);
        Assert.True(code == 0, error);
        Assert.Contains($"extends the saved checkpoint of size {Entries}", output);

        // Edit one row and delete another behind the ledger's back.
        await ExecuteAsync("UPDATE ledger_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), '\"decision\":11', '\"decision\":99'), 'UTF8') WHERE idx = 11");
        await ExecuteAsync("DELETE FROM ledger_entries WHERE idx = 23");

        (code, _, error) = await CliAsync("ledger", "verify", "--key", _verifierKey);
        Assert.Equal(ModelOpsCli.VerificationFailed, code);
        Assert.Contains("Entry 11 was altered", error);

        // Even with the stored leaf hash rewritten to match, the consistency proofs locate the entry.
        await ExecuteAsync("UPDATE ledger_entries SET leaf_hash = sha256('\\x00'::bytea || data) WHERE idx = 11");
        (code, _, error) = await CliAsync("ledger", "verify", "--key", _verifierKey);
        Assert.Equal(ModelOpsCli.VerificationFailed, code);
        Assert.Contains("Entry 11 was altered", error);

        // Repair the edit: the deletion is what is left, and it is named.
        await ExecuteAsync("UPDATE ledger_entries SET data = convert_to(replace(convert_from(data, 'UTF8'), '\"decision\":99', '\"decision\":11'), 'UTF8'), " +
                           "leaf_hash = sha256('\\x00'::bytea || convert_to(replace(convert_from(data, 'UTF8'), '\"decision\":99', '\"decision\":11'), 'UTF8')) WHERE idx = 11");
        (code, _, error) = await CliAsync("ledger", "verify", "--key", _verifierKey);
        Assert.Equal(ModelOpsCli.VerificationFailed, code);
        Assert.Contains("Entry 23 is missing", error);
    }

    [Fact]
    public async Task ABundleWithAForgedCheckpointOrAnotherKeyFails()
    {
        var bundle = Path.Combine(_work, "forged.bundle.json");
        var (code, _, error) = await CliAsync("ledger", "export", "--out", bundle);
        Assert.True(code == 0, error);

        // Claim a different size under the original signature.
        var text = await File.ReadAllTextAsync(bundle, Cancellation);
        var forged = Path.Combine(_work, "forged-size.bundle.json");
        await File.WriteAllTextAsync(forged, text.Replace($"ledger\\n{Entries}", $"ledger\\n{Entries - 1}", StringComparison.Ordinal), Cancellation);
        Assert.NotEqual(text, await File.ReadAllTextAsync(forged, Cancellation));
        (code, _, error) = await CliAsync("ledger", "verify", "--bundle", forged, "--key", _verifierKey);
        Assert.Equal(ModelOpsCli.VerificationFailed, code);
        Assert.Contains("does not verify", error);

        // A key the auditor did not pin: the genuine note is refused.
        var (_, otherKey) = ModelOps.Ledger.Verification.NoteKeys.Generate("test.modelops/ledger");
        (code, _, error) = await CliAsync("ledger", "verify", "--bundle", bundle, "--key", otherKey);
        Assert.Equal(ModelOpsCli.VerificationFailed, code);
        Assert.Contains("does not verify", error);
    }

    [Fact]
    public async Task VerifyWithoutAnAcceptedTokenExplainsTheRefusal()
    {
        var (code, _, error) = await CliAsync(false, "ledger", "verify", "--token", "not-a-token");

        Assert.Equal(ModelOpsCli.UsageOrConnectionError, code);
        Assert.Contains(nameof(StatusCode.Unauthenticated), error);
    }

    private Task<(int Code, string Output, string Error)> CliAsync(params string[] args) => CliAsync(true, args);

    private async Task<(int Code, string Output, string Error)> CliAsync(bool withToken, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string[] connection = withToken ? ["--ledger", _ledger.Address, "--token", _ledger.Token("auditor", "auditor")] : ["--ledger", _ledger.Address];
        var code = await ModelOpsCli.RunAsync([.. args, .. connection], output, error, Cancellation);
        return (code, output.ToString(), error.ToString());
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_ledger.Environment.DatabaseConnectionString);
        await connection.OpenAsync(Cancellation);
        await using var command = new NpgsqlCommand(sql, connection);
        Assert.Equal(1, await command.ExecuteNonQueryAsync(Cancellation));
    }
}

using Microsoft.Extensions.Options;
using Minio.Exceptions;
using ModelOps.Contracts.Registry.V1;
using ModelOps.Registry.Data;
using ModelOps.Registry.Domain;

namespace ModelOps.Registry.Gates;

/// <summary>
/// Hashes again, every <see cref="RegistryOptions.IntegritySweepEvery"/>, the artifacts of the versions that hold a stage or
/// an alias. A version whose bytes are altered or gone is marked, announced as <see cref="ArtifactIntegrityViolated"/>,
/// and no longer served by <c>GetDeployable</c> until its bytes are intact again (an honest re-upload repairs them).
/// Every replica sweeps; marking is idempotent and announces a verdict only when it changes.
/// </summary>
public sealed partial class IntegritySweep(
    RegistryStore store, ArtifactReader artifacts, IOptions<RegistryOptions> options, TimeProvider clock, ILogger<IntegritySweep> logger)
    : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = options.Value.IntegritySweepEvery;
        if (every <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(every, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, exception);
            }
        }
    }

    /// <summary>Checks every served version once; returns how many were found altered or gone.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var failed = 0;
        foreach (var version in await store.ServedVersionsAsync(cancellationToken))
        {
            var snapshot = version.Snapshot;
            string actual;
            try
            {
                var (sha256, size) = await artifacts.HashAsync(snapshot.ArtifactUri, cancellationToken);
                actual = size == snapshot.ArtifactSize ? sha256 : $"{sha256} ({size} bytes)";
            }
            catch (ObjectNotFoundException)
            {
                actual = "";
            }

            var intact = actual == snapshot.ArtifactSha256;
            failed += intact ? 0 : 1;
            await using var tx = await store.BeginAsync(cancellationToken);
            if (!await RegistryStore.SetIntegrityAsync(tx, snapshot.Model, snapshot.Version, intact, actual, cancellationToken))
            {
                continue;
            }

            if (!intact)
            {
                LogAltered(logger, snapshot.Model, snapshot.Version, snapshot.ArtifactSha256, actual);
                tx.Publish(new ArtifactIntegrityViolated
                {
                    Actor = "service:registry",
                    Model = snapshot.Model,
                    Version = snapshot.Version,
                    PinnedSha256 = snapshot.ArtifactSha256,
                    ActualSha256 = actual,
                    Uri = snapshot.ArtifactUri,
                });
            }

            await tx.CommitAsync(cancellationToken);
        }

        return failed;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The artifact of {Model} version {Version} no longer hashes to {Pinned} (now: {Actual}); it is no longer served")]
    private static partial void LogAltered(ILogger logger, string model, int version, string pinned, string actual);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The integrity sweep failed; it runs again at its next tick")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

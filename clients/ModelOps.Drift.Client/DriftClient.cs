using Grpc.Core;
using ModelOps.Drift.V1;
using ModelOps.Tracking.Client;

namespace ModelOps.Drift.Client;

/// <summary>
/// What a training pipeline (the reference) and a serving system (its traffic) send to the drift service. Rows and
/// records are streamed in messages of at most <see cref="BatchSize"/>.
/// </summary>
public sealed class DriftClient
{
    /// <summary>Rows or records per message.</summary>
    public const int BatchSize = 5000;

    private readonly Metadata? _headers;

    /// <summary>A client over <paramref name="invoker"/>, sending <paramref name="headers"/> (the bearer token) with every call.</summary>
    public DriftClient(CallInvoker invoker, Metadata? headers = null)
    {
        Raw = new DriftService.DriftServiceClient(invoker);
        _headers = headers;
    }

    /// <summary>The generated client, for the calls this class does not wrap.</summary>
    public DriftService.DriftServiceClient Raw { get; }

    /// <summary>Profiles <paramref name="rows"/> as the reference of a model version.</summary>
    public async Task<Reference> SetReferenceAsync(ReferenceHeader header, IEnumerable<Row> rows, CancellationToken cancellationToken = default)
    {
        using var call = Raw.SetReference(_headers, cancellationToken: cancellationToken);
        if (await call.TryWriteAsync(new SetReferenceRequest { Header = header }, cancellationToken))
        {
            foreach (var batch in rows.Chunk(BatchSize))
            {
                if (!await call.TryWriteAsync(new SetReferenceRequest { Rows = new RowBatch { Rows = { batch } } }, cancellationToken))
                {
                    break;
                }
            }

            await call.TryCompleteAsync();
        }

        return await call.ResponseAsync;
    }

    /// <summary>
    /// Streams column-by-column batches (at most 10,000 records each): the cheapest form, for a serving system that
    /// batches its predictions.
    /// </summary>
    public async Task<IngestResponse> IngestBatchesAsync(IEnumerable<RecordBatch> batches, CancellationToken cancellationToken = default)
    {
        using var call = Raw.Ingest(_headers, cancellationToken: cancellationToken);
        foreach (var batch in batches)
        {
            if (!await call.TryWriteAsync(new IngestRequest { Batch = batch }, cancellationToken))
            {
                break;
            }
        }

        await call.TryCompleteAsync();
        return await call.ResponseAsync;
    }

    /// <summary>Streams inference records; the answer says how many were accepted and how many came too late for their window.</summary>
    public async Task<IngestResponse> IngestAsync(IEnumerable<InferenceRecord> records, CancellationToken cancellationToken = default)
    {
        using var call = Raw.Ingest(_headers, cancellationToken: cancellationToken);
        foreach (var batch in records.Chunk(BatchSize))
        {
            if (!await call.TryWriteAsync(new IngestRequest { Records = { batch } }, cancellationToken))
            {
                break;
            }
        }

        await call.TryCompleteAsync();
        return await call.ResponseAsync;
    }

    /// <summary>
    /// Streams labels of a model version's predictions, joined by request id; the answer says how many joined, how many
    /// did not (unknown, expired or labelled already), and which concept-drift detectors signalled.
    /// </summary>
    public async Task<IngestLabelsResponse> IngestLabelsAsync(string model, string version, IEnumerable<Label> labels, CancellationToken cancellationToken = default)
    {
        using var call = Raw.IngestLabels(_headers, cancellationToken: cancellationToken);
        foreach (var batch in labels.Chunk(BatchSize))
        {
            if (!await call.TryWriteAsync(new IngestLabelsRequest { Model = model, Version = version, Labels = { batch } }, cancellationToken))
            {
                break;
            }
        }

        await call.TryCompleteAsync();
        return await call.ResponseAsync;
    }
}

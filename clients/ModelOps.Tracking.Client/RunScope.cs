using Grpc.Core;
using ModelOps.Tracking.V1;

namespace ModelOps.Tracking.Client;

/// <summary>How a <see cref="RunScope"/> batches metrics.</summary>
public sealed record RunScopeOptions
{
    /// <summary>Metrics sent in one message (at most the service's 1000).</summary>
    public int BatchSize { get; init; } = 1000;

    /// <summary>Longest a logged metric waits before it is sent.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// A running run. Metrics are buffered and streamed in batches (<c>LogMetrics</c>) by a background flush; params,
/// tags and inputs are written at once, so that a refused value fails the call that logged it. Disposing flushes and
/// ends the run: FINISHED if <see cref="Complete"/> was called, FAILED otherwise.
/// </summary>
public sealed class RunScope : IAsyncDisposable
{
    private readonly TrackingClient _client;
    private readonly RunScopeOptions _options;
    private readonly List<Metric> _buffer = [];
    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _flusher;
    private AsyncClientStreamingCall<LogMetricsRequest, LogMetricsResponse>? _stream;
    private Exception? _flushError;
    private RunStatus _outcome = RunStatus.Failed;
    private string? _failure = "the run scope was disposed without Complete()";
    private long _sent;
    private bool _disposed;

    internal RunScope(TrackingClient client, Run run, RunScopeOptions options)
    {
        _client = client;
        Run = run;
        _options = options with { BatchSize = Math.Clamp(options.BatchSize, 1, 1000) };
        _flusher = FlushPeriodicallyAsync();
    }

    /// <summary>The run as started (and, once disposed, as ended).</summary>
    public Run Run { get; private set; }

    /// <summary>The run's id.</summary>
    public string RunId => Run.RunId;

    /// <summary>Marks the work as succeeded: disposing ends the run FINISHED.</summary>
    public void Complete()
    {
        _outcome = RunStatus.Finished;
        _failure = null;
    }

    /// <summary>Marks the work as failed by <paramref name="exception"/>: disposing ends the run FAILED and records why.</summary>
    public void Fail(Exception exception)
    {
        _outcome = RunStatus.Failed;
        _failure = $"{exception.GetType().FullName}: {exception.Message}";
    }

    /// <summary>Buffers a metric value; it is sent within <see cref="RunScopeOptions.FlushInterval"/>.</summary>
    public void LogMetric(string key, double value, long step = 0, DateTimeOffset? timestamp = null)
    {
        ThrowIfFlushFailed();
        lock (_buffer)
        {
            _buffer.Add(new Metric { Key = key, Value = value, Step = step, Timestamp = (timestamp ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds() });
        }
    }

    /// <summary>Buffers several metric values at one step.</summary>
    public void LogMetrics(IReadOnlyDictionary<string, double> values, long step = 0)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var (key, value) in values)
        {
            LogMetric(key, value, step, now);
        }
    }

    /// <summary>Logs a param (write-once).</summary>
    public Task LogParamAsync(string key, string value, CancellationToken cancellationToken = default) =>
        LogParamsAsync(new Dictionary<string, string> { [key] = value }, cancellationToken);

    /// <summary>Logs params (write-once), in one batch.</summary>
    public async Task LogParamsAsync(IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken = default)
    {
        var batch = new LogBatchRequest { RunId = RunId };
        batch.Params.Add(values.Select(p => new Param { Key = p.Key, Value = p.Value }));
        await _client.Raw.LogBatchAsync(batch, _client.Options(cancellationToken));
    }

    /// <summary>Sets a tag (write-once).</summary>
    public async Task SetTagAsync(string key, string value, CancellationToken cancellationToken = default) =>
        await _client.Raw.LogBatchAsync(new LogBatchRequest { RunId = RunId, Tags = { new RunTag { Key = key, Value = value } } }, _client.Options(cancellationToken));

    /// <summary>Records a dataset the run used.</summary>
    public async Task LogInputAsync(DatasetInput input, CancellationToken cancellationToken = default) =>
        await _client.Raw.LogBatchAsync(new LogBatchRequest { RunId = RunId, Inputs = { input } }, _client.Options(cancellationToken));

    /// <summary>Fills in provenance fields not given at start.</summary>
    public async Task<ProvenanceReport> SetProvenanceAsync(Provenance provenance, CancellationToken cancellationToken = default) =>
        await _client.Raw.SetProvenanceAsync(new SetProvenanceRequest { RunId = RunId, Provenance = provenance }, _client.Options(cancellationToken));

    /// <summary>Uploads a file as an artifact of this run.</summary>
    public Task<Artifact> LogArtifactAsync(string file, string? path = null, string? contentType = null, CancellationToken cancellationToken = default) =>
        _client.UploadFileAsync(RunId, file, path, contentType, cancellationToken);

    /// <summary>Sends every buffered metric now.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        await _sending.WaitAsync(cancellationToken);
        try
        {
            while (true)
            {
                List<Metric> batch;
                lock (_buffer)
                {
                    if (_buffer.Count == 0)
                    {
                        break;
                    }

                    batch = _buffer.GetRange(0, Math.Min(_options.BatchSize, _buffer.Count));
                    _buffer.RemoveRange(0, batch.Count);
                }

                _stream ??= _client.Raw.LogMetrics(_client.Options(CancellationToken.None));
                if (!await _stream.TryWriteAsync(new LogMetricsRequest { RunId = RunId, Metrics = { batch } }, cancellationToken))
                {
                    // The service ended the stream (a refused batch): its answer says why.
                    await _stream.ResponseAsync;
                    throw new InvalidOperationException("The service ended the metric stream.");
                }

                _sent += batch.Count;
            }
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>Flushes, closes the metric stream and ends the run (FINISHED after <see cref="Complete"/>, FAILED otherwise).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stop.CancelAsync();
        await _flusher;
        Exception? sendError = _flushError;
        try
        {
            if (sendError is null)
            {
                await FlushAsync();
            }

            if (_stream is not null)
            {
                await _stream.TryCompleteAsync();
                var response = await _stream.ResponseAsync;
                if (response.AcceptedMetrics != _sent)
                {
                    throw new InvalidOperationException($"The service accepted {response.AcceptedMetrics} of {_sent} metrics.");
                }
            }
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            sendError ??= exception;
        }
        finally
        {
            _stream?.Dispose();
        }

        if (sendError is not null && _outcome == RunStatus.Finished)
        {
            Fail(sendError);
        }

        if (_failure is not null)
        {
            var reason = _failure.Length > 8000 ? _failure[..8000] : _failure;
            await _client.Raw.LogBatchAsync(new LogBatchRequest { RunId = RunId, Tags = { new RunTag { Key = "modelops.error", Value = reason } } }, _client.Options(CancellationToken.None));
        }

        Run = await _client.Raw.EndRunAsync(new EndRunRequest { RunId = RunId, Status = _outcome }, _client.Options(CancellationToken.None));
        _stop.Dispose();
        _sending.Dispose();
        if (sendError is not null)
        {
            throw new InvalidOperationException($"Metrics of run {RunId} could not all be sent; the run ended FAILED.", sendError);
        }
    }

    private async Task FlushPeriodicallyAsync()
    {
        using var timer = new PeriodicTimer(_options.FlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                // Not cancelled by the stop: cancelling a write would cancel the whole metric stream.
                await FlushAsync(CancellationToken.None);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            _flushError = exception;
        }
    }

    private void ThrowIfFlushFailed()
    {
        if (_flushError is not null)
        {
            throw new InvalidOperationException($"Metrics of run {RunId} could not be sent.", _flushError);
        }
    }
}

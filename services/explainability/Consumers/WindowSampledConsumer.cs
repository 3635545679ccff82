using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using MassTransit;
using ModelOps.Contracts;
using ModelOps.Contracts.Drift.V1;
using ModelOps.Contracts.Explainability.V1;
using ModelOps.Explainability.Agnostic;
using ModelOps.Explainability.Data;
using ModelOps.Explainability.Domain;
using ModelOps.Explainability.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Messaging;
using Npgsql;
using DriftClient = ModelOps.Drift.V1.DriftService.DriftServiceClient;

namespace ModelOps.Explainability.Consumers;

/// <summary>
/// Judges each production window whose sample drift kept for an explainability watch: reads the sample from drift,
/// explains it with the version's model, compares the window's importance with the version's latest importance report,
/// stores the window and, for a watched version, announces a change — AttributionDriftDetected when a window drifts
/// after one that had not, AttributionDriftResolved when one is within the limits again — in the same transaction as the
/// window and the inbox record, so each window is judged once and its announcement is never lost. A window that arrives
/// after a later one of the same version is stored but does not change the announced state.
/// </summary>
internal sealed partial class WindowSampledConsumer(
    NpgsqlDataSource dataSource, ModelSource models, DriftClient drift, ExplainabilityStore store, ExplainabilityMetrics metrics, ILogger<WindowSampledConsumer> logger)
    : IdempotentConsumer<WindowSampled>(dataSource)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    protected override async Task ConsumeOnceAsync(ConsumeContext<WindowSampled> context, NpgsqlTransaction transaction)
    {
        var window = context.Message;
        var cancellationToken = context.CancellationToken;
        if (!int.TryParse(window.Version, NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version < 1)
        {
            LogNotRegistered(logger, window.Model, window.Version);
            return; // drift watches versions the registry does not number: nothing to load a model from
        }

        var judged = new AttributionWindow
        {
            Model = new ModelRef { Model = window.Model, Version = version }, WindowStart = Timestamp.FromDateTimeOffset(window.WindowStart),
            WindowEnd = Timestamp.FromDateTimeOffset(window.WindowEnd), Records = window.Records,
            MaxShift = window.MaxShift > 0 ? window.MaxShift : AttributionDrift.DefaultMaxShift, TopK = window.TopK > 0 ? window.TopK : AttributionDrift.DefaultTopK,
            MinOverlap = window.MinOverlap > 0 ? window.MinOverlap : AttributionDrift.DefaultMinOverlap,
        };
        if (window.CountWindow is { } number)
        {
            judged.CountWindow = number;
        }

        await JudgeAsync(judged, window, cancellationToken);
        if (!await store.InsertWindowAsync(transaction, judged, window.OccurredAt, cancellationToken))
        {
            return; // judged already (drift reports a window once; a replayed report changes nothing)
        }

        metrics.Record(judged);
        var (wasDrifting, newer) = await store.AttributionStateAsync(transaction, window.Model, version, window.WindowStart, window.CountWindow ?? -1, cancellationToken);
        if (!judged.Judged || newer)
        {
            return; // an unjudged window changes nothing; a later window decided the state already
        }

        var events = new List<IIntegrationEvent>();
        if (judged.Drifted && wasDrifting != true && window.Watched)
        {
            events.Add(new AttributionDriftDetected
            {
                Actor = "explainability", Model = window.Model, Version = window.Version, WindowStart = window.WindowStart, WindowEnd = window.WindowEnd,
                Shift = judged.Shift, MaxShift = judged.MaxShift, Overlap = judged.Overlap, ReferenceTop = [.. judged.ReferenceTop], WindowTop = [.. judged.WindowTop],
                ReferenceReportId = Guid.Parse(judged.ReferenceReportId),
            });
        }
        else if (!judged.Drifted && wasDrifting == true)
        {
            events.Add(new AttributionDriftResolved { Actor = "explainability", Model = window.Model, Version = window.Version, WindowStart = window.WindowStart, Shift = judged.Shift });
        }

        // Unwatched versions are judged but not announced: their state stays calm, so that drift is announced once watched.
        await store.SetAttributionStateAsync(transaction, window.Model, version, window.Watched ? judged.Drifted : wasDrifting == true && judged.Drifted,
            window.OccurredAt, cancellationToken);
        await transaction.EnqueueAsync(events, cancellationToken);
    }

    // Fills the window's verdict, or leaves it unjudged with the reason. Transient faults (drift, the registry or the
    // object store away) are thrown, so the message is retried; refusals that will not change are the window's reason.
    private async Task JudgeAsync(AttributionWindow judged, WindowSampled window, CancellationToken cancellationToken)
    {
        ExplainedModel model;
        try
        {
            model = await models.LoadAsync(judged.Model, cancellationToken);
        }
        catch (ServiceException exception) when (exception.Kind is ErrorKind.NotFound or ErrorKind.FailedPrecondition or ErrorKind.InvalidArgument)
        {
            judged.Reason = $"the version's model cannot be explained: {exception.Message}";
            return;
        }

        var reference = await store.LatestImportanceAsync(window.Model, judged.Model.Version, cancellationToken);
        if (reference is null)
        {
            judged.Reason = "the version has no importance report to compare with (modelops explain importance, on its reference data)";
            return;
        }

        // A model explained with background rows (no covers, or model-agnostically) uses its reference report's.
        try
        {
            model = await models.WithBackgroundAsync(model, reference.Background ?? reference.Dataset, "background", cancellationToken);
        }
        catch (ServiceException exception) when (exception.Kind is ErrorKind.NotFound or ErrorKind.FailedPrecondition or ErrorKind.InvalidArgument)
        {
            judged.Reason = $"the reference report's background rows cannot be read: {exception.Message}";
            return;
        }

        ModelOps.Drift.V1.WindowSample sample;
        try
        {
            var request = new ModelOps.Drift.V1.GetWindowReportRequest
            {
                Model = window.Model, Version = window.Version, WindowStart = Timestamp.FromDateTimeOffset(window.WindowStart),
            };
            if (window.CountWindow is { } number)
            {
                request.CountWindow = number;
            }

            sample = await drift.GetWindowSampleAsync(request, deadline: DateTime.UtcNow.Add(Deadline), cancellationToken: cancellationToken);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            judged.Reason = "drift no longer keeps the window's sample";
            return;
        }

        if (sample.Rows.Count == 0)
        {
            judged.Reason = "drift kept no record of the window";
            return;
        }

        // The sample's columns by the model's feature names; a feature the traffic lacks is missing in every row.
        var features = model.FeatureNames;
        var columns = sample.Columns.Select((name, i) => (name, i)).ToDictionary(c => c.name, c => c.i, StringComparer.Ordinal);
        var rows = sample.Rows.Count;
        var values = new double[rows * features.Count];
        for (var r = 0; r < rows; r++)
        {
            for (var f = 0; f < features.Count; f++)
            {
                values[(r * features.Count) + f] = columns.TryGetValue(features[f], out var c) ? sample.Rows[r].Values[c] : double.NaN;
            }
        }

        var phi = new double[values.Length];
        try
        {
            await Task.Run(() => model.Explainer.Explain(values, rows, phi, new double[rows], null, Environment.ProcessorCount, cancellationToken), cancellationToken);
        }
        catch (ModelRunException exception)
        {
            judged.Reason = $"the model failed on the window's sample: {exception.Message}";
            return;
        }
        var importance = Importance.Summarise(features, values, phi, rows, new Dictionary<string, FeatureEntry>());
        var (shift, overlap, windowTop, referenceTop) = AttributionDrift.Compare(importance, reference, judged.TopK);
        judged.Sampled = rows;
        judged.Judged = true;
        judged.ReferenceReportId = reference.Id;
        judged.Shift = shift;
        judged.Overlap = overlap;
        judged.WindowTop.Add(windowTop);
        judged.ReferenceTop.Add(referenceTop);
        judged.Drifted = shift > judged.MaxShift || overlap < judged.MinOverlap;
        judged.Features.Add(importance.Features);
        var index = features.Select((name, i) => (name, i)).ToDictionary(f => f.name, f => f.i, StringComparer.Ordinal);
        foreach (var bee in reference.Beeswarm.Where(b => index.ContainsKey(b.Feature)))
        {
            var f = index[bee.Feature];
            judged.AttributionKs[bee.Feature] = AttributionDrift.KolmogorovSmirnov(bee.Attributions, Enumerable.Range(0, rows).Select(r => phi[(r * features.Count) + f]));
        }

        judged.Reason = string.Create(CultureInfo.InvariantCulture,
            $"importance shift {shift:0.###} (limit {judged.MaxShift:0.###}); {overlap:P0} of the reference's top {referenceTop.Count} kept (least {judged.MinOverlap:P0})");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Window of {Model} version {Version} not judged: the registry numbers versions, not '{Version}'")]
    private static partial void LogNotRegistered(ILogger logger, string model, string version);
}

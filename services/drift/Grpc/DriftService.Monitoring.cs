using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ModelOps.Drift.Data;
using ModelOps.Drift.V1;
using ModelOps.ServiceDefaults.Errors;
using ModelOps.ServiceDefaults.Grpc;
using ModelOps.ServiceDefaults.Identity;

namespace ModelOps.Drift.Grpc;

// Monitoring: labels and concept drift, watches, policies, status and column history.
public sealed partial class DriftService
{
    /// <inheritdoc />
    public override async Task<GetStatusResponse> GetStatus(GetStatusRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("status", request.IncludeUnwatched.ToString());
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var models = await store.StatusAsync(request.IncludeUnwatched, context.CancellationToken);
        foreach (var model in models.Where(m => m.Latest is not null))
        {
            // The status is an overview: each column's verdict, without the distributions (GetWindowReport has them).
            foreach (var column in model.Latest.Columns.Append(model.Latest.Prediction).OfType<ColumnReport>())
            {
                column.Histogram.Clear();
            }
        }

        var page = ByBytes(models.Skip((int)Math.Min(offset, int.MaxValue)).Take(pageSize), m => m.CalculateSize());
        return new GetStatusResponse
        {
            Models = { page },
            NextPageToken = offset + page.Count < models.Count ? Paging.Token(offset + page.Count, fingerprint) : "",
        };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Service},{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<IngestLabelsResponse> IngestLabels(IAsyncStreamReader<IngestLabelsRequest> requestStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var references = new Dictionary<(string, string), StoredReference>();
        long matched = 0, unmatched = 0;
        var drifts = new SortedSet<string>(StringComparer.Ordinal);
        var message = -1;
        try
        {
            while (await requestStream.MoveNext(cancellationToken))
            {
                message++;
                var part = requestStream.Current;
                var at = $"messages[{message}]";
                var keyViolations = new FieldViolations();
                CheckKey(keyViolations, $"{at}.model", part.Model);
                CheckKey(keyViolations, $"{at}.version", part.Version);
                keyViolations.Require(part.Labels.Count <= MaxPerMessage, $"{at}.labels", $"at most {MaxPerMessage} labels per message");
                keyViolations.ThrowIfAny("The labels of this message were not applied.");
                if (!references.TryGetValue((part.Model, part.Version), out var reference))
                {
                    reference = await store.GetReferenceAsync(part.Model, part.Version, cancellationToken, withProfile: false)
                                ?? throw ServiceErrors.FailedPrecondition("NO_REFERENCE",
                                    $"{at}: {TextRules.Echo(part.Model)} version {TextRules.Echo(part.Version)} has no reference, so no predictions to join labels to.",
                                    "REFERENCE", $"{part.Model}/{part.Version}");
                    if (reference.Prediction is not { Task: not ModelTask.Unspecified })
                    {
                        throw ServiceErrors.FailedPrecondition("NO_TASK",
                            $"{at}: the reference of {TextRules.Echo(part.Model)} version {TextRules.Echo(part.Version)} names no task (prediction_column and task), so no predictions were kept for labels.",
                            "REFERENCE", $"{part.Model}/{part.Version}");
                    }

                    references[(part.Model, part.Version)] = reference;
                }

                var classification = reference.Prediction!.Task == ModelTask.BinaryClassification;
                var violations = new FieldViolations();
                var labels = new List<(string, double)>(part.Labels.Count);
                for (var j = 0; j < part.Labels.Count; j++)
                {
                    var label = part.Labels[j];
                    var field = $"{at}.labels[{j}]";
                    TextRules.Name(violations, $"{field}.request_id", label.RequestId, MaxRequestId);
                    double? value = (label.Value?.KindCase, classification) switch
                    {
                        (Value.KindOneofCase.BoolValue, true) => label.Value!.BoolValue ? 1 : 0,
                        (Value.KindOneofCase.NumberValue, true) when label.Value!.NumberValue is 0 or 1 => label.Value.NumberValue,
                        (Value.KindOneofCase.NumberValue, false) when double.IsFinite(label.Value!.NumberValue) => label.Value.NumberValue,
                        _ => null,
                    };
                    if (value is null)
                    {
                        violations.Add($"{field}.value", classification ? "a binary label is a boolean, 0 or 1" : "a regression's label is a finite number");
                        continue;
                    }

                    labels.Add((label.RequestId, value.Value));
                }

                violations.ThrowIfAny("The labels of this message were not applied.");
                var outcome = await store.ApplyLabelsAsync(reference, labels, cancellationToken);
                matched += outcome.Matched;
                unmatched += outcome.Unmatched;
                drifts.UnionWith(outcome.Drifts);
            }
        }
        catch (ServiceException)
        {
            // Messages before the bad one were applied, each in its own transaction.
            context.ResponseTrailers.Add("matched-labels", matched.ToString(CultureInfo.InvariantCulture));
            throw;
        }

        return new IngestLabelsResponse { Matched = matched, Unmatched = unmatched, Drifts = { drifts } };
    }

    /// <inheritdoc />
    public override async Task<GetColumnHistoryResponse> GetColumnHistory(GetColumnHistoryRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        request.Column = TextRules.Name(violations, "column", request.Column, MaxNameLength);
        var pageSize = Paging.PageSize(request.PageSize, violations);
        var fingerprint = Paging.Fingerprint("column-history", request.Model, request.Version, request.Column);
        var offset = Paging.Offset(request.PageToken, fingerprint, violations);
        violations.ThrowIfAny();
        var reference = await store.GetReferenceAsync(request.Model, request.Version, context.CancellationToken)
                        ?? throw ReferenceNotFound(request.Model, request.Version);
        if (!reference.Profile.ByName.ContainsKey(request.Column))
        {
            throw ServiceErrors.InvalidArgument("column", $"{TextRules.Echo(request.Column)} is not a column of the reference of {TextRules.Echo(request.Model)} version {TextRules.Echo(request.Version)}");
        }

        var (points, read) = await store.ColumnHistoryAsync(request.Model, request.Version, request.Column, pageSize, offset, context.CancellationToken);
        return new GetColumnHistoryResponse { Points = { points }, NextPageToken = Paging.NextToken(read, pageSize, offset, fingerprint) };
    }

    /// <inheritdoc />
    [Authorize(Roles = $"{Roles.Pipeline},{Roles.Admin}")]
    public override async Task<MonitoringPolicy> SetMonitoringPolicy(SetMonitoringPolicyRequest request, ServerCallContext context)
    {
        var policy = request.Policy ?? new MonitoringPolicy();
        var violations = new FieldViolations();
        CheckKey(violations, "policy.model", policy.Model);
        var modelIsValid = !violations.Any;
        TextRules.FreeText(violations, "reason", request.Reason, 2000, required: true);
        violations.Require(policy.Rules.Count <= MaxColumns, "policy.rules", $"at most {MaxColumns} rules");
        violations.Require(policy.Importance.Count <= MaxColumns, "policy.importance", $"at most {MaxColumns} columns");
        violations.Require(policy.DatasetThreshold is >= 0 and <= 1, "policy.dataset_threshold", "must lie in [0, 1] (0: the service's default)");
        violations.Require(!policy.Weighted || policy.Importance.Count > 0, "policy.weighted", "weighting needs feature importance");
        violations.Require(System.Enum.IsDefined(policy.Preset), "policy.preset", "is not a preset");
        // The model's columns are looked up only for a model name that passed its own checks (one indexed read), so that
        // every fault of the policy is named at once, its columns' included.
        var kinds = modelIsValid ? await store.NewestSchemaAsync(policy.Model, context.CancellationToken) : null;
        var named = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < policy.Rules.Count && i < MaxColumns; i++)
        {
            var rule = policy.Rules[i];
            var field = $"policy.rules[{i}]";
            rule.Column = TextRules.Name(violations, $"{field}.column", rule.Column, MaxNameLength);
            violations.Require(named.Add(rule.Column), $"{field}.column", $"{TextRules.Echo(rule.Column)} has a rule already");
            violations.Require(System.Enum.IsDefined(rule.Method), $"{field}.method", "is not a method");
            var test = rule.Method is V1.DriftMethod.KolmogorovSmirnov or V1.DriftMethod.ChiSquare or V1.DriftMethod.ZTest;
            violations.Require(double.IsFinite(rule.Threshold) && rule.Threshold >= 0 && (!test || rule.Threshold <= 1), $"{field}.threshold",
                test ? "a test's threshold is a p-value in [0, 1] (0: the default)" : "must be a finite number ≥ 0 (0: the default)");
            violations.Require(rule.MinimumEffect is >= 0 and <= 1, $"{field}.minimum_effect", "must lie in [0, 1]");
            if (kinds is not null && rule.Column.Length > 0)
            {
                if (!kinds.TryGetValue(rule.Column, out var kind))
                {
                    violations.Add($"{field}.column", $"{TextRules.Echo(rule.Column)} is not a column of {TextRules.Echo(policy.Model)}'s newest reference");
                }
                else if (!Domain.Verdicts.Applies(rule.Method, kind))
                {
                    violations.Add($"{field}.method", $"{rule.Method} measures numbers; {TextRules.Echo(rule.Column)} is {kind.ToString().ToLowerInvariant()}");
                }
            }
        }

        foreach (var (column, weight) in policy.Importance.Take(MaxColumns))
        {
            var field = $"policy.importance[{TextRules.Clip(column, 40)}]";
            TextRules.Name(violations, field, column, MaxNameLength);
            violations.Require(double.IsFinite(weight) && weight >= 0, field, "must be a finite number ≥ 0");
            violations.Require(kinds is null || kinds.ContainsKey(column), field, $"{TextRules.Echo(column)} is not a column of {TextRules.Echo(policy.Model)}'s newest reference");
        }

        if (policy.Explainability is { } explain)
        {
            CheckExplainabilityWatch(violations, explain);
        }

        if (policy.Fairness is { } fairness)
        {
            CheckFairnessWatch(violations, fairness, kinds, policy.Model);
        }

        violations.Require(policy.DecisionLog is null || policy.DecisionLog.RetentionDays is >= 0 and <= Domain.DecisionLogs.MaxRetentionDays,
            "policy.decision_log.retention_days", $"must lie in [0, {Domain.DecisionLogs.MaxRetentionDays}] days (0: no log)");
        violations.ThrowIfAny("The policy was not stored.");
        var stored = new MonitoringPolicy
        {
            Model = policy.Model,
            Rules = { policy.Rules },
            Importance = { policy.Importance },
            DatasetThreshold = policy.DatasetThreshold,
            Weighted = policy.Weighted,
            Preset = policy.Preset,
            Fairness = policy.Fairness is { SensitiveColumns.Count: > 0 } watch ? watch : null,
            Explainability = policy.Explainability is { Enabled: true } explainability ? explainability : null,
            DecisionLog = policy.DecisionLog is { RetentionDays: > 0 } log ? log : null,
        };
        return await store.SavePolicyAsync(stored, request.Reason.Trim(), context.GetCaller().Actor, context.CancellationToken);
    }

    private static void CheckExplainabilityWatch(FieldViolations violations, ExplainabilityWatch watch)
    {
        violations.Require(watch.SampleRows is >= 0 and <= Domain.WindowSamples.MaxRows, "policy.explainability.sample_rows",
            $"must lie in [0, {Domain.WindowSamples.MaxRows}] (0: {Domain.WindowSamples.DefaultRows})");
        violations.Require(double.IsFinite(watch.MaxShift) && watch.MaxShift is >= 0 and <= 1, "policy.explainability.max_shift", "must lie in [0, 1] (0: 0.25)");
        violations.Require(watch.TopK is >= 0 and <= 50, "policy.explainability.top_k", "must lie in [0, 50] (0: 5)");
        violations.Require(double.IsFinite(watch.MinOverlap) && watch.MinOverlap is >= 0 and <= 1, "policy.explainability.min_overlap", "must lie in [0, 1] (0: 0.6)");
    }

    /// <summary>Most sensitive columns a fairness watch names.</summary>
    public const int MaxSensitiveColumns = 8;

    private static void CheckFairnessWatch(FieldViolations violations, FairnessWatch watch, IReadOnlyDictionary<string, Profiles.ColumnKind>? kinds, string model)
    {
        violations.Require(watch.SensitiveColumns.Count <= MaxSensitiveColumns, "policy.fairness.sensitive_columns", $"at most {MaxSensitiveColumns} columns");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < watch.SensitiveColumns.Count && i < MaxSensitiveColumns; i++)
        {
            var field = $"policy.fairness.sensitive_columns[{i}]";
            var column = TextRules.Name(violations, field, watch.SensitiveColumns[i], MaxNameLength);
            violations.Require(column.Length == 0 || seen.Add(column), field, $"{TextRules.Echo(column)} is named twice");
            violations.Require(kinds is null || column.Length == 0 || kinds.ContainsKey(column), field,
                $"{TextRules.Echo(column)} is not a column of {TextRules.Echo(model)}'s newest reference");
        }

        violations.Require(double.IsFinite(watch.MinRatio) && watch.MinRatio is >= 0 and <= 1, "policy.fairness.min_ratio", "must lie in [0, 1] (0: 0.8)");
        violations.Require(double.IsFinite(watch.MaxDifference) && watch.MaxDifference is >= 0 and <= 1, "policy.fairness.max_difference", "must lie in [0, 1] (0: 0.1)");
        violations.Require(watch.MinGroupSize >= 0, "policy.fairness.min_group_size", "must be ≥ 0 (0: 30)");
    }

    /// <inheritdoc />
    public override async Task<MonitoringPolicy> GetMonitoringPolicy(GetMonitoringPolicyRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        violations.ThrowIfAny();
        return await store.GetPolicyAsync(request.Model, context.CancellationToken)
               ?? throw ServiceErrors.NotFound("monitoring_policy", request.Model);
    }

    /// <inheritdoc />
    [Authorize(Roles = Roles.Admin)]
    public override async Task<V1.Watch> SetWatch(SetWatchRequest request, ServerCallContext context)
    {
        var violations = new FieldViolations();
        CheckKey(violations, "model", request.Model);
        CheckKey(violations, "version", request.Version);
        TextRules.FreeText(violations, "reason", request.Reason, 2000, required: true);
        violations.ThrowIfAny("Nothing changed.");
        return await store.SetWatchAsync(request.Model, request.Version, request.Watch, request.Reason.Trim(), context.GetCaller().Actor, context.CancellationToken);
    }
}

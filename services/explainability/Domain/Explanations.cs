using ModelOps.Explainability.V1;

namespace ModelOps.Explainability.Domain;

/// <summary>Turns attributions into row explanations with their reason codes.</summary>
internal static class Explanations
{
    /// <summary>Default reason codes per row.</summary>
    public const int DefaultTopK = 5;

    /// <summary>Most reason codes per row.</summary>
    public const int MaxTopK = 50;

    /// <summary>Largest streamed batch (2 MiB): half a client's default 4 MiB message limit.</summary>
    public const int MaxBatchBytes = 2 << 20;

    /// <summary>
    /// Rows per streamed batch: the requested number, fewer when a row's attributions (and standard errors) and its
    /// <paramref name="topK"/> reason codes, each at most <paramref name="largestReason"/> bytes of names and
    /// description, would make the batch larger than <see cref="MaxBatchBytes"/>; at least one.
    /// </summary>
    public static int BatchRows(int requested, int features, int topK, int largestReason, bool errors)
    {
        var perRow = (features * (errors ? 18L : 9L)) + (Math.Min(topK, features) * (largestReason + 48L)) + 96;
        return (int)Math.Clamp(MaxBatchBytes / perRow, 1, requested);
    }

    /// <summary>The most bytes a reason code's feature name, readable name and description take, from the model and its dictionary.</summary>
    public static int LargestReason(IReadOnlyList<string> features, IReadOnlyDictionary<string, FeatureEntry> dictionary) =>
        features.Select(f => System.Text.Encoding.UTF8.GetByteCount(f) * 2).Concat(dictionary.Values.Select(e =>
            System.Text.Encoding.UTF8.GetByteCount(e.Feature) + System.Text.Encoding.UTF8.GetByteCount(e.DisplayName) + System.Text.Encoding.UTF8.GetByteCount(e.Description)))
            .DefaultIfEmpty(0).Max();

    /// <summary>
    /// The explanation of one row. With a threshold, the decision is prediction ≥ threshold and the reason codes are the
    /// features that pushed the margin toward it (φ &gt; 0 for true, φ &lt; 0 for false), strongest first; without one,
    /// the largest |φ|. Ties are broken by the model's feature order, so the same row always gets the same codes.
    /// </summary>
    public static RowExplanation Explain(ExplainedModel model, long index, string id, ReadOnlySpan<double> row, ReadOnlySpan<double> phi, double margin,
        double? threshold, int topK, IReadOnlyDictionary<string, FeatureEntry> dictionary, ReadOnlySpan<double> errors = default)
    {
        var explanation = new RowExplanation
        {
            Row = index, Id = id, BaseValue = model.Explainer.BaseValue, Margin = margin, Prediction = model.Model.Prediction(margin),
        };
        var attributions = phi.ToArray();
        explanation.Attributions.Add(attributions);
        explanation.AttributionErrors.Add(errors.ToArray());
        bool? decision = threshold is { } cut ? explanation.Prediction >= cut : null;
        if (decision is { } d)
        {
            explanation.Decision = d;
        }

        var candidates = new List<int>();
        for (var f = 0; f < phi.Length; f++)
        {
            if (decision switch { true => phi[f] > 0, false => phi[f] < 0, null => phi[f] != 0 })
            {
                candidates.Add(f);
            }
        }

        candidates.Sort((a, b) => Math.Abs(attributions[b]).CompareTo(Math.Abs(attributions[a])) is var c && c != 0 ? c : a.CompareTo(b));
        foreach (var f in candidates.Take(topK))
        {
            var name = model.FeatureNames[f];
            var entry = dictionary.GetValueOrDefault(name);
            var reason = new ReasonCode
            {
                Rank = explanation.Reasons.Count + 1, Feature = name, DisplayName = entry?.DisplayName is { Length: > 0 } display ? display : name,
                Description = entry?.Description ?? "", Attribution = attributions[f],
            };
            if (!double.IsNaN(row[f]))
            {
                reason.Value = row[f];
            }

            explanation.Reasons.Add(reason);
        }

        return explanation;
    }
}

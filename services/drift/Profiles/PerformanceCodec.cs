using Google.Protobuf;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Profiles;

/// <summary>A window's performance of either task: one of the two is set.</summary>
public sealed record TaskPerformance(ClassificationPerformance? Classification, RegressionPerformance? Regression)
{
    /// <summary>An empty one for <paramref name="task"/>.</summary>
    public static TaskPerformance For(ModelTask task, double threshold) => task == ModelTask.BinaryClassification
        ? new TaskPerformance(new ClassificationPerformance(threshold), null)
        : new TaskPerformance(null, new RegressionPerformance());

    /// <summary>Labelled predictions counted.</summary>
    public long Count => Classification?.Count ?? Regression!.Count;

    /// <summary>Counts one labelled prediction; returns its error for the concept-drift detectors (1 wrong / 0 right, or |error|).</summary>
    public double Add(double prediction, double label)
    {
        if (Classification is { } classification)
        {
            var positive = label >= 0.5;
            classification.Add(prediction, positive);
            return prediction >= classification.Threshold == positive ? 0 : 1;
        }

        Regression!.Add(prediction, label);
        return Math.Abs(prediction - label);
    }

    /// <summary>Adds another window's counts of the same task.</summary>
    public void Merge(TaskPerformance other)
    {
        if (Classification is { } classification)
        {
            classification.Merge(other.Classification ?? throw new ArgumentException("Different tasks do not merge.", nameof(other)));
        }
        else
        {
            Regression!.Merge(other.Regression ?? throw new ArgumentException("Different tasks do not merge.", nameof(other)));
        }
    }
}

/// <summary>Window performance to and from the bytes the service stores (<c>modelops.drift.v1.StoredPerformance</c>), and as the API shows it.</summary>
public static class PerformanceCodec
{
    /// <summary>The stored form.</summary>
    public static byte[] Encode(TaskPerformance performance)
    {
        var stored = new StoredPerformance();
        if (performance.Classification is { } c)
        {
            stored.Task = ModelTask.BinaryClassification;
            stored.Threshold = c.Threshold;
            stored.TruePositives = c.TruePositives;
            stored.FalsePositives = c.FalsePositives;
            stored.TrueNegatives = c.TrueNegatives;
            stored.FalseNegatives = c.FalseNegatives;
            stored.LogLossSum = c.LogLossSum;
            foreach (var (bin, positives, negatives) in c.Bins())
            {
                if (positives > 0)
                {
                    stored.PositiveBin.Add(bin);
                    stored.PositiveCount.Add(positives);
                }

                if (negatives > 0)
                {
                    stored.NegativeBin.Add(bin);
                    stored.NegativeCount.Add(negatives);
                }
            }
        }
        else
        {
            var r = performance.Regression!;
            stored.Task = ModelTask.Regression;
            stored.Count = r.Count;
            stored.AbsoluteErrorSum = r.AbsoluteErrorSum;
            stored.SquaredErrorSum = r.SquaredErrorSum;
        }

        return stored.ToByteArray();
    }

    /// <summary>Reads the stored form back.</summary>
    public static TaskPerformance Decode(byte[] bytes)
    {
        var stored = StoredPerformance.Parser.ParseFrom(bytes);
        if (stored.Task != ModelTask.BinaryClassification)
        {
            return new TaskPerformance(null, RegressionPerformance.Restore(stored.Count, stored.AbsoluteErrorSum, stored.SquaredErrorSum));
        }

        var bins = stored.PositiveBin.Select((b, i) => (b, stored.PositiveCount[i], 0L))
            .Concat(stored.NegativeBin.Select((b, i) => (b, 0L, stored.NegativeCount[i])));
        return new TaskPerformance(ClassificationPerformance.Restore(stored.Threshold, stored.TruePositives, stored.FalsePositives,
            stored.TrueNegatives, stored.FalseNegatives, stored.LogLossSum, bins), null);
    }

    /// <summary>The API's view of a window's performance.</summary>
    public static WindowPerformance Describe(TaskPerformance performance, long predictions)
    {
        var described = new WindowPerformance { Predictions = predictions, Labelled = performance.Count };
        if (performance.Classification is { } c)
        {
            described.Classification = new V1.ClassificationPerformance
            {
                Threshold = c.Threshold,
                TruePositives = c.TruePositives,
                FalsePositives = c.FalsePositives,
                TrueNegatives = c.TrueNegatives,
                FalseNegatives = c.FalseNegatives,
                Accuracy = c.Accuracy,
                Precision = c.Precision,
                Recall = c.Recall,
                F1 = c.F1,
                LogLoss = c.LogLoss,
                Auc = c.Auc,
                AucBound = c.AucBound,
            };
        }
        else
        {
            described.Regression = new V1.RegressionPerformance { Rmse = performance.Regression!.Rmse, Mae = performance.Regression.Mae };
        }

        return described;
    }
}

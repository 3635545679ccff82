namespace ModelOps.Tracking.Domain;

/// <summary>
/// Largest-Triangle-Three-Buckets (Steinarsson, "Downsampling Time Series for Visual Representation", 2013): keeps the
/// first and last points and, from each of the buckets between, the point forming the largest triangle with the
/// point kept before and the average of the next bucket — so a chart of the result keeps the curve's peaks.
/// Written here because no maintained .NET library offers it.
/// </summary>
public static class Downsampling
{
    /// <summary>The indices of the points of (<paramref name="x"/>, <paramref name="y"/>) to keep: at most <paramref name="threshold"/>.</summary>
    public static int[] LargestTriangleThreeBuckets(IReadOnlyList<double> x, IReadOnlyList<double> y, int threshold)
    {
        var n = x.Count;
        if (threshold >= n || threshold <= 0)
        {
            return Enumerable.Range(0, n).ToArray();
        }

        if (threshold < 3)
        {
            return threshold == 1 ? [0] : [0, n - 1];
        }

        var kept = new int[threshold];
        var every = (double)(n - 2) / (threshold - 2);
        var a = 0;
        kept[0] = 0;
        for (var bucket = 0; bucket < threshold - 2; bucket++)
        {
            // The next bucket's average point.
            var nextStart = (int)Math.Floor((bucket + 1) * every) + 1;
            var nextEnd = Math.Min((int)Math.Floor((bucket + 2) * every) + 1, n);
            double averageX = 0, averageY = 0;
            for (var i = nextStart; i < nextEnd; i++)
            {
                averageX += x[i];
                averageY += Finite(y[i]);
            }

            var count = Math.Max(nextEnd - nextStart, 1);
            averageX /= count;
            averageY /= count;

            var start = (int)Math.Floor(bucket * every) + 1;
            var end = (int)Math.Floor((bucket + 1) * every) + 1;
            var best = start;
            var bestArea = -1.0;
            for (var i = start; i < end; i++)
            {
                var area = Math.Abs((x[a] - averageX) * (Finite(y[i]) - Finite(y[a])) - (x[a] - x[i]) * (averageY - Finite(y[a])));
                if (area > bestArea)
                {
                    bestArea = area;
                    best = i;
                }
            }

            kept[bucket + 1] = best;
            a = best;
        }

        kept[threshold - 1] = n - 1;
        return kept;
    }

    // A NaN or infinite value cannot weigh in an area; it is kept only if chosen as an endpoint.
    private static double Finite(double value) => double.IsFinite(value) ? value : 0;
}

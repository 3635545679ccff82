using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using ModelOps.Drift.Profiles;
using ModelOps.Drift.V1;

namespace ModelOps.Drift.Domain;

/// <summary>A record kept in its window's sample: the window, its priority, its request id and its sampled columns' values (NaN: missing).</summary>
public sealed record SampledRow(long Key, long Priority, string RequestId, string[] Columns, double[] Values);

/// <summary>
/// The samples an explainability watch keeps of each window's records: the k records of least priority, where a
/// record's priority is a hash of its request id (a replayed record keeps its place) or a random key. Bottom-k samples
/// merge exactly: the union of two replicas' samples, cut to its k least, is the sample of their union.
/// </summary>
public static class WindowSamples
{
    /// <summary>Rows kept per window when the watch gives none.</summary>
    public const int DefaultRows = 500;

    /// <summary>Most rows kept per window.</summary>
    public const int MaxRows = 2000;

    /// <summary>Whether the policy watches explainability.</summary>
    public static bool Watches(MonitoringPolicy? policy) => policy?.Explainability is { Enabled: true };

    /// <summary>The rows a watch keeps per window.</summary>
    public static int RowsOf(ExplainabilityWatch watch) => watch.SampleRows == 0 ? DefaultRows : watch.SampleRows;

    /// <summary>The columns a sample keeps: the reference's numeric and boolean ones, which a model takes as numbers.</summary>
    public static string[] Columns(IReadOnlyList<ColumnSchema> schema) =>
        [.. schema.Where(c => c.Kind is Profiles.ColumnKind.Numeric or Profiles.ColumnKind.Boolean).Select(c => c.Name)];

    /// <summary>A record's priority: 63 bits of the SHA-256 of its request id, or random without one.</summary>
    public static long Priority(string requestId) => requestId.Length > 0
        ? BinaryPrimitives.ReadInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(requestId))) & long.MaxValue
        : Random.Shared.NextInt64(long.MaxValue);

    /// <summary>Keeps, per window, the <paramref name="rows"/> records of least priority offered to it.</summary>
    public sealed class Collector(int rows, string[] columns)
    {
        // Per window a max-heap on priority, so the worst kept record is the one a better one replaces.
        private readonly Dictionary<long, PriorityQueue<SampledRow, long>> _windows = [];

        /// <summary>Offers a record of window <paramref name="key"/>; <paramref name="value"/> gives its value of each sampled column (null: missing).</summary>
        public void Offer(long key, string requestId, Func<string, double?> value)
        {
            if (!_windows.TryGetValue(key, out var heap))
            {
                _windows[key] = heap = new PriorityQueue<SampledRow, long>(Comparer<long>.Create((a, b) => b.CompareTo(a)));
            }

            var priority = Priority(requestId);
            if (heap.Count == rows && heap.TryPeek(out _, out var worst) && priority >= worst)
            {
                return;
            }

            var values = new double[columns.Length];
            for (var c = 0; c < columns.Length; c++)
            {
                values[c] = value(columns[c]) ?? double.NaN;
            }

            if (heap.Count == rows)
            {
                heap.Dequeue();
            }

            heap.Enqueue(new SampledRow(key, priority, requestId, columns, values), priority);
        }

        /// <summary>The kept records of every window.</summary>
        public IReadOnlyList<SampledRow> Rows => [.. _windows.Values.SelectMany(h => h.UnorderedItems.Select(i => i.Element))];
    }
}

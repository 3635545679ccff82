namespace ModelOps.Fairness.Analysis;

/// <summary>The sensitive columns form more intersectional groups than a table holds.</summary>
/// <param name="message">How many.</param>
public sealed class TooManyGroupsException(string message) : Exception(message);

/// <summary>
/// The rows of a dataset summed per intersectional group (one combination of values of every sensitive attribute):
/// confusion cells, calibration bins and regression sums. Every grouping a report shows — one attribute, a pair, all of
/// them — is a sum of these groups, so the data are read once, and tables of the same attributes merge exactly.
/// </summary>
public sealed class GroupTable
{
    /// <summary>Most intersectional groups a table holds.</summary>
    public const int MaxGroups = 2000;

    private readonly Dictionary<GroupKey, int> _index = [];

    /// <summary>A new, empty table.</summary>
    public GroupTable(IReadOnlyList<string> attributes, int calibrationBins)
    {
        Attributes = attributes;
        CalibrationBins = calibrationBins;
    }

    /// <summary>The sensitive attributes, in order.</summary>
    public IReadOnlyList<string> Attributes { get; }

    /// <summary>Equal-width score bins over [0, 1] for calibration.</summary>
    public int CalibrationBins { get; }

    /// <summary>Per group, the values of its attributes (null: missing).</summary>
    public List<string?[]> Keys { get; } = [];

    /// <summary>Per group, its confusion cells TN, FP, FN, TP (4 per group).</summary>
    public List<long> Cells { get; } = [];

    /// <summary>Per group and calibration bin: rows, sum of scores, rows labelled 1 (3 per bin).</summary>
    public List<double> Calibration { get; } = [];

    /// <summary>Per group: rows, Σ estimate, Σ |error|, Σ error² (4 per group).</summary>
    public List<double> Regression { get; } = [];

    /// <summary>Groups.</summary>
    public int Count => Keys.Count;

    /// <summary>The group's confusion counts.</summary>
    public Confusion ConfusionOf(int group) => new(Cells[4 * group], Cells[(4 * group) + 1], Cells[(4 * group) + 2], Cells[(4 * group) + 3]);

    /// <summary>The index of the group of <paramref name="values"/>, added when new.</summary>
    /// <exception cref="TooManyGroupsException">More than <see cref="MaxGroups"/> groups.</exception>
    public int GroupOf(string?[] values)
    {
        var key = new GroupKey(values);
        if (_index.TryGetValue(key, out var group))
        {
            return group;
        }

        if (Keys.Count >= MaxGroups)
        {
            throw new TooManyGroupsException($"the sensitive columns form more than {MaxGroups} intersectional groups");
        }

        group = Keys.Count;
        _index.Add(key, group);
        Keys.Add(values);
        Cells.AddRange([0, 0, 0, 0]);
        for (var i = 0; i < 3 * CalibrationBins; i++)
        {
            Calibration.Add(0);
        }

        Regression.AddRange([0, 0, 0, 0]);
        return group;
    }

    /// <summary>Sums the rows of <paramref name="data"/> into the table.</summary>
    public void Add(EvaluationData data)
    {
        // Each row's intersectional group: the attributes' codes in mixed radix when their product is small (an array
        // lookup per row), else a dictionary of the code tuples.
        var attributes = data.Attributes;
        long product = 1;
        foreach (var attribute in attributes)
        {
            product = Math.Min(product * Math.Max(1, attribute.Values.Count), int.MaxValue);
        }

        var groups = new int[data.Rows];
        if (product <= 1 << 20)
        {
            var direct = new int[product];
            Array.Fill(direct, -1);
            for (var row = 0; row < data.Rows; row++)
            {
                var code = 0;
                foreach (var attribute in attributes)
                {
                    code = (code * attribute.Values.Count) + attribute.Codes[row];
                }

                var group = direct[code];
                if (group < 0)
                {
                    group = direct[code] = GroupOf([.. attributes.Select(a => a.Values[a.Codes[row]])]);
                }

                groups[row] = group;
            }
        }
        else
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var row = 0; row < data.Rows; row++)
            {
                var tuple = string.Join(',', attributes.Select(a => a.Codes[row]));
                if (!seen.TryGetValue(tuple, out var group))
                {
                    group = seen[tuple] = GroupOf([.. attributes.Select(a => a.Values[a.Codes[row]])]);
                }

                groups[row] = group;
            }
        }

        if (data.IsClassification)
        {
            AddClassification(data, groups);
        }
        else
        {
            AddRegression(data, groups);
        }
    }

    /// <summary>The per-row intersectional groups of a dataset summed in this table (read again: the table keeps no rows).</summary>
    public int[] GroupsOf(EvaluationData data)
    {
        var groups = new int[data.Rows];
        for (var row = 0; row < data.Rows; row++)
        {
            groups[row] = GroupOf([.. data.Attributes.Select(a => a.Values[a.Codes[row]])]);
        }

        return groups;
    }

    private void AddClassification(EvaluationData data, int[] groups)
    {
        var cells = new long[4 * Count];
        var labels = data.Labels!;
        var predictions = data.Predictions!;
        for (var row = 0; row < data.Rows; row++)
        {
            cells[(4 * groups[row]) + (2 * labels[row]) + predictions[row]]++;
        }

        for (var i = 0; i < cells.Length; i++)
        {
            Cells[i] += cells[i];
        }

        if (data.Scores is not { } scores || CalibrationBins == 0)
        {
            return;
        }

        var bins = CalibrationBins;
        var calibration = new double[3 * bins * Count];
        for (var row = 0; row < data.Rows; row++)
        {
            var bin = Math.Min(bins - 1, (int)(scores[row] * bins));
            var at = 3 * ((groups[row] * bins) + bin);
            calibration[at]++;
            calibration[at + 1] += scores[row];
            calibration[at + 2] += labels[row];
        }

        for (var i = 0; i < calibration.Length; i++)
        {
            Calibration[i] += calibration[i];
        }
    }

    private void AddRegression(EvaluationData data, int[] groups)
    {
        var sums = new double[4 * Count];
        var targets = data.Targets!;
        var estimates = data.Estimates!;
        for (var row = 0; row < data.Rows; row++)
        {
            var at = 4 * groups[row];
            var error = estimates[row] - targets[row];
            sums[at]++;
            sums[at + 1] += estimates[row];
            sums[at + 2] += Math.Abs(error);
            sums[at + 3] += error * error;
        }

        for (var i = 0; i < sums.Length; i++)
        {
            Regression[i] += sums[i];
        }
    }

    private readonly struct GroupKey(string?[] values) : IEquatable<GroupKey>
    {
        private readonly string?[] _values = values;

        public bool Equals(GroupKey other) => _values.AsSpan().SequenceEqual(other._values);

        public override bool Equals(object? obj) => obj is GroupKey other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var value in _values)
            {
                hash.Add(value, StringComparer.Ordinal);
            }

            return hash.ToHashCode();
        }
    }
}

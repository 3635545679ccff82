using System.Globalization;
using ModelOps.Datasets;
using ModelOps.Fairness.Analysis;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Fairness.Domain;

/// <summary>Which columns hold what.</summary>
/// <param name="Label">The label.</param>
/// <param name="Score">A classifier's score in [0, 1], or null.</param>
/// <param name="Prediction">A classifier's 0/1 prediction or a regression's estimate, or null.</param>
/// <param name="Threshold">Predicted 1 when score ≥ threshold.</param>
/// <param name="Sensitive">The sensitive columns.</param>
/// <param name="Regression">Whether the task is a regression.</param>
public sealed record DatasetColumns(string Label, string? Score, string? Prediction, double Threshold, IReadOnlyList<string> Sensitive, bool Regression);

/// <summary>
/// Reads the columns a fairness analysis needs from a CSV (RFC 4180, header row; the framework's TextFieldParser) or a
/// Parquet file (Parquet.Net), and nothing else. Labels and 0/1 predictions are 0, 1, true or false (any case; 0.0 and
/// 1.0 too); scores are numbers in [0, 1]; a missing label, score or prediction is refused with its line. In a
/// sensitive column an empty cell, NaN or a Parquet null is the missing value, a group of its own.
/// </summary>
public static class DatasetReader
{
    /// <summary>Most rows read.</summary>
    public const int MaxRows = 5_000_000;

    /// <summary>Most distinct values of one sensitive column.</summary>
    public const int MaxValues = 1000;

    /// <summary>Longest value of a sensitive column.</summary>
    public const int MaxValueLength = 200;

    /// <summary>The dataset's columns, checked.</summary>
    public static async Task<EvaluationData> ReadAsync(Stream content, bool parquet, DatasetColumns columns, CancellationToken cancellationToken)
    {
        var builder = new Builder(columns);
        await TableReader.ReadAsync(content, parquet, builder, MaxRows, cancellationToken);
        return builder.Build();
    }

    /// <summary>Collects the checked columns, row by row.</summary>
    private sealed class Builder(DatasetColumns columns) : IRowSink
    {
        private readonly List<byte> _labels = [];
        private readonly List<byte> _predictions = [];
        private readonly List<double> _scores = [];
        private readonly List<double> _targets = [];
        private readonly List<double> _estimates = [];
        private readonly List<int>[] _codes = [.. columns.Sensitive.Select(_ => new List<int>())];
        private readonly List<string?>[] _values = [.. columns.Sensitive.Select(_ => new List<string?>())];
        private readonly Dictionary<string, int>[] _index = [.. columns.Sensitive.Select(_ => new Dictionary<string, int>(StringComparer.Ordinal))];
        private readonly int[] _missingCode = [.. columns.Sensitive.Select(_ => -1)];

        // Cells in this order: label, score or prediction, the sensitive columns.
        public int[] Locate(IReadOnlyList<string> header)
        {
            var wanted = new List<(string Field, string Name)> { ("dataset.label_column", columns.Label) };
            if (columns.Score is { } score)
            {
                wanted.Add(("dataset.score_column", score));
            }
            else
            {
                wanted.Add(("dataset.prediction_column", columns.Prediction!));
            }

            wanted.AddRange(columns.Sensitive.Select((name, i) => ($"dataset.sensitive_columns[{i}]", name)));
            return TableReader.Locate(header, wanted);
        }

        public void Add(string?[] cells, string where)
        {
            if (_codes.Length > 0 ? _codes[0].Count >= MaxRows : _labels.Count + _targets.Count >= MaxRows)
            {
                throw new DatasetException("dataset.artifact_path", $"the dataset has more than {MaxRows} rows");
            }

            if (columns.Regression)
            {
                _targets.Add(Number(cells[0], "dataset.label_column", "label", where));
                _estimates.Add(Number(cells[1], "dataset.prediction_column", "prediction", where));
            }
            else
            {
                var label = Binary(cells[0], "dataset.label_column", "label", where);
                _labels.Add(label);
                if (columns.Score is not null)
                {
                    var score = Number(cells[1], "dataset.score_column", "score", where);
                    if (score is < 0 or > 1)
                    {
                        throw new DatasetException("dataset.score_column", $"{where}: the score {score.ToString("R", CultureInfo.InvariantCulture)} is outside [0, 1]");
                    }

                    _scores.Add(score);
                    _predictions.Add(score >= columns.Threshold ? (byte)1 : (byte)0);
                }
                else
                {
                    _predictions.Add(Binary(cells[1], "dataset.prediction_column", "prediction", where));
                }
            }

            for (var i = 0; i < _codes.Length; i++)
            {
                _codes[i].Add(Code(i, cells[2 + i], where));
            }
        }

        public EvaluationData Build()
        {
            var rows = columns.Regression ? _targets.Count : _labels.Count;
            if (rows == 0)
            {
                throw new DatasetException("dataset.artifact_path", "the dataset has a header but no rows");
            }

            for (var i = 0; i < _values.Length; i++)
            {
                if (_values[i].Count == 1)
                {
                    throw new DatasetException($"dataset.sensitive_columns[{i}]",
                        $"column {TextRules.Echo(columns.Sensitive[i])} holds {(_values[i][0] is { } only ? $"the value {TextRules.Echo(only)}" : "no value")} in every row: a single group cannot be compared");
                }
            }

            var attributes = columns.Sensitive.Select((name, i) => new SensitiveAttribute(name, [.. _codes[i]], _values[i])).ToList();
            return columns.Regression
                ? new EvaluationData { Rows = rows, Attributes = attributes, Targets = [.. _targets], Estimates = [.. _estimates] }
                : new EvaluationData
                {
                    Rows = rows, Attributes = attributes, Labels = [.. _labels], Predictions = [.. _predictions],
                    Scores = columns.Score is null ? null : [.. _scores],
                };
        }

        private int Code(int column, string? cell, string where)
        {
            if (cell is null || cell.Length == 0 || cell.Equals("NaN", StringComparison.OrdinalIgnoreCase))
            {
                if (_missingCode[column] < 0)
                {
                    _missingCode[column] = _values[column].Count;
                    _values[column].Add(null);
                }

                return _missingCode[column];
            }

            if (_index[column].TryGetValue(cell, out var code))
            {
                return code;
            }

            var field = $"dataset.sensitive_columns[{column}]";
            if (cell.Length > MaxValueLength || TextRules.NameProblem(cell) is not null)
            {
                throw new DatasetException(field, $"{where}: a value of column {TextRules.Echo(columns.Sensitive[column])} must be at most {MaxValueLength} characters without control or format characters");
            }

            if (_index[column].Count >= MaxValues)
            {
                throw new DatasetException(field, $"column {TextRules.Echo(columns.Sensitive[column])} holds more than {MaxValues} distinct values: is it sensitive, or an identifier?");
            }

            code = _values[column].Count;
            _index[column][cell] = code;
            _values[column].Add(cell);
            return code;
        }

        private static byte Binary(string? cell, string field, string what, string where)
        {
            switch (cell?.Trim().ToLowerInvariant())
            {
                case "1" or "1.0" or "true":
                    return 1;
                case "0" or "0.0" or "false":
                    return 0;
                case null or "" or "nan":
                    throw new DatasetException(field, $"{where}: the {what} is missing");
                default:
                    throw new DatasetException(field, $"{where}: the {what} {TextRules.Echo(TextRules.Clip(cell, 40))} is not binary (0/1 or true/false)");
            }
        }

        private static double Number(string? cell, string field, string what, string where)
        {
            if (string.IsNullOrWhiteSpace(cell))
            {
                throw new DatasetException(field, $"{where}: the {what} is missing");
            }

            if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                throw new DatasetException(field, $"{where}: the {what} {TextRules.Echo(TextRules.Clip(cell, 40))} is not a finite number");
            }

            return value;
        }
    }
}

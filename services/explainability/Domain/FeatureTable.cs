using System.Globalization;
using ModelOps.Datasets;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Explainability.Domain;

/// <summary>
/// A dataset's feature columns, row-major in the model's feature order: a column per feature, named as the model names
/// it (other columns are ignored). An empty cell, NaN or a Parquet null is missing (NaN); true/false count as 1/0; any
/// other text is refused naming its line and column. Bounded by <see cref="MaxRows"/> rows and <see cref="MaxValues"/>
/// values before they are kept.
/// </summary>
internal sealed class FeatureTable(IReadOnlyList<string> features, string? idColumn) : IRowSink
{
    /// <summary>Most rows of a dataset explained.</summary>
    public const int MaxRows = 1_000_000;

    /// <summary>Most values (rows × features) of a dataset explained.</summary>
    public const long MaxValues = 20_000_000;

    /// <summary>Longest row id.</summary>
    public const int MaxIdLength = 200;

    private readonly List<double> _values = [];
    private readonly List<string> _ids = [];
    private double[]? _array;

    public int Rows { get; private set; }

    /// <summary>The values, row-major (copied once, when first asked for after the last row).</summary>
    public double[] Values => _array ??= [.. _values];

    public IReadOnlyList<string> Ids => _ids;

    public int[] Locate(IReadOnlyList<string> header)
    {
        var wanted = features.Select(f => ("dataset.artifact_path", f)).ToList();
        if (idColumn is { Length: > 0 })
        {
            wanted.Add(("dataset.id_column", idColumn));
        }

        return TableReader.Locate(header, wanted);
    }

    public void Add(string?[] cells, string where)
    {
        if (Rows >= MaxRows || (long)(Rows + 1) * features.Count > MaxValues)
        {
            throw new DatasetException("dataset.artifact_path", $"the dataset has more than {Math.Min(MaxRows, MaxValues / Math.Max(1, features.Count))} rows of {features.Count} features: at most {MaxRows} rows and {MaxValues} values are explained at once");
        }

        for (var f = 0; f < features.Count; f++)
        {
            _values.Add(Number(cells[f], f, where));
        }

        if (idColumn is { Length: > 0 })
        {
            var id = cells[features.Count] ?? "";
            if (id.Length > MaxIdLength)
            {
                throw new DatasetException("dataset.id_column", $"{where}: the id is longer than {MaxIdLength} characters");
            }

            _ids.Add(id);
        }

        Rows++;
        _array = null;
    }

    private double Number(string? cell, int feature, string where)
    {
        if (cell is null || cell.Length == 0 || cell.Equals("NaN", StringComparison.OrdinalIgnoreCase))
        {
            return double.NaN;
        }

        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        return cell.Trim().ToLowerInvariant() switch
        {
            "true" => 1,
            "false" => 0,
            _ => throw new DatasetException("dataset.artifact_path",
                $"{where}, column {TextRules.Echo(features[feature])}: {TextRules.Echo(TextRules.Clip(cell, 40))} is not a number (features are numeric; empty or NaN is missing)"),
        };
    }
}

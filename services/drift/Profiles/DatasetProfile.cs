using ModelOps.ServiceDefaults.Errors;
namespace ModelOps.Drift.Profiles;

/// <summary>A column of a model's input (or its prediction) and how it is compared.</summary>
/// <param name="Name">The feature's name, as serving systems send it.</param>
/// <param name="Kind">Numeric, categorical or boolean.</param>
/// <param name="Centring">For a numeric column of a reference, how windows centre its values past the exact cap (<see cref="ColumnProfile.CentringForWindows"/>).</param>
public sealed record ColumnSchema(string Name, ColumnKind Kind, Centring? Centring = null);

/// <summary>One value of a record: a number, a label, a boolean, or nothing (missing).</summary>
public readonly record struct FeatureValue
{
    private FeatureValue(double? number, string? label, bool? flag)
    {
        Number = number;
        Label = label;
        Flag = flag;
    }

    /// <summary>The number, when it is one.</summary>
    public double? Number { get; }

    /// <summary>The label, when it is one.</summary>
    public string? Label { get; }

    /// <summary>The boolean, when it is one.</summary>
    public bool? Flag { get; }

    /// <summary>Whether no value was given (null).</summary>
    public bool IsMissing => Number is null && Label is null && Flag is null;

    /// <summary>A number (NaN and ±∞ count as missing).</summary>
    public static FeatureValue Of(double number) => new(number, null, null);

    /// <summary>A label (empty counts as missing).</summary>
    public static FeatureValue Of(string label) => new(null, label, null);

    /// <summary>A boolean.</summary>
    public static FeatureValue Of(bool flag) => new(null, null, flag);

    /// <summary>Nothing: a missing value.</summary>
    public static FeatureValue Missing => default;

    /// <summary>The value as a model's score or input: a finite number, or a boolean as 1 / 0; null otherwise (missing, a label, NaN or ±∞).</summary>
    public double? Score => Number is { } number && double.IsFinite(number) ? number : Flag is { } flag ? (flag ? 1 : 0) : null;
}

/// <summary>One column of a column-by-column batch: its values (one array, matching the column's kind) and an optional missing mask.</summary>
/// <param name="Name">The column.</param>
/// <param name="Numbers">Numbers (NaN and ±∞ are missing).</param>
/// <param name="Labels">Labels ("" is missing).</param>
/// <param name="Flags">Booleans.</param>
/// <param name="Missing">True where a record's value is missing.</param>
public sealed record ColumnValues(string Name, double[]? Numbers, string[]? Labels, bool[]? Flags, bool[]? Missing)
{
    /// <summary>The value of record <paramref name="row"/>.</summary>
    public FeatureValue ValueAt(int row) =>
        Missing is { } missing && missing[row] ? FeatureValue.Missing
        : Labels is { } labels ? FeatureValue.Of(labels[row])
        : Flags is { } flags ? FeatureValue.Of(flags[row])
        : Numbers is { } numbers ? FeatureValue.Of(numbers[row])
        : FeatureValue.Missing;
}

/// <summary>A record refused because it does not fit the schema.</summary>
/// <param name="column">The column at fault.</param>
/// <param name="message">What is wrong.</param>
public sealed class SchemaMismatchException(string column, string message) : Exception(message)
{
    /// <summary>The column at fault.</summary>
    public string Column { get; } = column;
}

/// <summary>
/// The profile of a dataset or a window: one <see cref="ColumnProfile"/> per column of its schema, and the number of
/// rows. Profiles of the same schema merge column by column.
/// </summary>
public sealed class DatasetProfile
{
    private readonly Dictionary<string, ColumnProfile> _columns;

    /// <summary>An empty profile of <paramref name="schema"/>, keeping at most <paramref name="exactCap"/> distinct values of a numeric column exactly.</summary>
    public DatasetProfile(IReadOnlyList<ColumnSchema> schema, int exactCap = ColumnProfile.ExactCap)
    {
        Schema = schema;
        _columns = new Dictionary<string, ColumnProfile>(StringComparer.Ordinal);
        foreach (var column in schema)
        {
            _columns.Add(column.Name, new ColumnProfile(column.Name, column.Kind, exactCap, column.Centring));
        }

        Columns = [.. schema.Select(c => _columns[c.Name])];
    }

    /// <summary>The columns, in schema order.</summary>
    public IReadOnlyList<ColumnSchema> Schema { get; }

    /// <summary>The column profiles, in schema order.</summary>
    public IReadOnlyList<ColumnProfile> Columns { get; }

    /// <summary>The column profiles by name.</summary>
    public IReadOnlyDictionary<string, ColumnProfile> ByName => _columns;

    /// <summary>Rows added.</summary>
    public long Rows { get; private set; }

    /// <summary>
    /// Checks a row against the schema without adding it: every value's column must exist and its kind fit (a number
    /// for a numeric column, a label for a categorical one, a boolean for a boolean one); a column the row lacks counts
    /// as missing when the row is added.
    /// </summary>
    public void Check(IReadOnlyDictionary<string, FeatureValue> row)
    {
        foreach (var (name, value) in row)
        {
            if (!_columns.TryGetValue(name, out var column))
            {
                throw new SchemaMismatchException(name, $"{TextRules.Echo(name)} is not a column of the reference schema");
            }

            if (value.IsMissing)
            {
                continue;
            }

            var fits = column.Kind switch
            {
                ColumnKind.Numeric => value.Number is not null,
                ColumnKind.Categorical => value.Label is not null,
                _ => value.Flag is not null,
            };
            if (!fits)
            {
                throw new SchemaMismatchException(name,
                    $"{TextRules.Echo(name)} is {column.Kind.ToString().ToLowerInvariant()} in the reference schema; the record gives {Describe(value)}");
            }

            if (value.Label is { Length: > ColumnProfile.MaxLabelLength })
            {
                throw new SchemaMismatchException(name, $"a label is at most {ColumnProfile.MaxLabelLength} characters");
            }
        }
    }

    /// <summary>Adds a row that <see cref="Check"/> accepted.</summary>
    public void Add(IReadOnlyDictionary<string, FeatureValue> row)
    {
        Rows++;
        foreach (var column in Columns)
        {
            if (!row.TryGetValue(column.Name, out var value) || value.IsMissing)
            {
                column.AddMissing();
                continue;
            }

            switch (column.Kind)
            {
                case ColumnKind.Numeric:
                    column.AddNumber(value.Number!.Value);
                    break;
                case ColumnKind.Categorical:
                    column.AddLabel(value.Label);
                    break;
                default:
                    column.AddLabel(value.Flag!.Value ? "true" : "false");
                    break;
            }
        }
    }

    /// <summary>
    /// Adds the rows <paramref name="indices"/> of a column-by-column batch checked against the schema; a column the
    /// batch lacks is missing in those rows.
    /// </summary>
    public void AddRows(IReadOnlyDictionary<string, ColumnValues> batch, IReadOnlyList<int> indices)
    {
        Rows += indices.Count;
        foreach (var column in Columns)
        {
            if (!batch.TryGetValue(column.Name, out var values))
            {
                for (var k = 0; k < indices.Count; k++)
                {
                    column.AddMissing();
                }

                continue;
            }

            foreach (var i in indices)
            {
                if (values.Missing is { } missing && missing[i])
                {
                    column.AddMissing();
                }
                else if (values.Numbers is { } numbers)
                {
                    column.AddNumber(numbers[i]);
                }
                else if (values.Labels is { } labels)
                {
                    column.AddLabel(labels[i]);
                }
                else
                {
                    column.AddLabel(values.Flags![i] ? "true" : "false");
                }
            }
        }
    }

    /// <summary>Sets the row count of a stored profile.</summary>
    internal void RestoreRows(long rows) => Rows = rows;

    /// <summary>Adds <paramref name="other"/>, a profile of the same schema over other rows.</summary>
    public void Merge(DatasetProfile other)
    {
        if (!other.Schema.SequenceEqual(Schema))
        {
            throw new ArgumentException("Profiles of different schemas do not merge.", nameof(other));
        }

        Rows += other.Rows;
        for (var i = 0; i < Columns.Count; i++)
        {
            Columns[i].Merge(other.Columns[i]);
        }
    }

    private static string Describe(FeatureValue value) =>
        value.Number is { } n ? $"the number {n}" : value.Label is { } l ? $"the label '{l}'" : $"the boolean {value.Flag}";
}

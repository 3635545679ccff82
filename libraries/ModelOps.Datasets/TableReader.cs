using System.Globalization;
using Microsoft.VisualBasic.FileIO;
using ModelOps.ServiceDefaults.Errors;
using Parquet;
using Parquet.Schema;

namespace ModelOps.Datasets;

/// <summary>A dataset that cannot be used, naming the request's field at fault (its column) and the row.</summary>
/// <param name="field">The request's field: <c>dataset.label_column</c>, <c>dataset.sensitive_columns[1]</c>, ...</param>
/// <param name="message">What is wrong, and where.</param>
public sealed class DatasetException(string field, string message) : Exception(message)
{
    /// <summary>The request's field at fault.</summary>
    public string Field { get; } = field;
}

/// <summary>What a service keeps of a table's rows: the columns it wants, then each row's cells of them as text.</summary>
public interface IRowSink
{
    /// <summary>The positions in <paramref name="header"/> of the columns wanted, in the order <see cref="Add"/> gets their cells.</summary>
    int[] Locate(IReadOnlyList<string> header);

    /// <summary>One row's cells of the wanted columns (null: a Parquet null); <paramref name="where"/> names the line or row.</summary>
    void Add(string?[] cells, string where);
}

/// <summary>
/// Reads a table from a CSV (RFC 4180, header row; the framework's TextFieldParser) or a Parquet file (Parquet.Net) and
/// hands the cells of the columns a sink wants to it, row by row, as the text a CSV would hold, so both formats are
/// checked by one set of rules. Nothing else of the file is kept.
/// </summary>
public static class TableReader
{
    /// <summary>Reads <paramref name="content"/> into <paramref name="sink"/>; a Parquet file over <paramref name="maxRows"/> rows is refused before its rows are read (a sink counts a CSV's).</summary>
    public static async Task ReadAsync(Stream content, bool parquet, IRowSink sink, long maxRows, CancellationToken cancellationToken)
    {
        if (parquet)
        {
            try
            {
                await ReadParquetAsync(content, sink, maxRows, cancellationToken);
            }
            catch (Exception exception) when (exception is not (DatasetException or OperationCanceledException))
            {
                // Parquet.Net reports a file it cannot read with several exception types; all mean the same here.
                throw new DatasetException("dataset.artifact_path", $"the file cannot be read as Parquet ({TextRules.Clip(exception.Message, 200)})");
            }
        }
        else
        {
            await Task.Run(() => ReadCsv(content, sink, cancellationToken), cancellationToken);
        }
    }

    /// <summary>
    /// The positions of <paramref name="wanted"/> columns in <paramref name="header"/>; a column the file lacks is refused
    /// naming its request field and the file's columns.
    /// </summary>
    public static int[] Locate(IReadOnlyList<string> header, IReadOnlyList<(string Field, string Name)> wanted)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = header.Count - 1; i >= 0; i--)
        {
            index[header[i]] = i;
        }

        var positions = new int[wanted.Count];
        for (var i = 0; i < wanted.Count; i++)
        {
            if (!index.TryGetValue(wanted[i].Name, out positions[i]))
            {
                var known = string.Join(", ", header.Take(20).Select(h => TextRules.Echo(TextRules.Clip(h, 60))));
                throw new DatasetException(wanted[i].Field, $"the file has no column {TextRules.Echo(wanted[i].Name)} (its columns: {known}{(header.Count > 20 ? ", …" : "")})");
            }
        }

        return positions;
    }

    private static void ReadCsv(Stream content, IRowSink builder, CancellationToken cancellationToken)
    {
        using var parser = new TextFieldParser(content) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = false };
        parser.SetDelimiters(",");
        var header = parser.ReadFields() ?? throw new DatasetException("dataset.artifact_path", "the file is empty: a header row naming the columns is required");
        var positions = builder.Locate(header);
        var cells = new string?[positions.Length];
        while (!parser.EndOfData)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var line = parser.LineNumber;
            string[]? fields;
            try
            {
                fields = parser.ReadFields();
            }
            catch (MalformedLineException exception)
            {
                throw new DatasetException("dataset.artifact_path", $"line {exception.LineNumber} is not valid CSV");
            }

            if (fields is null)
            {
                continue;
            }

            if (fields.Length != header.Length)
            {
                throw new DatasetException("dataset.artifact_path", $"line {line} has {fields.Length} fields; the header names {header.Length}");
            }

            for (var i = 0; i < positions.Length; i++)
            {
                cells[i] = fields[positions[i]];
            }

            builder.Add(cells, $"line {line}");
        }
    }

    private static async Task ReadParquetAsync(Stream content, IRowSink builder, long maxRows, CancellationToken cancellationToken)
    {
        await using var reader = await ParquetReader.CreateAsync(content, leaveStreamOpen: true, cancellationToken: cancellationToken);
        var fields = reader.Schema.GetDataFields();
        var positions = builder.Locate([.. fields.Select(f => f.Name)]);
        long offset = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            if (offset + group.RowCount > maxRows)
            {
                throw new DatasetException("dataset.artifact_path", $"the dataset has more than {maxRows} rows");
            }

            var rows = (int)group.RowCount;
            var columns = new List<string?[]>();
            foreach (var position in positions)
            {
                columns.Add(await TextsAsync(group, fields[position], rows, cancellationToken));
            }

            var cells = new string?[positions.Length];
            for (var row = 0; row < rows; row++)
            {
                for (var i = 0; i < cells.Length; i++)
                {
                    cells[i] = columns[i][row];
                }

                builder.Add(cells, $"row {offset + row + 1}");
            }

            offset += rows;
        }
    }

    // A column's values as the text a CSV would hold (null: missing), so both formats are checked by one set of rules.
    private static async Task<string?[]> TextsAsync(ParquetRowGroupReader group, DataField field, int rows, CancellationToken cancellationToken)
    {
        if (field.IsArray || field.Path.Length > 1)
        {
            throw new DatasetException("dataset.artifact_path", $"column {TextRules.Echo(field.Name)} is nested: only flat columns are read");
        }

        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var texts = new string?[rows];
            await group.ReadAsync(field, texts, cancellationToken: cancellationToken);
            return texts;
        }

        return type switch
        {
            _ when type == typeof(bool) => await ValuesAsync<bool>(group, field, rows, v => v ? "true" : "false", cancellationToken),
            _ when type == typeof(double) => await ValuesAsync<double>(group, field, rows, v => v.ToString("R", CultureInfo.InvariantCulture), cancellationToken),
            _ when type == typeof(float) => await ValuesAsync<float>(group, field, rows, v => ((double)v).ToString("R", CultureInfo.InvariantCulture), cancellationToken),
            _ when type == typeof(long) => await ValuesAsync<long>(group, field, rows, v => v.ToString(CultureInfo.InvariantCulture), cancellationToken),
            _ when type == typeof(int) => await ValuesAsync<int>(group, field, rows, v => v.ToString(CultureInfo.InvariantCulture), cancellationToken),
            _ when type == typeof(short) => await ValuesAsync<short>(group, field, rows, v => v.ToString(CultureInfo.InvariantCulture), cancellationToken),
            _ when type == typeof(byte) => await ValuesAsync<byte>(group, field, rows, v => v.ToString(CultureInfo.InvariantCulture), cancellationToken),
            _ => throw new DatasetException("dataset.artifact_path", $"column {TextRules.Echo(field.Name)} holds {type.Name} values: numbers, booleans or strings are read"),
        };
    }

    // A required column is read into plain values (Parquet.Net 6.1 reading one into nullable values is unsafe, as the
    // drift service found), a nullable one into nullable values.
    private static async Task<string?[]> ValuesAsync<T>(ParquetRowGroupReader group, DataField field, int rows, Func<T, string> text, CancellationToken cancellationToken)
        where T : struct
    {
        if (!field.IsNullable)
        {
            var required = new T[rows];
            await group.ReadAsync<T>(field, required, cancellationToken: cancellationToken);
            return [.. required.Select(v => (string?)text(v))];
        }

        var values = new T?[rows];
        await group.ReadAsync<T>(field, values, cancellationToken: cancellationToken);
        return [.. values.Select(v => v is { } x ? text(x) : null)];
    }
}

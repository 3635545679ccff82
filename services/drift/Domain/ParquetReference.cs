using System.Globalization;
using System.Security.Cryptography;
using ModelOps.Drift.Profiles;
using ModelOps.ServiceDefaults.Errors;
using Parquet;
using Parquet.Schema;

namespace ModelOps.Drift.Domain;

/// <summary>
/// Profiles a Parquet file (read with Parquet.Net) as a reference, one row group and one column at a time. Parquet
/// keeps its metadata at the end of the file, so the object is first copied to a temporary file while it is hashed.
/// Kinds come from the file's schema — numbers NUMERIC, booleans BOOLEAN, strings CATEGORICAL — unless given; a number
/// or boolean column may be given CATEGORICAL (its values become labels). Null and NaN are missing. Columns of other
/// types (dates, binary, nested) are left out unless given, which is an error.
/// </summary>
public static class ParquetReference
{
    /// <summary>The file's profile (keeping at most <paramref name="exactCap"/> distinct numbers of a column exactly), and the SHA-256 (hex) of its bytes.</summary>
    public static async Task<(DatasetProfile Profile, string Sha256)> ProfileAsync(
        Stream body, IReadOnlyDictionary<string, ColumnKind> given, CancellationToken cancellationToken, int exactCap = ColumnProfile.ExactCap)
    {
        var path = Path.Combine(Path.GetTempPath(), $"modelops-reference-{Guid.NewGuid():N}.parquet");
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        string sha256;
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }

            sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        file.Position = 0;
        try
        {
            return (await ReadAsync(file, given, exactCap, cancellationToken), sha256);
        }
        catch (Exception exception) when (exception is not (ReferenceFormatException or OperationCanceledException))
        {
            // Parquet.Net reports a file it cannot read with several exception types; all mean the same here.
            throw new ReferenceFormatException($"the file cannot be read as Parquet ({exception.Message})");
        }
    }

    private static async Task<DatasetProfile> ReadAsync(Stream file, IReadOnlyDictionary<string, ColumnKind> given, int exactCap, CancellationToken cancellationToken)
    {
        await using var reader = await ParquetReader.CreateAsync(file, leaveStreamOpen: true, cancellationToken: cancellationToken);
        var fields = new List<(DataField Field, ColumnKind Kind)>();
        foreach (var field in reader.Schema.GetDataFields())
        {
            var natural = NaturalKind(field);
            if (field.IsArray || field.Path.Length > 1)
            {
                natural = null;
            }

            if (given.TryGetValue(field.Name, out var kind))
            {
                if (natural is null || (kind != natural && kind != ColumnKind.Categorical))
                {
                    throw new ReferenceFormatException($"column {TextRules.Echo(field.Name)} holds {field.ClrType.Name} values, which cannot be read as {kind.ToString().ToLowerInvariant()}");
                }

                fields.Add((field, kind));
            }
            else if (natural is { } inferred)
            {
                fields.Add((field, inferred));
            }
        }

        var unknown = given.Keys.Where(name => fields.All(f => f.Field.Name != name)).ToList();
        if (unknown.Count > 0)
        {
            throw new ReferenceFormatException($"the file has no column {string.Join(", ", unknown.Take(5).Select(n => TextRules.Echo(n)))}");
        }

        if (fields.Count == 0)
        {
            throw new ReferenceFormatException("the file has no column of numbers, booleans or strings");
        }

        CsvReference.CheckNames([.. fields.Select(f => f.Field.Name)]);
        var profile = new DatasetProfile([.. fields.Select(f => new ColumnSchema(f.Field.Name, f.Kind))], exactCap);
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var rows = checked((int)group.RowCount);
            var columns = new Dictionary<string, ColumnValues>(StringComparer.Ordinal);
            foreach (var (field, kind) in fields)
            {
                columns[field.Name] = await ReadAsync(group, field, kind, rows, cancellationToken);
            }

            profile.AddRows(columns, Enumerable.Range(0, rows).ToArray());
        }

        return profile;
    }

    private static ColumnKind? NaturalKind(DataField field)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        return type == typeof(bool) ? ColumnKind.Boolean
            : type == typeof(string) || type == typeof(ReadOnlyMemory<char>) ? ColumnKind.Categorical
            : IsNumber(type) ? ColumnKind.Numeric
            : null;
    }

    private static bool IsNumber(Type type) =>
        type == typeof(double) || type == typeof(float) || type == typeof(decimal) || type == typeof(long) || type == typeof(int) || type == typeof(short) ||
        type == typeof(sbyte) || type == typeof(ulong) || type == typeof(uint) || type == typeof(ushort) || type == typeof(byte);

    // One column of one row group, in the form its kind is profiled in.
    private static async Task<ColumnValues> ReadAsync(ParquetRowGroupReader group, DataField field, ColumnKind kind, int rows, CancellationToken cancellationToken)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var labels = new string[rows];
            await group.ReadAsync(field, labels, cancellationToken: cancellationToken);
            if (labels.FirstOrDefault(l => l is { Length: > ColumnProfile.MaxLabelLength }) is { } tooLong)
            {
                throw new ReferenceFormatException(
                    $"column {TextRules.Echo(field.Name)} holds a label of {tooLong.Length} characters: at most {ColumnProfile.MaxLabelLength}");
            }

            var missing = labels.Select(l => l is null).ToArray();
            return new ColumnValues(field.Name, null, [.. labels.Select(l => l ?? "")], null, missing);
        }

        if (type == typeof(bool))
        {
            bool?[] flags;
            if (field.IsNullable)
            {
                flags = new bool?[rows];
                await group.ReadAsync<bool>(field, flags, cancellationToken: cancellationToken);
            }
            else
            {
                // As for numbers: a required column is read into plain values.
                var required = new bool[rows];
                await group.ReadAsync<bool>(field, required, cancellationToken: cancellationToken);
                flags = [.. required.Select(f => (bool?)f)];
            }

            return kind == ColumnKind.Categorical
                ? new ColumnValues(field.Name, null, [.. flags.Select(f => f is { } v ? (v ? "true" : "false") : "")], null, [.. flags.Select(f => f is null)])
                : new ColumnValues(field.Name, null, null, [.. flags.Select(f => f == true)], [.. flags.Select(f => f is null)]);
        }

        var numbers = type switch
        {
            _ when type == typeof(double) => await NumbersAsync<double>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(float) => await NumbersAsync<float>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(decimal) => await NumbersAsync<decimal>(group, field, rows, v => (double)v, cancellationToken),
            _ when type == typeof(long) => await NumbersAsync<long>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(int) => await NumbersAsync<int>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(short) => await NumbersAsync<short>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(sbyte) => await NumbersAsync<sbyte>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(ulong) => await NumbersAsync<ulong>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(uint) => await NumbersAsync<uint>(group, field, rows, v => v, cancellationToken),
            _ when type == typeof(ushort) => await NumbersAsync<ushort>(group, field, rows, v => v, cancellationToken),
            _ => await NumbersAsync<byte>(group, field, rows, v => v, cancellationToken),
        };
        return kind == ColumnKind.Categorical
            ? new ColumnValues(field.Name, null, [.. numbers.Select(v => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture))], null, null)
            : new ColumnValues(field.Name, numbers, null, null, null);
    }

    // Nulls become NaN, which the profile counts as missing. A required column is read into plain values: Parquet.Net
    // 6.1 reading one into nullable values corrupts some of them when other threads use the shared array pool.
    private static async Task<double[]> NumbersAsync<T>(ParquetRowGroupReader group, DataField field, int rows, Func<T, double> convert, CancellationToken cancellationToken)
        where T : struct
    {
        if (!field.IsNullable)
        {
            var required = new T[rows];
            await group.ReadAsync<T>(field, required, cancellationToken: cancellationToken);
            return [.. required.Select(convert)];
        }

        var values = new T?[rows];
        await group.ReadAsync<T>(field, values, cancellationToken: cancellationToken);
        return [.. values.Select(v => v is { } x ? convert(x) : double.NaN)];
    }
}

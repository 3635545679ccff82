using System.Globalization;
using System.Security.Cryptography;
using Microsoft.VisualBasic.FileIO;
using ModelOps.Drift.Profiles;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Drift.Domain;

/// <summary>A file that cannot be a reference: a CSV without a header or with a row of the wrong width, an unreadable Parquet file, a column given that the file lacks.</summary>
/// <param name="message">What is wrong, and where.</param>
public sealed class ReferenceFormatException(string message) : Exception(message);

/// <summary>
/// Profiles a CSV file (RFC 4180: header row, quoted fields, via the framework's TextFieldParser) as a reference,
/// reading it once as it streams: the first <see cref="InferenceRows"/> rows are held to infer the kinds not given,
/// the rest are profiled as they arrive. An empty cell or NaN is missing; a value that does not fit its column's kind
/// counts as a type violation.
/// </summary>
public static class CsvReference
{
    /// <summary>Rows read before the kinds of the columns are decided.</summary>
    public const int InferenceRows = 1000;

    /// <summary>Most columns of a reference.</summary>
    public const int MaxColumns = 1000;

    /// <summary>Longest column name.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Refuses more than <see cref="MaxColumns"/> columns, and a name that breaks a name's rules or is too long.</summary>
    public static void CheckNames(IReadOnlyList<string> names)
    {
        if (names.Count > MaxColumns)
        {
            throw new ReferenceFormatException($"the file has {names.Count} columns: a reference has at most {MaxColumns}");
        }

        foreach (var name in names)
        {
            if (name.Length > MaxNameLength || TextRules.NameProblem(name) is not null)
            {
                throw new ReferenceFormatException($"the column name {TextRules.Echo(name)} is not a name of at most {MaxNameLength} characters without control or format characters");
            }
        }
    }

    /// <summary>The file's profile (keeping at most <paramref name="exactCap"/> distinct numbers of a column exactly), and the SHA-256 (hex) of the bytes read.</summary>
    public static (DatasetProfile Profile, string Sha256) Profile(
        Stream csv, IReadOnlyDictionary<string, ColumnKind> given, CancellationToken cancellationToken, int exactCap = ColumnProfile.ExactCap)
    {
        using var hashing = new HashingStream(csv);
        using var parser = new TextFieldParser(hashing) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = false };
        parser.SetDelimiters(",");
        var header = parser.ReadFields() ?? throw new ReferenceFormatException("the file is empty: a header row naming the columns is required");
        if (header.Distinct(StringComparer.Ordinal).Count() != header.Length || header.Any(string.IsNullOrWhiteSpace))
        {
            throw new ReferenceFormatException("the header row must name every column once");
        }

        CheckNames(header);

        var held = new List<string[]>();
        DatasetProfile? profile = null;
        ColumnKind[] kinds = [];
        while (!parser.EndOfData)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var line = parser.LineNumber;
            var fields = parser.ReadFields();
            if (fields is null)
            {
                continue;
            }

            if (fields.Length != header.Length)
            {
                throw new ReferenceFormatException($"line {line} has {fields.Length} fields; the header names {header.Length}");
            }

            if (profile is null)
            {
                held.Add(fields);
                if (held.Count < InferenceRows)
                {
                    continue;
                }

                (profile, kinds) = Start(header, held, given, exactCap);
                held.Clear();
                continue;
            }

            Add(profile, kinds, fields);
        }

        if (profile is null)
        {
            (profile, kinds) = Start(header, held, given, exactCap);
        }

        hashing.ReadToEnd();
        return (profile, hashing.Sha256());
    }

    private static (DatasetProfile Profile, ColumnKind[] Kinds) Start(string[] header, List<string[]> held, IReadOnlyDictionary<string, ColumnKind> given, int exactCap)
    {
        var kinds = header.Select((name, c) => given.TryGetValue(name, out var kind) ? kind : Infer(held.Select(row => row[c]))).ToArray();
        var profile = new DatasetProfile([.. header.Select((name, c) => new ColumnSchema(name, kinds[c]))], exactCap);
        foreach (var row in held)
        {
            Add(profile, kinds, row);
        }

        return (profile, kinds);
    }

    private static ColumnKind Infer(IEnumerable<string> values)
    {
        var present = values.Where(v => v.Length > 0).ToList();
        if (present.Count > 0 && present.All(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
        {
            return ColumnKind.Numeric;
        }

        return present.Count > 0 && present.All(v => bool.TryParse(v, out _)) ? ColumnKind.Boolean : ColumnKind.Categorical;
    }

    private static void Add(DatasetProfile profile, ColumnKind[] kinds, string[] fields)
    {
        var row = new Dictionary<string, FeatureValue>(fields.Length, StringComparer.Ordinal);
        var violations = new List<int>();
        for (var c = 0; c < fields.Length; c++)
        {
            var text = fields[c];
            if (text.Length == 0)
            {
                row[profile.Schema[c].Name] = FeatureValue.Missing;
                continue;
            }

            switch (kinds[c])
            {
                case ColumnKind.Numeric when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number):
                    row[profile.Schema[c].Name] = FeatureValue.Of(number);
                    break;
                case ColumnKind.Boolean when bool.TryParse(text, out var flag):
                    row[profile.Schema[c].Name] = FeatureValue.Of(flag);
                    break;
                case ColumnKind.Categorical when text.Length <= ColumnProfile.MaxLabelLength:
                    row[profile.Schema[c].Name] = FeatureValue.Of(text);
                    break;
                case ColumnKind.Categorical:
                    throw new ReferenceFormatException(
                        $"column {TextRules.Echo(profile.Schema[c].Name)} holds a label of {text.Length} characters: at most {ColumnProfile.MaxLabelLength}");
                default:
                    row[profile.Schema[c].Name] = FeatureValue.Missing;
                    violations.Add(c);
                    break;
            }
        }

        profile.Add(row);
        foreach (var c in violations)
        {
            // Counted as missing by Add; recorded as what it is.
            profile.Columns[c].ReclassifyMissingAsTypeViolation();
        }
    }

    // Passes the bytes through, hashing them: the CSV's SHA-256 is known once the parser has read it all.
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public string Sha256() => Convert.ToHexStringLower(_hash.GetHashAndReset());

        public void ReadToEnd()
        {
            var buffer = new byte[81920];
            while (Read(buffer, 0, buffer.Length) > 0)
            {
            }
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            _hash.AppendData(buffer, offset, read);
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

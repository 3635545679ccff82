using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelOps.Drift.Profiles;

namespace ModelOps.Drift.Domain;

/// <summary>One window's count of one group's records, and of those predicted 1.</summary>
/// <param name="CountWindow">Whether the window counts records.</param>
/// <param name="Key">The window's key.</param>
/// <param name="Group">The group's key (<see cref="WindowGroups.KeyOf(IReadOnlyList{string}, Func{string, FeatureValue})"/>).</param>
/// <param name="Records">Records.</param>
/// <param name="Selected">Records predicted 1.</param>
public sealed record GroupCount(bool CountWindow, long Key, string Group, long Records, long Selected);

/// <summary>
/// The groups of production traffic a fairness watch counts: a record's values of the sensitive columns as a JSON object
/// in the watch's order (<c>{"sex":"F","age_band":null}</c>), a missing value null. A label is its text, a boolean
/// <c>true</c>/<c>false</c>, a number its shortest round-trip text.
/// </summary>
public static class WindowGroups
{
    /// <summary>The group of a record.</summary>
    public static string KeyOf(IReadOnlyList<string> columns, Func<string, FeatureValue> value)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var column in columns)
            {
                if (Text(value(column)) is { } text)
                {
                    json.WriteString(column, text);
                }
                else
                {
                    json.WriteNull(column);
                }
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The group of row <paramref name="row"/> of a columnar batch.</summary>
    public static string KeyOf(IReadOnlyList<string> columns, IReadOnlyDictionary<string, ColumnValues> batch, int row) =>
        KeyOf(columns, column => batch.TryGetValue(column, out var values) ? values.ValueAt(row) : FeatureValue.Missing);

    /// <summary>The counts of the records' groups per window, summed.</summary>
    public static List<GroupCount> Sum(IEnumerable<GroupCount> counts) =>
    [
        .. counts.GroupBy(c => (c.CountWindow, c.Key, c.Group))
            .Select(g => new GroupCount(g.Key.CountWindow, g.Key.Key, g.Key.Group, g.Sum(c => c.Records), g.Sum(c => c.Selected))),
    ];

    private static string? Text(FeatureValue value) =>
        value.Label is { Length: > 0 } label ? label
        : value.Flag is { } flag ? (flag ? "true" : "false")
        : value.Number is { } number && double.IsFinite(number) ? number.ToString("R", CultureInfo.InvariantCulture)
        : null;
}

using System.Text;

namespace ModelOps.Alerting.Domain;

/// <summary>
/// An alert's identity: label names and values, as in Prometheus. Names are sorted by ordinal comparison (Go's
/// byte order for UTF-8), so the string form, the fingerprint and the group keys are those Alertmanager computes.
/// </summary>
public sealed class LabelSet : IEquatable<LabelSet>
{
    private readonly SortedDictionary<string, string> _labels;

    /// <summary>The empty set.</summary>
    public static LabelSet Empty { get; } = new(new Dictionary<string, string>());

    /// <summary>A set of <paramref name="labels"/>; labels with an empty value are dropped, as Prometheus drops them.</summary>
    public LabelSet(IEnumerable<KeyValuePair<string, string>> labels)
    {
        _labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in labels)
        {
            if (value.Length > 0)
            {
                _labels[name] = value;
            }
        }
    }

    /// <summary>The labels in name order.</summary>
    public IReadOnlyDictionary<string, string> Labels => _labels;

    /// <summary>How many labels.</summary>
    public int Count => _labels.Count;

    /// <summary>The value of <paramref name="name"/>, or the empty string when absent (as matchers see it).</summary>
    public string this[string name] => _labels.TryGetValue(name, out var value) ? value : "";

    /// <summary>Whether <paramref name="name"/> is present.</summary>
    public bool Contains(string name) => _labels.ContainsKey(name);

    /// <summary>
    /// Prometheus's label-set fingerprint (<c>model.LabelSet.Fingerprint</c>): FNV-1a 64 over each name, the byte 0xff,
    /// the value and 0xff, in name order. It identifies an alert in Alertmanager's API and in webhook payloads.
    /// </summary>
    public ulong Fingerprint() => _fingerprint ??= Hash();

    // The set never changes: its fingerprint, asked for at every step of an alert's way, is computed once.
    private ulong? _fingerprint;

    private ulong Hash()
    {
        // Written by hand: the fingerprint must be Prometheus's bit for bit, and .NET has no FNV-1a 64.
        const ulong prime = 1099511628211UL;
        var hash = 14695981039346656037UL;
        foreach (var (name, value) in _labels)
        {
            Add(name);
            Add(value);
        }

        return hash;

        void Add(string text)
        {
            foreach (var b in Encoding.UTF8.GetBytes(text))
            {
                hash = (hash ^ b) * prime;
            }

            hash = (hash ^ 0xff) * prime;
        }
    }

    /// <summary>The fingerprint as Alertmanager prints it: 16 lower-case hex digits.</summary>
    public string FingerprintText() => Fingerprint().ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The labels among <paramref name="names"/> (all of them when null).</summary>
    public LabelSet Only(IReadOnlyCollection<string>? names) =>
        names is null ? this : new LabelSet(_labels.Where(l => names.Contains(l.Key)));

    /// <summary>Go's <c>model.LabelSet.String()</c>: <c>{a="1", b="2"}</c> with Go's quoting of values.</summary>
    public override string ToString()
    {
        var builder = new StringBuilder("{");
        var first = true;
        foreach (var (name, value) in _labels)
        {
            if (!first)
            {
                builder.Append(", ");
            }

            first = false;
            builder.Append(name).Append('=').Append(GoQuote(value));
        }

        return builder.Append('}').ToString();
    }

    /// <inheritdoc />
    public bool Equals(LabelSet? other) =>
        other is not null && other._labels.Count == _labels.Count && _labels.All(l => other._labels.TryGetValue(l.Key, out var v) && v == l.Value);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as LabelSet);

    /// <inheritdoc />
    public override int GetHashCode() => Fingerprint().GetHashCode();

    /// <summary>Go's <c>%q</c> for the printable strings labels hold: quotes, backslashes and control characters escaped.</summary>
    internal static string GoQuote(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('"');
        foreach (var rune in value.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\a': builder.Append("\\a"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                case '\v': builder.Append("\\v"); break;
                default:
                    if (rune.Value < 0x20 || rune.Value == 0x7f)
                    {
                        builder.Append("\\x").Append(rune.Value.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(rune.ToString());
                    }

                    break;
            }
        }

        return builder.Append('"').ToString();
    }
}

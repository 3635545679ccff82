using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ModelOps.Alerting.Domain;

/// <summary>Prometheus's durations (<c>model.ParseDuration</c>): units y, w, d, h, m, s, ms in that order, such as <c>1h30m</c>.</summary>
public static partial class PromDuration
{
    private static readonly (string Unit, long Milliseconds)[] Units =
    [
        ("y", 365L * 24 * 3_600_000), ("w", 7L * 24 * 3_600_000), ("d", 24L * 3_600_000), ("h", 3_600_000), ("m", 60_000),
        ("s", 1000), ("ms", 1),
    ];

    /// <summary>The duration, or <see cref="FormatException"/>.</summary>
    public static TimeSpan Parse(string text)
    {
        if (text == "0")
        {
            return TimeSpan.Zero;
        }

        var match = Syntax().Match(text);
        if (text.Length == 0 || !match.Success)
        {
            throw new FormatException($"not a valid duration string: \"{text}\" (use units y, w, d, h, m, s, ms, as in 1h30m)");
        }

        long total = 0;
        for (var i = 0; i < Units.Length; i++)
        {
            var group = match.Groups[i + 1];
            if (group.Success)
            {
                if (!long.TryParse(group.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) ||
                    count > TimeSpan.MaxValue.TotalMilliseconds / Units[i].Milliseconds)
                {
                    throw new FormatException($"duration out of range: \"{text}\"");
                }

                total = checked(total + (count * Units[i].Milliseconds));
            }
        }

        return TimeSpan.FromMilliseconds(total);
    }

    /// <summary>Prometheus's form of a duration (<c>model.Duration.String</c>): <c>1h30m</c>, <c>0s</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        var ms = (long)duration.TotalMilliseconds;
        if (ms == 0)
        {
            return "0s";
        }

        var builder = new StringBuilder();
        foreach (var (unit, size) in Units)
        {
            // Prometheus prints weeks and years only when they divide the duration exactly.
            if (unit is "y" or "w" && ms % size != 0)
            {
                continue;
            }

            if (ms >= size)
            {
                builder.Append(ms / size).Append(unit);
                ms %= size;
            }
        }

        return builder.ToString();
    }

    [GeneratedRegex("^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$")]
    private static partial Regex Syntax();
}

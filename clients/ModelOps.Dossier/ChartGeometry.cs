using System.Globalization;

namespace ModelOps.Dossier;

/// <summary>
/// A line chart's geometry, for inline SVG in the console and the dossier alike: neither Fluent UI nor a self-contained
/// page has a chart, and a line of a few hundred points needs no library. Non-finite points are left out; a flat series
/// sits at the bottom of the plot.
/// </summary>
public sealed record ChartGeometry(string Points, double MinX, double MaxX, double MinY, double MaxY, int Count)
{
    /// <summary>The <c>points</c> attribute of a polyline drawing <paramref name="series"/> in a <paramref name="width"/>×<paramref name="height"/> view box.</summary>
    public static ChartGeometry Of(IEnumerable<(double X, double Y)> series, int width, int height, double pad = 6)
    {
        var finite = series.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        if (finite.Count == 0)
        {
            return new ChartGeometry("", 0, 0, 0, 0, 0);
        }

        var (minX, maxX) = (finite.Min(p => p.X), finite.Max(p => p.X));
        var (minY, maxY) = (finite.Min(p => p.Y), finite.Max(p => p.Y));
        var spanX = maxX > minX ? maxX - minX : 1;
        var spanY = maxY > minY ? maxY - minY : 1;
        var points = string.Join(' ', finite.Select(p => string.Create(CultureInfo.InvariantCulture,
            $"{pad + ((p.X - minX) / spanX * (width - (2 * pad))):0.##},{height - pad - ((p.Y - minY) / spanY * (height - (2 * pad))):0.##}")));
        return new ChartGeometry(points, minX, maxX, minY, maxY, finite.Count);
    }

    /// <summary>A self-contained SVG of the line, titled for assistive technology.</summary>
    public string Svg(string title, int width, int height) =>
        FormattableString.Invariant($"<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{System.Net.WebUtility.HtmlEncode(title)}\">") +
        FormattableString.Invariant($"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#fff\" stroke=\"#ccc\"/>") +
        (Points.Length > 0 ? $"<polyline points=\"{Points}\" fill=\"none\" stroke=\"#0f6cbd\" stroke-width=\"1.5\"/>" : "") + "</svg>";
}

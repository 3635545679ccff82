extern alias tracking;
using tracking::ModelOps.Tracking.Domain;
using tracking::ModelOps.Tracking.Search;

namespace ModelOps.Unit.Tests.Tracking;

/// <summary>The search language's parser, and downsampling, without a server.</summary>
public sealed class RunFilterTests
{
    [Fact]
    public void AndBindsTighterThanOrAndParenthesesGroup()
    {
        var node = RunFilter.Parse("metrics.auc >= 0.75 AND params.model = 'gbm' OR tags.team ILIKE \"risk%\"");
        var or = Assert.IsType<OrNode>(node);
        var and = Assert.IsType<AndNode>(or.Left);
        Assert.Equal(new FilterField(FieldKind.Metric, "auc", 0), Assert.IsType<Comparison>(and.Left).Field);
        Assert.Equal(0.75, Assert.IsType<Comparison>(and.Left).Value);
        Assert.Equal("ILIKE", Assert.IsType<Comparison>(or.Right).Operator);

        var grouped = Assert.IsType<AndNode>(RunFilter.Parse("metrics.auc >= 0.75 AND (params.model = 'gbm' OR params.model = 'lr')"));
        Assert.IsType<OrNode>(grouped.Right);
    }

    [Theory]
    [InlineData("metrics.`val loss` < -1.5e-3", "val loss", -1.5e-3)]
    [InlineData("metric.\"a.b\" <> .5", "a.b", 0.5)]
    [InlineData("metrics.f1>=1", "f1", 1.0)]
    public void QuotedNamesSignedAndShortNumbersParse(string filter, string key, double value)
    {
        var comparison = Assert.IsType<Comparison>(RunFilter.Parse(filter));
        Assert.Equal(key, comparison.Field.Key);
        Assert.Equal(value, comparison.Value);
    }

    [Fact]
    public void DoubledQuotesStandForThemselvesAndEmptyFilterIsNull()
    {
        Assert.Equal("it's", Assert.IsType<Comparison>(RunFilter.Parse("tags.note = 'it''s'")).Value);
        Assert.Null(RunFilter.Parse("   "));
    }

    [Theory]
    [InlineData("metrics.auc >", 13, "expected a number")]
    [InlineData("metrics.auc >= 0.7 AND", 22, "expected a field")]
    [InlineData("(metrics.auc >= 0.7", 19, "expected ')'")]
    [InlineData("metrics.auc LIKE 'x'", 12, "takes =, !=, <, <=, >, >=, not LIKE")]
    [InlineData("params.lr > '1'", 10, "takes =, !=, LIKE, ILIKE, not >")]
    [InlineData("params.lr = 1", 12, "expected a quoted string")]
    [InlineData("attributes.colour = 'red'", 11, "unknown attribute 'colour'")]
    [InlineData("tags.a = 'open", 9, "never closed")]
    [InlineData("metrics.auc >= 0.7 metrics.ks > 0", 19, "expected AND, OR or the end of the filter")]
    [InlineData("foo.bar = 'x'", 0, "expected a field")]
    [InlineData("metrics.auc ! 1", 12, "expected '!='")]
    public void SyntaxErrorsNameThePositionAndWhatWasExpected(string filter, int position, string expected)
    {
        var error = Assert.Throws<FilterSyntaxException>(() => RunFilter.Parse(filter));
        Assert.Equal(position, error.Position);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OrderKeysParseWithOptionalDirection()
    {
        Assert.Equal(new OrderKey(new FilterField(FieldKind.Metric, "auc", 0), true), RunFilter.ParseOrderKey("metrics.auc DESC"));
        Assert.False(RunFilter.ParseOrderKey("attributes.start_time").Descending);
        Assert.Throws<FilterSyntaxException>(() => RunFilter.ParseOrderKey("metrics.auc sideways"));
    }

    [Fact]
    public void LttbKeepsEndpointsAndMatchesABruteForceOfItsDefinition()
    {
        var random = new Random(3);
        var x = Enumerable.Range(0, 1000).Select(i => (double)i).ToList();
        var y = x.Select(v => Math.Sin(v / 40) + random.NextDouble() * 0.1).ToList();
        var kept = Downsampling.LargestTriangleThreeBuckets(x, y, 50);

        Assert.Equal(50, kept.Length);
        Assert.Equal(0, kept[0]);
        Assert.Equal(999, kept[^1]);
        Assert.True(kept.Zip(kept.Skip(1)).All(p => p.First < p.Second));

        // Brute force of the published definition: bucket b spans [floor(b*every)+1, floor((b+1)*every)+1); the
        // point kept maximises the triangle with the previous kept point and the next bucket's mean.
        var every = 998.0 / 48;
        var previous = 0;
        for (var b = 0; b < 48; b++)
        {
            var candidates = Enumerable.Range((int)Math.Floor(b * every) + 1, (int)Math.Floor((b + 1) * every) - (int)Math.Floor(b * every)).ToList();
            var next = Enumerable.Range((int)Math.Floor((b + 1) * every) + 1, Math.Min((int)Math.Floor((b + 2) * every) + 1, 1000) - ((int)Math.Floor((b + 1) * every) + 1)).ToList();
            var (mx, my) = (next.Average(i => x[i]), next.Average(i => y[i]));
            var p = previous;
            var best = candidates.MaxBy(i => Math.Abs(0.5 * ((x[p] * (y[i] - my)) + (x[i] * (my - y[p])) + (mx * (y[p] - y[i])))));
            Assert.Equal(best, kept[b + 1]);
            previous = best;
        }

        Assert.Equal(Enumerable.Range(0, 10), Downsampling.LargestTriangleThreeBuckets(x.Take(10).ToList(), y.Take(10).ToList(), 50));
    }
}

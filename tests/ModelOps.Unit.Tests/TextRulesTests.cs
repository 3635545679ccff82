using Google.Protobuf.WellKnownTypes;
using ModelOps.ServiceDefaults.Errors;

namespace ModelOps.Unit.Tests.Foundation;

public sealed class TextRulesTests
{
    [Theory]
    [InlineData("a\0b", "U+0000")]
    [InlineData("run\u001b[31mred", "U+001B")]
    [InlineData("name\u202egpj.exe", "U+202E")]
    [InlineData("zero\u200bwidth", "U+200B")]
    [InlineData("bom\ufeff", "U+FEFF")]
    [InlineData("line\u2028break", "U+2028")]
    [InlineData("bad\ufffdutf8", "U+FFFD")]
    [InlineData("new\nline", "U+000A")]
    public void ANameRefusesInvisibleAndControlCharacters(string name, string named)
    {
        var violations = new FieldViolations();
        TextRules.Name(violations, "name", name, 250);
        var violation = Assert.Single(violations.Items);
        Assert.Contains(named, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void AUuidIsParsedOnlyWithinItsBoundAndARefusalNamesTheField()
    {
        var id = Guid.NewGuid();
        Assert.Equal(id, TextRules.Uuid("id", id.ToString()));
        Assert.Equal(id, TextRules.Uuid("id", id.ToString("B")));
        foreach (var bad in new[] { "", "not-a-uuid", id.ToString() + new string(' ', TextRules.MaxUuidLength), id.ToString("X") })
        {
            var refusal = Assert.Throws<ServiceException>(() => TextRules.Uuid("silence_id", bad));
            Assert.Equal(("silence_id", "must be a UUID"), (refusal.FieldViolations.Single().Field, refusal.FieldViolations.Single().Description));
        }
    }

    [Fact]
    public void ANameIsStoredInNfc()
    {
        var violations = new FieldViolations();
        var decomposed = "Cafe\u0301";
        Assert.Equal("Caf\u00e9", TextRules.Name(violations, "name", decomposed, 250));
        Assert.False(violations.Any);
    }

    [Fact]
    public void FreeTextKeepsLineBreaksButNotTerminalEscapes()
    {
        var violations = new FieldViolations();
        TextRules.FreeText(violations, "description", "two\nlines\twith a tab and 日本語", 5000);
        Assert.False(violations.Any);
        TextRules.FreeText(violations, "description", "red \u001b[31m text", 5000);
        TextRules.FreeText(violations, "comment", "nul \0", 5000);
        TextRules.FreeText(violations, "reason", "isolate \u2067", 5000);
        Assert.Equal(["description", "comment", "reason"], violations.Items.Select(v => v.Field));
    }

    [Fact]
    public void AnEchoIsShortAndPrintable()
    {
        var echo = TextRules.Echo(new string('x', 10_000) + "\u001b");
        Assert.True(echo.Length <= TextRules.EchoLength + 3);
        Assert.Equal("'a\\u001Bb\\u202Ec'", TextRules.Echo("a\u001bb\u202ec"));
        // A surrogate pair is never cut in half.
        Assert.Equal("'😀…'", TextRules.Echo("😀😀", 3));
    }

    [Theory]
    [InlineData(-1L, 0)]
    [InlineData(0L, -1)]
    [InlineData(0L, 1_000_000_000)]
    [InlineData(253_402_300_800L, 0)]
    [InlineData(4_611_686_018_427_387_904L, 0)]
    [InlineData(-4_611_686_018_427_387_904L, 0)]
    public void AnInvalidTimestampIsAViolationNotAnException(long seconds, int nanos)
    {
        var violations = new FieldViolations();
        Assert.Null(Timestamps.Check(violations, "end_time", new Timestamp { Seconds = seconds, Nanos = nanos }));
        Assert.Equal("end_time", Assert.Single(violations.Items).Field);
    }

    [Fact]
    public void TimestampsAreKeptToTheMicrosecondAndMayNotLieInTheFuture()
    {
        var violations = new FieldViolations();
        var at = Timestamps.Check(violations, "at", new Timestamp { Seconds = 1_700_000_000, Nanos = 123_456_789 });
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddTicks(1_234_560), at);
        Assert.Null(Timestamps.Check(violations, "occurred_at", Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddHours(1)), happened: true));
        Assert.Equal("occurred_at", Assert.Single(violations.Items).Field);
    }
}

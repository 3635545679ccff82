using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelOps.Contracts;

namespace ModelOps.Unit.Tests.Foundation;

public sealed class CanonicalJsonTests
{
    // RFC 8785 Appendix B.
    [Theory]
    [InlineData("0000000000000000", "0")]
    [InlineData("8000000000000000", "0")]
    [InlineData("0000000000000001", "5e-324")]
    [InlineData("8000000000000001", "-5e-324")]
    [InlineData("7fefffffffffffff", "1.7976931348623157e+308")]
    [InlineData("ffefffffffffffff", "-1.7976931348623157e+308")]
    [InlineData("4340000000000000", "9007199254740992")]
    [InlineData("c340000000000000", "-9007199254740992")]
    [InlineData("4430000000000000", "295147905179352830000")]
    [InlineData("44b52d02c7e14af5", "9.999999999999997e+22")]
    [InlineData("44b52d02c7e14af6", "1e+23")]
    [InlineData("44b52d02c7e14af7", "1.0000000000000001e+23")]
    [InlineData("444b1ae4d6e2ef4e", "999999999999999700000")]
    [InlineData("444b1ae4d6e2ef4f", "999999999999999900000")]
    [InlineData("444b1ae4d6e2ef50", "1e+21")]
    [InlineData("3eb0c6f7a0b5ed8c", "9.999999999999997e-7")]
    [InlineData("3eb0c6f7a0b5ed8d", "0.000001")]
    [InlineData("41b3de4355555553", "333333333.3333332")]
    [InlineData("41b3de4355555554", "333333333.33333325")]
    [InlineData("41b3de4355555555", "333333333.3333333")]
    [InlineData("41b3de4355555556", "333333333.3333334")]
    [InlineData("41b3de4355555557", "333333333.33333343")]
    [InlineData("becbf647612f3696", "-0.0000033333333333333333")]
    [InlineData("43143ff3c1cb0959", "1424953923781206.2")]
    public void NumbersAreFormattedAsRfc8785AppendixBSays(string bits, string expected) =>
        Assert.Equal(expected, CanonicalJson.FormatNumber(FromBits(bits)));

    [Fact]
    public void NumbersMatchEcmaScriptOnTheRecordedFixture()
    {
        // Fixtures/es6-numbers.txt was written by Node (String(value)); es6-numbers.js beside it says how.
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "es6-numbers.txt"));
        Assert.True(lines.Length > 5000);
        Assert.All(lines, line =>
        {
            var (bits, expected) = (line[..16], line[17..]);
            Assert.Equal(expected, CanonicalJson.FormatNumber(FromBits(bits)));
        });
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void NonFiniteNumbersAreRefused(double value) => Assert.Throws<ArgumentOutOfRangeException>(() => CanonicalJson.FormatNumber(value));

    // cyberphone/json-canonicalization testdata (the RFC's reference implementation): input/values.json → output/values.json.
    [Fact]
    public void ValuesCanonicalizeAsTheReferenceImplementationDoes()
    {
        const string input = "{\n  \"numbers\": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n" +
                             "  \"escaping\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n  \"literals\": [null, true, false]\n}";
        const string expected = "{\"escaping\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\",\"literals\":[null,true,false]," +
                                "\"numbers\":[1e+30,4.5,333333333.3333333,0.002,1e-27]}";

        Assert.Equal(expected, Canonical(input));
    }

    // cyberphone/json-canonicalization testdata: input/weird.json → output/weird.json (members sorted by UTF-16 code units).
    [Fact]
    public void MembersAreSortedByUtf16CodeUnits()
    {
        const string input = "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"1\": \"One\",\n  \"\\u0080\": \"Control\\u007f\",\n  \"\\ud83d\\ude02\": \"Smiley\",\n" +
                             "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\",\n  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n" +
                             "  \"</script>\": \"Browser Challenge\"\n}\n";
        const string expected = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u0080\":\"Control\u007f\"," +
                                "\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😂\":\"Smiley\"," +
                                "\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}";

        Assert.Equal(expected, Canonical(input));
    }

    [Fact]
    public void NestedStructuresAreCanonicalAtEveryDepth() =>
        Assert.Equal("{\"a\":[{\"x\":1,\"y\":[]}],\"b\":{\"c\":{},\"d\":\"\\t\"}}",
            Canonical("{ \"b\": { \"d\": \"\\u0009\", \"c\": { } }, \"a\": [ { \"y\": [ ], \"x\": 1.0 } ] }"));

    [Fact]
    public void RepeatedMemberNamesAreRefused() =>
        Assert.ThrowsAny<JsonException>(() => Canonical("{\"a\":1,\"b\":2,\"a\":3}"));

    [Fact]
    public void MalformedJsonIsRefused() => Assert.ThrowsAny<JsonException>(() => Canonical("{\"a\":1,}"));

    private static string Canonical(string json) => Encoding.UTF8.GetString(CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(json)));

    private static double FromBits(string hex) => BitConverter.Int64BitsToDouble(long.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
}

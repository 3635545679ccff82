using Google.Protobuf.WellKnownTypes;

namespace ModelOps.Testing;

/// <summary>
/// Simulated loan applications for drift tests: income, age, debt and tenure (numbers), region (a label) and owner (a
/// flag). Shifted, income rises by 12,000 and debt by 60%; the other columns keep their distribution. Deterministic per
/// seed (xorshift64*, its seed spread by one splitmix64 step).
/// </summary>
public sealed class LoanTraffic(ulong seed)
{
    private static readonly string[] Regions = ["north", "south", "east", "west"];
    private ulong _state = Mix(seed);

    /// <summary>The columns, in order, with their kinds: numeric, categorical or boolean.</summary>
    public static IReadOnlyList<(string Name, string Kind)> Columns { get; } =
        [("income", "numeric"), ("age", "numeric"), ("debt", "numeric"), ("tenure", "numeric"), ("region", "categorical"), ("owner", "boolean")];

    /// <summary>One application's features.</summary>
    public Dictionary<string, Value> Features(bool shifted) => new()
    {
        ["income"] = Value.ForNumber(40_000 + (20_000 * Normal()) + (shifted ? 12_000 : 0)),
        ["age"] = Value.ForNumber(Math.Round(40 + (12 * Normal()))),
        ["debt"] = Value.ForNumber(Math.Abs(5_000 + (3_000 * Normal())) * (shifted ? 1.6 : 1)),
        ["tenure"] = Value.ForNumber(Math.Floor(Uniform() * 20)),
        ["region"] = Value.ForString(Regions[(int)(Uniform() * Regions.Length)]),
        ["owner"] = Value.ForBool(Uniform() < 0.6),
    };

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private double Normal() => Math.Sqrt(-2 * Math.Log(1 - Uniform())) * Math.Cos(2 * Math.PI * Uniform());

    private double Uniform()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return ((_state * 0x2545F4914F6CDD1DUL) >> 11) * (1.0 / (1UL << 53));
    }
}

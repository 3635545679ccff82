using System.Globalization;
using System.Text;

namespace ModelOps.Fairness.Tests;

/// <summary>Applicants of a credit model with a bias built in against one sex: their scores are lower for the same label.</summary>
public static class CreditData
{
    /// <summary>One applicant.</summary>
    public sealed record Applicant(string Sex, string? AgeBand, int Label, double Score);

    /// <summary><paramref name="count"/> applicants; women's scores lowered by <paramref name="bias"/>.</summary>
    public static List<Applicant> Generate(int count, double bias, int seed)
    {
        var random = new Random(seed);
        var bands = new[] { "18-25", "26-45", "46+", null };
        var applicants = new List<Applicant>(count);
        for (var i = 0; i < count; i++)
        {
            var sex = random.NextDouble() < 0.45 ? "F" : "M";
            var band = bands[random.NextDouble() switch { < 0.2 => 0, < 0.7 => 1, < 0.96 => 2, _ => 3 }];
            var label = random.NextDouble() < (band == "18-25" ? 0.35 : 0.55) ? 1 : 0;
            var score = Math.Clamp((0.35 * label) + (0.6 * random.NextDouble()) + 0.05 - (sex == "F" ? bias : 0), 0, 1);
            applicants.Add(new Applicant(sex, band, label, Math.Round(score, 6)));
        }

        return applicants;
    }

    /// <summary>The applicants as CSV: sex, age_band (empty when unknown), label, score, and a prediction column when given.</summary>
    public static byte[] Csv(IReadOnlyList<Applicant> applicants, Func<Applicant, int>? predict = null)
    {
        var csv = new StringBuilder(predict is null ? "sex,age_band,label,score\n" : "sex,age_band,label,score,prediction\n");
        foreach (var a in applicants)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{a.Sex},{a.AgeBand},{a.Label},{a.Score.ToString("R", CultureInfo.InvariantCulture)}");
            csv.Append(predict is null ? "\n" : $",{predict(a)}\n");
        }

        return Encoding.UTF8.GetBytes(csv.ToString());
    }
}

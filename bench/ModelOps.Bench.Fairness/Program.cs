// Fairness report benchmark: N rows (default 1,000,000) of a binary classifier with three sensitive columns of 2, 3 and 4
// values (24 intersectional groups; 7 groupings: each column, each pair, all three), its scores binned for calibration,
// and 200 bootstrap resamples for the disparities' intervals. The baseline (pandas_baseline.py) computes the same report
// with pandas group-bys and a numpy row bootstrap (np.bincount over resampled row indices), in the same run on the same
// data: both sides generate the rows from the same splitmix64 stream, untimed; peak memory is each process's own
// high-water mark. The disparities of both sides are compared.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Fairness [-- --rows N --resamples B]
extern alias service;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using service::ModelOps.Fairness.Analysis;

var rows = Option("--rows", 1_000_000);
var resamples = Option("--resamples", 200);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores; {rows:N0} rows, 3 sensitive columns (24 groups), {resamples} bootstrap resamples");

// The baseline first, alone on the machine.
var baseline = Process.Start(new ProcessStartInfo("/usr/bin/python3", [Path.Combine(AppContext.BaseDirectory, "pandas_baseline.py"), $"{rows}", $"{resamples}"])
{
    RedirectStandardOutput = true,
})!;
var baselineOutput = await baseline.StandardOutput.ReadToEndAsync();
await baseline.WaitForExitAsync();
if (baseline.ExitCode != 0)
{
    throw new InvalidOperationException("pandas_baseline.py failed: are python3-pandas and python3-numpy installed (scripts/bootstrap.sh)?");
}

var pandas = JsonDocument.Parse(baselineOutput).RootElement;

var (sex, age, region, labels, scores) = (new int[rows], new int[rows], new int[rows], new byte[rows], new double[rows]);
var u = new double[5];
for (var i = 0; i < rows; i++)
{
    for (var k = 0; k < 5; k++)
    {
        u[k] = Uniform((ulong)(k + 1), (ulong)i);
    }

    sex[i] = (int)(u[0] * 2);
    age[i] = (int)(u[1] * 3);
    region[i] = (int)(u[2] * 4);
    labels[i] = (byte)(u[3] < 0.3 + (0.1 * sex[i]) ? 1 : 0);
    scores[i] = Math.Clamp((0.35 * labels[i]) + (0.6 * u[4]) + 0.05 - (sex[i] == 0 ? 0.1 : 0), 0, 1);
}

var data = new EvaluationData
{
    Rows = rows,
    Attributes =
    [
        new SensitiveAttribute("sex", sex, ["0", "1"]), new SensitiveAttribute("age", age, ["0", "1", "2"]),
        new SensitiveAttribute("region", region, ["0", "1", "2", "3"]),
    ],
    Labels = labels,
    Scores = scores,
    Predictions = [.. scores.Select(s => s >= 0.5 ? (byte)1 : (byte)0)],
};
var settings = new AnalysisSettings(30, resamples, 1, 0.95, new Dictionary<string, string>(), 10);
FairnessAnalysis.Analyze(data, settings with { Resamples = 2 }); // warm-up: JIT
var point = Stopwatch.StartNew();
FairnessAnalysis.Analyze(data, settings with { Resamples = 0 });
point.Stop();
var clock = Stopwatch.StartNew();
var report = FairnessAnalysis.Analyze(data, settings);
clock.Stop();

var peakKb = long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
    .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
var pandasSeconds = pandas.GetProperty("seconds").GetDouble();
var gap = 0.0;
var compared = 0;
foreach (var grouping in report.Groupings)
{
    var theirs = pandas.GetProperty("disparities").GetProperty(grouping.Name.Replace(" × ", ",", StringComparison.Ordinal));
    foreach (var disparity in grouping.Disparities.Where(d => d.HasValue))
    {
        gap = Math.Max(gap, Math.Abs(disparity.Value - theirs.GetProperty(disparity.Name).GetDouble()));
        compared++;
    }
}

Console.WriteLine($"  {"ModelOps (groups, metrics, calibration, bootstrap), s",-58} {clock.Elapsed.TotalSeconds,12:N3}");
Console.WriteLine($"  {"pandas + numpy (same report), s",-58} {pandasSeconds,12:N3}");
Console.WriteLine($"  {"speed-up (pandas time / ModelOps time)",-58} {pandasSeconds / clock.Elapsed.TotalSeconds,12:N1}");
Console.WriteLine($"  {"ModelOps without the bootstrap, s",-58} {point.Elapsed.TotalSeconds,12:N3}");
Console.WriteLine($"  {"pandas without the bootstrap, s",-58} {pandas.GetProperty("point_seconds").GetDouble(),12:N3}");
Console.WriteLine($"  {"ModelOps peak RSS (rows held as arrays), MiB",-58} {peakKb / 1024.0,12:N1}");
Console.WriteLine($"  {"pandas peak RSS (rows held as arrays), MiB",-58} {pandas.GetProperty("peak_kb").GetInt64() / 1024.0,12:N1}");
Console.WriteLine($"  {"groupings x disparities compared",-58} {compared,12}");
Console.WriteLine($"  {"largest |disparity (ModelOps) - disparity (pandas)|",-58} {gap,12:E2}");
var ratio = report.Groupings.Single(g => g.Name == "sex").Disparities.Single(d => d.Name == "demographic_parity_ratio");
var theirsInterval = pandas.GetProperty("sex_dp_ratio_interval");
Console.WriteLine($"  {"sex: DP ratio interval, ModelOps (multinomial bootstrap)",-58} [{ratio.Lower:F4}, {ratio.Upper:F4}]");
Console.WriteLine($"  {"sex: DP ratio interval, numpy (row bootstrap)",-58} [{theirsInterval[0].GetDouble():F4}, {theirsInterval[1].GetDouble():F4}]");

int Option(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

// splitmix64 of (seed << 32) + index: the same stream pandas_baseline.py draws with numpy.
static double Uniform(ulong seed, ulong index)
{
    var z = (seed << 32) + index + 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    z ^= z >> 31;
    return (z >> 11) * (1.0 / (1UL << 53));
}

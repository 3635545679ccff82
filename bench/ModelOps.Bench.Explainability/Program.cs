// TreeSHAP benchmark: a binary:logistic XGBoost model (default 500 trees of depth 6 on 50 features, trained by Debian's
// python3-xgboost 1.7.4 in xgboost_baseline.py) explains 10,000 rows (5% of values missing). The baseline is XGBoost's
// own predict(..., pred_contribs=True) on the same model and rows, timed in the same run with 1 and 2 threads (best of
// 3 after a warm-up, as ours); every SHAP value of both sides is compared.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Explainability [-- --trees T --depth D --features F --rows N]
extern alias service;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using service::ModelOps.Explainability.Trees;

var trees = Option("--trees", 500);
var depth = Option("--depth", 6);
var features = Option("--features", 50);
var rows = Option("--rows", 10_000);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores; {trees} trees of depth {depth}, {features} features, {rows:N0} rows");

var folder = Directory.CreateTempSubdirectory("modelops-bench-explain").FullName;
try
{
    var baseline = Process.Start(new ProcessStartInfo("/usr/bin/python3",
        [Path.Combine(AppContext.BaseDirectory, "xgboost_baseline.py"), folder, $"{trees}", $"{depth}", $"{features}", $"{rows}"])
    {
        RedirectStandardOutput = true,
    })!;
    var output = await baseline.StandardOutput.ReadToEndAsync();
    await baseline.WaitForExitAsync();
    if (baseline.ExitCode != 0)
    {
        throw new InvalidOperationException("xgboost_baseline.py failed: is python3-xgboost installed (scripts/bootstrap.sh)?");
    }

    var xgboost = JsonDocument.Parse(output).RootElement;
    var data = FromBytes<double>(File.ReadAllBytes(Path.Combine(folder, "rows.f64")));
    var contribs = FromBytes<float>(File.ReadAllBytes(Path.Combine(folder, "contribs.f32")));

    var load = Stopwatch.StartNew();
    var ensemble = ModelFiles.Read(File.ReadAllBytes(Path.Combine(folder, "model.json")));
    var explainer = new TreeExplainer(ensemble);
    load.Stop();

    var phi = new double[data.Length];
    var margins = new double[rows];
    explainer.Explain(data[..(features * 100)], 100, phi, margins, 1); // warm-up: JIT
    var ours = new Dictionary<int, double>();
    foreach (var threads in new[] { 1, 2 })
    {
        var best = double.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var clock = Stopwatch.StartNew();
            explainer.Explain(data, rows, phi, margins, threads);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        ours[threads] = best;
    }

    double gap = 0, additivity = 0;
    for (var r = 0; r < rows; r++)
    {
        var sum = explainer.BaseValue;
        for (var f = 0; f < features; f++)
        {
            gap = Math.Max(gap, Math.Abs(phi[(r * features) + f] - contribs[(r * (features + 1)) + f]));
            sum += phi[(r * features) + f];
        }

        additivity = Math.Max(additivity, Math.Abs(sum - margins[r]));
    }

    Console.WriteLine($"model read and leaf tables built: {load.Elapsed.TotalSeconds:F3} s ({explainer.TabledTrees} of {trees} trees tabled)");
    foreach (var threads in new[] { 1, 2 })
    {
        var theirs = xgboost.GetProperty("seconds").GetProperty($"{threads}").GetDouble();
        Console.WriteLine($"{threads} thread(s): ModelOps {rows / ours[threads],10:N0} rows/s ({ours[threads]:F3} s)   " +
            $"XGBoost {xgboost.GetProperty("xgboost").GetString()} pred_contribs {rows / theirs,10:N0} rows/s ({theirs:F3} s)   ratio {theirs / ours[threads]:F2}x");
    }

    Console.WriteLine($"largest |ModelOps - XGBoost| over {rows * features:N0} SHAP values: {gap:E2}; largest |base + Σφ - margin|: {additivity:E2}");
}
finally
{
    Directory.Delete(folder, recursive: true);
}

static T[] FromBytes<T>(byte[] bytes) where T : struct => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).ToArray();

int Option(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

// TreeSHAP benchmark: a binary:logistic XGBoost model (default 500 trees of depth 6 on 50 features, trained by Debian's
// python3-xgboost 1.7.4 in xgboost_baseline.py) explains 10,000 rows (5% of values missing). The baseline is XGBoost's
// own predict(..., pred_contribs=True) on the same model and rows, timed in the same run with 1 and 2 threads (best of
// 3 after a warm-up, as ours); every SHAP value of both sides is compared.
//
// Then model-agnostic Shapley values of ONNX networks (tanh, 16 hidden units) run by ONNX Runtime, against 100
// background rows: exact (12 features, 4094 coalitions) and Kernel SHAP (50 features, 4196 coalitions). Their
// baseline is ONNX Runtime scoring the same number of rows (coalitions × background rows per explained row) in
// batches of the same size, so the ratio is what the explainer adds to the model evaluations it cannot avoid.
// Run: dotnet run -c Release --project bench/ModelOps.Bench.Explainability [-- --trees T --depth D --features F --rows N]
extern alias service;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ModelOps.Testing.Onnx;
using service::ModelOps.Explainability.Agnostic;
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

foreach (var (width, explained) in new[] { (12, 40), (50, 20) })
{
    var network = OnnxNetwork.Random(width, hidden: 16, seed: width);
    using var model = (OnnxModel)ModelFiles.ReadModel(network.ToOnnx());
    var random = new Random(width);
    var background = Enumerable.Range(0, 100 * width).Select(_ => random.NextDouble()).ToArray();
    var sample = Enumerable.Range(0, explained * width).Select(_ => random.NextDouble()).ToArray();
    var agnostic = model.Explainer(background, 100);
    var evaluations = agnostic.EvaluationsPerRow * explained;
    var (phiAgnostic, marginsAgnostic, errors) = (new double[sample.Length], new double[explained], new double[sample.Length]);
    agnostic.Explain(sample[..width], 1, phiAgnostic, marginsAgnostic, errors, 1); // warm-up
    var batch = new double[8192 / 100 * 100 * width];
    var scored = new double[batch.Length / width];
    Array.Fill(batch, 0.5);
    foreach (var threads in new[] { 1, 2 })
    {
        double explaining = double.MaxValue, scoring = double.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var clock = Stopwatch.StartNew();
            agnostic.Explain(sample, explained, phiAgnostic, marginsAgnostic, errors, threads);
            explaining = Math.Min(explaining, clock.Elapsed.TotalSeconds);

            // The same number of model evaluations in the explainer's batch size, on the same threads.
            clock.Restart();
            var calls = (int)(evaluations / scored.Length);
            Parallel.For(0, calls, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new double[scored.Length], (_, _, outputs) =>
            {
                model.Evaluate(batch, scored.Length, outputs);
                return outputs;
            }, _ => { });
            scoring = Math.Min(scoring, clock.Elapsed.TotalSeconds * evaluations / ((double)calls * scored.Length));
        }

        Console.WriteLine($"{agnostic.Method.Name}, {width} features, {agnostic.Method.Coalitions} coalitions × {agnostic.Method.BackgroundRows} background rows, {threads} thread(s): " +
            $"{explained / explaining,8:N1} rows/s ({evaluations / explaining / 1e6:N1} M model evaluations/s); ONNX Runtime alone {evaluations / scoring / 1e6:N1} M/s; ratio {explaining / scoring:F2}x the bare evaluations");
    }
}

static T[] FromBytes<T>(byte[] bytes) where T : struct => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).ToArray();

int Option(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

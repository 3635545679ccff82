using ModelOps.Explainability.Domain;

namespace ModelOps.Explainability.Agnostic;

/// <summary>A model as a function of its features: what a model-agnostic explainer calls.</summary>
internal interface IModelFunction
{
    IReadOnlyList<string> FeatureNames { get; }

    /// <summary>
    /// The model's output for <paramref name="count"/> rows (row-major, one value per feature, NaN missing). Safe to
    /// call from several threads. A model that fails on the rows throws <see cref="ModelRunException"/>.
    /// </summary>
    void Evaluate(double[] rows, int count, double[] outputs);
}

/// <summary>The model itself failed on rows (its runtime refused them, or answered the wrong number of values).</summary>
internal sealed class ModelRunException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Interventional (marginal) Shapley values of any model, as SHAP's KernelExplainer defines them: a coalition S of
/// features is worth v(S) = mean over the background rows b of f(x_S, b_rest), the row's values on S and the background's
/// elsewhere; v(∅) is the base value (the background's mean output) and v(all) the row's output, so the attributions add
/// up to the output exactly. Features whose value equals every background row's get exactly 0 and take no part.
/// <list type="bullet">
/// <item>With at most <see cref="MaxExactFeatures"/> such features, every coalition is evaluated and the values are the
/// exact Shapley formula φᵢ = Σ_{S∌i} |S|!(m−|S|−1)!/m! · (v(S∪{i}) − v(S)) (method exact_interventional).</item>
/// <item>Above, Kernel SHAP (Lundberg and Lee 2017) as the shap package samples it: coalition sizes in the Shapley
/// kernel's proportions, the sizes whose every coalition fits the budget enumerated in full, the rest drawn at random
/// with each draw's complement, then the kernel-weighted least squares fit under the constraint Σφ = f(x) − v(∅)
/// (method kernel_shap). The draws are split into <see cref="Groups"/> groups; each attribution's standard error is the
/// spread of the groups' fits over √groups. The draws are seeded by the explainer's seed and the row's values, so a row
/// gets the same values wherever it is explained.</item>
/// </list>
/// Background: at most <see cref="MaxBackgroundRows"/> rows (a seeded sample of a larger set, as SHAP advises
/// summarising it). Cost per row: coalitions × background rows model evaluations.
/// </summary>
internal sealed class ShapleyExplainer : IExplainer
{
    /// <summary>Most background rows a coalition's value averages over.</summary>
    public const int MaxBackgroundRows = 100;

    /// <summary>Most varying features explained exactly (2^12 − 2 = 4094 coalitions).</summary>
    public const int MaxExactFeatures = 12;

    /// <summary>The seed of the sampling unless another is given.</summary>
    public const ulong DefaultSeed = 20_261_202;

    /// <summary>Groups the random draws are split into for the standard errors.</summary>
    public const int Groups = 8;

    // Rows handed to the model per call.
    private const int ChunkRows = 8192;

    private readonly IModelFunction _model;
    private readonly double[] _background;
    private readonly int _rows;
    private readonly int _features;
    private readonly int _budget;
    private readonly ulong _seed;

    /// <param name="model">The model.</param>
    /// <param name="rows">Background rows, row-major.</param>
    /// <param name="count">How many.</param>
    /// <param name="seed">The sampling's seed.</param>
    /// <param name="coalitions">Kernel SHAP's coalitions per row; by default every coalition up to <see cref="MaxExactFeatures"/> features, else <see cref="KernelCoalitions"/>.</param>
    public ShapleyExplainer(IModelFunction model, double[] rows, int count, ulong seed = DefaultSeed, int? coalitions = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _model = model;
        _features = model.FeatureNames.Count;
        _seed = seed;
        var chosen = Enumerable.Range(0, count).ToArray();
        if (count > MaxBackgroundRows)
        {
            var random = new Random(unchecked((int)Mix(seed, 0)));
            for (var i = 0; i < MaxBackgroundRows; i++)
            {
                var j = random.Next(i, count);
                (chosen[i], chosen[j]) = (chosen[j], chosen[i]);
            }

            chosen = [.. chosen.Take(MaxBackgroundRows).Order()];
        }

        _rows = chosen.Length;
        _background = new double[_rows * _features];
        for (var b = 0; b < _rows; b++)
        {
            rows.AsSpan(chosen[b] * _features, _features).CopyTo(_background.AsSpan(b * _features, _features));
        }

        var outputs = new double[_rows];
        model.Evaluate(_background, _rows, outputs);
        BaseValue = outputs.Average();
        var exact = coalitions is null && _features <= MaxExactFeatures;
        _budget = exact ? Exhaustive(_features) : Math.Max(coalitions ?? KernelCoalitions(_features), 2 * _features);
        Method = new ExplainerMethod(exact ? "exact_interventional" : "kernel_shap", _rows, _budget, exact && count <= MaxBackgroundRows ? 0 : seed);
    }

    public double BaseValue { get; }

    public ExplainerMethod Method { get; }

    public long EvaluationsPerRow => ((long)_budget * _rows) + 1;

    /// <summary>Kernel SHAP's default coalitions per row: shap's 2m + 2048, doubled in its constant.</summary>
    public static int KernelCoalitions(int features) => 4096 + (2 * features);

    public void Explain(double[] rows, int count, double[] phi, double[] margins, double[]? errors, int threads, CancellationToken cancellationToken = default)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancellationToken };
        try
        {
            Explain(rows, count, phi, margins, errors, options);
        }
        catch (AggregateException exception) when (exception.InnerExceptions.FirstOrDefault(e => e is ModelRunException) is { } failed)
        {
            throw failed; // the model's own failure, not a defect of the explainer
        }
    }

    private void Explain(double[] rows, int count, double[] phi, double[] margins, double[]? errors, ParallelOptions options)
    {
        Parallel.For(0, count, options, () => new Scratch(_features), (r, _, scratch) =>
        {
            var x = rows.AsSpan(r * _features, _features).ToArray();
            margins[r] = Output(x, scratch);
            var attribution = phi.AsSpan(r * _features, _features);
            var error = errors is null ? default : errors.AsSpan(r * _features, _features);
            attribution.Clear();
            error.Clear();
            var varying = Varying(x);
            if (varying.Length > 0)
            {
                var deviations = error.IsEmpty ? null : new double[varying.Length];
                var values = varying.Length <= MaxExactFeatures && Exhaustive(varying.Length) <= _budget
                    ? ExactShapley(x, varying, margins[r], scratch)
                    : Kernel(x, varying, margins[r], scratch, deviations);
                for (var j = 0; j < varying.Length; j++)
                {
                    attribution[varying[j]] = values[j];
                    if (deviations is not null)
                    {
                        error[varying[j]] = deviations[j];
                    }
                }
            }

            return scratch;
        }, _ => { });
    }

    private static int Exhaustive(int features) => (1 << Math.Min(features, 30)) - 2;

    // The features whose value differs from some background row's (NaN equals NaN).
    private int[] Varying(double[] x)
    {
        var varying = new List<int>(_features);
        for (var f = 0; f < _features; f++)
        {
            for (var b = 0; b < _rows; b++)
            {
                var value = _background[(b * _features) + f];
                if (!value.Equals(x[f]))
                {
                    varying.Add(f);
                    break;
                }
            }
        }

        return [.. varying];
    }

    // φ by the Shapley formula over every coalition of the m varying features.
    private double[] ExactShapley(double[] x, int[] varying, double margin, Scratch scratch)
    {
        var m = varying.Length;
        var full = (1 << m) - 1;
        var masks = new List<byte[]>(full - 1);
        for (var mask = 1; mask < full; mask++)
        {
            var coalition = new byte[_features];
            for (var j = 0; j < m; j++)
            {
                coalition[varying[j]] = (byte)((mask >> j) & 1);
            }

            masks.Add(coalition);
        }

        var value = new double[full + 1];
        value[0] = BaseValue;
        value[full] = margin;
        Value(x, scratch, masks).CopyTo(value.AsSpan(1));

        // w(s) = s!(m−s−1)!/m! = 1 / (m · C(m−1, s)).
        var weight = new double[m];
        for (var s = 0; s < m; s++)
        {
            weight[s] = 1 / (m * Binomial(m - 1, s));
        }

        var phi = new double[m];
        for (var mask = 0; mask <= full; mask++)
        {
            var size = System.Numerics.BitOperations.PopCount((uint)mask);
            for (var j = 0; j < m; j++)
            {
                if ((mask & (1 << j)) == 0)
                {
                    phi[j] += weight[size] * (value[mask | (1 << j)] - value[mask]);
                }
            }
        }

        return phi;
    }

    // Kernel SHAP over the m varying features; the standard errors go to `deviations` when it is given.
    private double[] Kernel(double[] x, int[] varying, double margin, Scratch scratch, double[]? deviations)
    {
        var m = varying.Length;
        var delta = margin - BaseValue;
        if (m == 1)
        {
            return [delta];
        }

        var design = KernelDesign.Build(m, _budget, new Random(unchecked((int)Mix(_seed, Hash(x)))));
        var masks = design.Coalitions.Select(c =>
        {
            var coalition = new byte[_features];
            for (var j = 0; j < m; j++)
            {
                coalition[varying[j]] = c[j];
            }

            return coalition;
        }).ToList();
        var values = Value(x, scratch, masks);
        for (var k = 0; k < values.Length; k++)
        {
            values[k] -= BaseValue;
        }

        return design.Solve(values, delta, deviations);
    }

    // The model's output for the row itself: v(all features).
    private double Output(double[] x, Scratch scratch)
    {
        var output = scratch.Output(1);
        _model.Evaluate(x, 1, output);
        return output[0];
    }

    // v(S) for each coalition: the model's mean output over the background rows with the row's values on S.
    private double[] Value(double[] x, Scratch scratch, IReadOnlyList<byte[]> masks)
    {
        var values = new double[masks.Count];
        var perCall = Math.Max(1, ChunkRows / _rows);
        for (var first = 0; first < masks.Count; first += perCall)
        {
            var last = Math.Min(masks.Count, first + perCall);
            var rows = (last - first) * _rows;
            var buffer = scratch.Rows(rows * _features);
            for (var k = first; k < last; k++)
            {
                var mask = masks[k];
                var block = buffer.AsSpan((k - first) * _rows * _features, _rows * _features);
                _background.CopyTo(block);
                for (var b = 0; b < _rows; b++)
                {
                    var row = block.Slice(b * _features, _features);
                    for (var f = 0; f < _features; f++)
                    {
                        if (mask[f] != 0)
                        {
                            row[f] = x[f];
                        }
                    }
                }
            }

            var outputs = scratch.Output(rows);
            _model.Evaluate(buffer, rows, outputs);
            for (var k = first; k < last; k++)
            {
                var sum = 0.0;
                for (var b = 0; b < _rows; b++)
                {
                    sum += outputs[((k - first) * _rows) + b];
                }

                values[k] = sum / _rows;
            }
        }

        return values;
    }

    internal static double Binomial(int n, int k)
    {
        var result = 1.0;
        for (var i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }

    // FNV-1a over the row's values: the same row always seeds the same draws. (A hash is written here because
    // HashCode is randomised per process and the draws must repeat across processes.)
    private static ulong Hash(double[] x)
    {
        var hash = 14695981039346656037UL;
        foreach (var value in x)
        {
            var bits = (ulong)BitConverter.DoubleToInt64Bits(value);
            for (var i = 0; i < 8; i++)
            {
                hash = (hash ^ ((bits >> (8 * i)) & 0xFF)) * 1099511628211UL;
            }
        }

        return hash;
    }

    // SplitMix64's finaliser over the seed and a value.
    private static ulong Mix(ulong seed, ulong value)
    {
        var z = seed + value + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private sealed class Scratch(int features)
    {
        private double[] _rows = new double[features];
        private double[] _outputs = new double[1];

        public double[] Rows(int length) => _rows.Length >= length ? _rows : _rows = new double[length];

        public double[] Output(int length) => _outputs.Length >= length ? _outputs : _outputs = new double[length];
    }
}

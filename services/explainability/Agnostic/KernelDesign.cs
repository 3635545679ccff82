using MathNet.Numerics.LinearAlgebra;

namespace ModelOps.Explainability.Agnostic;

/// <summary>
/// Kernel SHAP's coalitions for m features and their weights, sampled as the shap package's KernelExplainer samples
/// them (shap/explainers/_kernel.py), and the constrained weighted least-squares fit that turns the coalitions' values
/// into attributions. Written here because no .NET library implements Kernel SHAP.
/// </summary>
internal sealed class KernelDesign
{
    private readonly int _features;
    private readonly int _fixed;
    private readonly double _randomWeight;

    private KernelDesign(int features, List<byte[]> coalitions, List<double> weights, int fixedCount, List<int> groups, double randomWeight)
    {
        (_features, Coalitions, Weights, _fixed, Group, _randomWeight) = (features, coalitions, weights, fixedCount, groups, randomWeight);
    }

    /// <summary>Each coalition: 1 for a feature taken from the row, 0 for one taken from the background.</summary>
    public List<byte[]> Coalitions { get; }

    /// <summary>The kernel weight of each enumerated coalition; each random draw's share of the remaining weight is set by <see cref="Solve"/>.</summary>
    public List<double> Weights { get; }

    /// <summary>The group of each random draw (−1 for an enumerated coalition).</summary>
    public List<int> Group { get; }

    /// <summary>Whether every coalition was enumerated (the fit is then the exact Shapley values).</summary>
    public bool Complete => _fixed == Coalitions.Count;

    /// <summary>
    /// Coalitions for <paramref name="features"/> (≥ 2) features within <paramref name="budget"/>: for sizes s and m − s
    /// in turn from the smallest, every coalition of a size while the kernel weight the budget left gives each is at least
    /// 1; the remaining budget is drawn at random (a size by the remaining kernel proportions, a uniform subset of it,
    /// and its complement), each draw its own row in the fit, in <see cref="ShapleyExplainer.Groups"/> groups.
    /// </summary>
    public static KernelDesign Build(int features, int budget, Random random)
    {
        var m = features;
        var sizes = m / 2; // ⌈(m − 1) / 2⌉ sizes, each with its complement
        var paired = (m - 1) / 2;
        var weight = new double[sizes];
        for (var s = 1; s <= sizes; s++)
        {
            weight[s - 1] = (m - 1.0) / (s * (m - s)) * (s <= paired ? 2 : 1);
        }

        var total = weight.Sum();
        for (var s = 0; s < sizes; s++)
        {
            weight[s] /= total;
        }

        var coalitions = new List<byte[]>();
        var weights = new List<double>();
        var groups = new List<int>();
        var left = (double)budget;
        var remaining = (double[])weight.Clone();
        var full = 0;
        for (var s = 1; s <= sizes; s++)
        {
            var subsets = ShapleyExplainer.Binomial(m, s) * (s <= paired ? 2 : 1);
            if (left * remaining[s - 1] / subsets < 1 - 1e-8)
            {
                break;
            }

            full++;
            left -= subsets;
            if (remaining[s - 1] < 1)
            {
                var rest = 1 - remaining[s - 1];
                for (var i = 0; i < sizes; i++)
                {
                    remaining[i] /= rest;
                }
            }

            var each = weight[s - 1] / ShapleyExplainer.Binomial(m, s) / (s <= paired ? 2 : 1);
            foreach (var subset in Subsets(m, s))
            {
                Add(coalitions, weights, groups, subset, each, -1);
                if (s <= paired)
                {
                    Add(coalitions, weights, groups, Complement(subset), each, -1);
                }
            }
        }

        var fixedCount = coalitions.Count;
        var randomWeight = weight.Skip(full).Sum();
        if (full < sizes)
        {
            var proportions = weight.Skip(full).ToArray();
            var sum = proportions.Sum();
            var draws = 0;
            while (left >= 1)
            {
                var s = full + 1 + Pick(proportions, sum, random);
                var subset = RandomSubset(m, s, random);
                var group = draws++ % ShapleyExplainer.Groups;
                Add(coalitions, weights, groups, subset, 0, group);
                left--;
                if (s <= paired && left >= 1)
                {
                    Add(coalitions, weights, groups, Complement(subset), 0, group);
                    left--;
                }
            }
        }

        return new KernelDesign(m, coalitions, weights, fixedCount, groups, randomWeight);
    }

    /// <summary>
    /// The attributions from each coalition's value <paramref name="values"/> (v(S) − v(∅)) under Σφ =
    /// <paramref name="delta"/> (f(x) − v(∅)): the last feature's attribution is eliminated as delta minus the others'
    /// and the rest solve the kernel-weighted normal equations. With <paramref name="errors"/>, each attribution's
    /// standard error from the <see cref="ShapleyExplainer.Groups"/> groups' fits.
    /// </summary>
    public double[] Solve(double[] values, double delta, double[]? errors)
    {
        var m = _features;
        var n = m - 1;

        // The fit's normal equations accumulate per part: the enumerated coalitions with their weights, and each
        // group's draws with weight 1 (scaled when a fit takes them).
        var parts = Complete ? 1 : 1 + ShapleyExplainer.Groups;
        var a = new double[parts][];
        var c = new double[parts][];
        var counts = new int[parts];
        for (var p = 0; p < parts; p++)
        {
            (a[p], c[p]) = (new double[n * n], new double[n]);
        }

        var e = new double[n];
        for (var k = 0; k < Coalitions.Count; k++)
        {
            var z = Coalitions[k];
            var last = z[m - 1];
            for (var j = 0; j < n; j++)
            {
                e[j] = z[j] - last;
            }

            var y = values[k] - (last * delta);
            var part = Group[k] + 1;
            var w = part == 0 ? Weights[k] : 1;
            counts[part]++;
            var ap = a[part];
            var cp = c[part];
            for (var i = 0; i < n; i++)
            {
                if (e[i] == 0)
                {
                    continue;
                }

                var we = w * e[i];
                cp[i] += we * y;
                var row = i * n;
                for (var j = i; j < n; j++)
                {
                    ap[row + j] += we * e[j];
                }
            }
        }

        var draws = counts.Skip(1).Sum();
        var fit = Fit(a, c, parts, p => p == 0 ? 1 : draws > 0 ? _randomWeight / draws : 0, delta);
        if (errors is not null && !Complete)
        {
            var groupFits = new double[ShapleyExplainer.Groups][];
            for (var g = 0; g < ShapleyExplainer.Groups; g++)
            {
                var group = g + 1;
                groupFits[g] = Fit(a, c, parts, p => p == 0 ? 1 : p == group && counts[group] > 0 ? _randomWeight / counts[group] : 0, delta);
            }

            for (var j = 0; j < m; j++)
            {
                var mean = groupFits.Average(f => f[j]);
                var variance = groupFits.Sum(f => (f[j] - mean) * (f[j] - mean)) / (ShapleyExplainer.Groups - 1);
                errors[j] = Math.Sqrt(variance / ShapleyExplainer.Groups);
            }
        }

        return fit;
    }

    // Solves Σ_p scale(p)·A_p φ' = Σ_p scale(p)·c_p for the first m − 1 attributions; the last is delta minus their sum.
    private double[] Fit(double[][] a, double[][] c, int parts, Func<int, double> scale, double delta)
    {
        var n = _features - 1;
        var matrix = Matrix<double>.Build.Dense(n, n);
        var vector = Vector<double>.Build.Dense(n);
        for (var p = 0; p < parts; p++)
        {
            var s = scale(p);
            if (s == 0)
            {
                continue;
            }

            for (var i = 0; i < n; i++)
            {
                vector[i] += s * c[p][i];
                for (var j = i; j < n; j++)
                {
                    var value = s * a[p][(i * n) + j];
                    matrix[i, j] += value;
                    if (j != i)
                    {
                        matrix[j, i] += value;
                    }
                }
            }
        }

        Vector<double> solved;
        try
        {
            solved = matrix.Cholesky().Solve(vector);
        }
        catch (ArgumentException)
        {
            // Too few distinct coalitions to fix every attribution: the least-squares solution of least norm.
            solved = matrix.Svd(computeVectors: true).Solve(vector);
        }

        var phi = new double[_features];
        for (var j = 0; j < n; j++)
        {
            phi[j] = solved[j];
        }

        phi[n] = delta - solved.Sum();
        return phi;
    }

    private static void Add(List<byte[]> coalitions, List<double> weights, List<int> groups, byte[] subset, double weight, int group)
    {
        coalitions.Add(subset);
        weights.Add(weight);
        groups.Add(group);
    }

    private static byte[] Complement(byte[] subset)
    {
        var complement = new byte[subset.Length];
        for (var i = 0; i < subset.Length; i++)
        {
            complement[i] = (byte)(1 - subset[i]);
        }

        return complement;
    }

    private static IEnumerable<byte[]> Subsets(int m, int size)
    {
        var chosen = Enumerable.Range(0, size).ToArray();
        while (true)
        {
            var subset = new byte[m];
            foreach (var i in chosen)
            {
                subset[i] = 1;
            }

            yield return subset;
            var position = size - 1;
            while (position >= 0 && chosen[position] == m - size + position)
            {
                position--;
            }

            if (position < 0)
            {
                yield break;
            }

            chosen[position]++;
            for (var i = position + 1; i < size; i++)
            {
                chosen[i] = chosen[i - 1] + 1;
            }
        }
    }

    private static byte[] RandomSubset(int m, int size, Random random)
    {
        var order = Enumerable.Range(0, m).ToArray();
        var subset = new byte[m];
        for (var i = 0; i < size; i++)
        {
            var j = random.Next(i, m);
            (order[i], order[j]) = (order[j], order[i]);
            subset[order[i]] = 1;
        }

        return subset;
    }

    private static int Pick(double[] proportions, double sum, Random random)
    {
        var u = random.NextDouble() * sum;
        for (var i = 0; i < proportions.Length - 1; i++)
        {
            u -= proportions[i];
            if (u < 0)
            {
                return i;
            }
        }

        return proportions.Length - 1;
    }
}

using ModelOps.Explainability.Domain;

namespace ModelOps.Explainability.Trees;

/// <summary>
/// Exact path-dependent SHAP values of a tree ensemble in its margin space: for every row, the attributions plus
/// <see cref="BaseValue"/> equal the row's margin. Trees are explained from their <see cref="LeafTables"/> while these
/// fit in <see cref="TableBudget"/> values, the rest by <see cref="PathShap"/>'s recursion.
/// </summary>
internal sealed class TreeExplainer : IExplainer
{
    /// <summary>Most values all of a model's leaf tables hold (128 MiB).</summary>
    public const long TableBudget = 16L << 20;

    private readonly LeafTables?[] _tables;
    private readonly int _maxDepth;
    private readonly int _maxNodes;

    public TreeExplainer(TreeEnsemble ensemble, long tableBudget = TableBudget)
    {
        Ensemble = ensemble;
        BaseValue = ensemble.ExpectedMargin();
        _tables = new LeafTables?[ensemble.Trees.Length];
        var left = tableBudget;
        for (var t = 0; t < ensemble.Trees.Length; t++)
        {
            var tree = ensemble.Trees[t];
            _maxDepth = Math.Max(_maxDepth, tree.Depth());
            _maxNodes = Math.Max(_maxNodes, tree.Nodes);
            var tables = LeafTables.Build(tree, left);
            _tables[t] = tables;
            left -= tables?.Size ?? 0;
        }
    }

    public TreeEnsemble Ensemble { get; }

    /// <summary>The expected margin: what the attributions of any row add to.</summary>
    public double BaseValue { get; }

    public ExplainerMethod Method => ExplainerMethod.PathDependent;

    public long EvaluationsPerRow => 1;

    /// <summary>How many trees are explained from tables.</summary>
    public int TabledTrees => _tables.Count(t => t is not null);

    /// <summary>
    /// Explains <paramref name="count"/> rows of <paramref name="rows"/> (row-major, <see cref="TreeEnsemble.Features"/>
    /// values each, NaN for a missing value) into <paramref name="phi"/> (the same shape) and their margins into
    /// <paramref name="margins"/>, on up to <paramref name="threads"/> threads.
    /// </summary>
    public void Explain(double[] rows, int count, double[] phi, double[] margins, double[]? errors, int threads, CancellationToken cancellationToken = default) =>
        Explain(rows, count, phi, margins, threads, cancellationToken);

    /// <inheritdoc cref="IExplainer.Explain"/>
    public void Explain(double[] rows, int count, double[] phi, double[] margins, int threads, CancellationToken cancellationToken = default)
    {
        var features = Ensemble.Features;
        Array.Clear(phi, 0, count * features);
        // Blocks of rows meet each tree in turn, so a tree's tables stay in cache across a block.
        const int block = 64;
        var blocks = (count + block - 1) / block;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancellationToken };
        Parallel.For(0, blocks, options, () => (new PathShap(_maxDepth), new bool[_maxNodes]), (b, _, scratch) =>
        {
            var (recursion, left) = scratch;
            var (first, last) = (b * block, Math.Min(count, (b + 1) * block));
            for (var t = 0; t < _tables.Length; t++)
            {
                var tree = Ensemble.Trees[t];
                var tables = _tables[t];
                for (var r = first; r < last; r++)
                {
                    var row = rows.AsSpan(r * features, features);
                    var attribution = phi.AsSpan(r * features, features);
                    if (tables is not null)
                    {
                        tables.Add(tree, Ensemble.Rule, row, attribution, left.AsSpan(0, tree.Nodes));
                    }
                    else
                    {
                        recursion.Add(tree, Ensemble.Rule, row, attribution);
                    }
                }
            }

            for (var r = first; r < last; r++)
            {
                margins[r] = Ensemble.Margin(rows.AsSpan(r * features, features));
            }

            return scratch;
        }, _ => { });
    }

    /// <summary>Explains rows with the recursion alone: the reference the tables are checked against.</summary>
    public void ExplainByRecursion(ReadOnlySpan<double> row, Span<double> phi)
    {
        phi.Clear();
        var recursion = new PathShap(_maxDepth);
        foreach (var tree in Ensemble.Trees)
        {
            recursion.Add(tree, Ensemble.Rule, row, phi);
        }
    }
}

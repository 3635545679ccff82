using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Microsoft.ML.Transforms;

namespace ModelOps.Explainability.Trees;

/// <summary>
/// Reads an ML.NET model saved as .zip (<c>mlContext.Model.Save</c>) whose predictor is a FastTree or LightGBM tree
/// ensemble, through ML.NET's own loader and its public tree ensemble parameters
/// (<c>RegressionTreeEnsemble</c>). ML.NET compares a feature as a float, left when value ≤ threshold; a
/// missing value (NaN) takes the node's default value when the trainer kept one, and otherwise goes right, as NaN ≤ t is
/// false. ML.NET does not keep how much training data reached each node, so the ensemble has no covers: path-dependent
/// TreeSHAP needs background rows to count them (<see cref="TreeEnsemble.WithCovers"/>).
/// </summary>
internal static class MlNetZipReader
{
    public static TreeEnsemble Read(ReadOnlyMemory<byte> content, int maxTrees, int maxNodes, int maxDepth)
    {
        var (model, input) = Load(content);
        var chain = model is IEnumerable<ITransformer> transformers ? transformers.ToList() : [model];
        if (chain.Count == 0 || chain[^1] is not ISingleFeaturePredictionTransformer<object> predictor)
        {
            throw new ModelFormatException("the ML.NET pipeline does not end in a predictor");
        }

        // What precedes the predictor must leave each feature a raw input column (or a slot of one): concatenating
        // and copying columns do; a normaliser or an encoder would make the explained values differ from the input's.
        var schema = input;
        foreach (var transformer in chain.Take(chain.Count - 1))
        {
            if (transformer is not (ColumnConcatenatingTransformer or ColumnCopyingTransformer))
            {
                throw new ModelFormatException(
                    $"the ML.NET pipeline transforms its input with {transformer.GetType().Name}; only Concatenate and CopyColumns may precede the trees");
            }

            schema = transformer.GetOutputSchema(schema);
        }

        var names = FeatureNames(schema, predictor.FeatureColumnName);
        var (parameters, transform, scale, offset) = Unwrap(predictor.Model);
        var (trees, weights, bias) = parameters switch
        {
            TreeEnsembleModelParametersBasedOnRegressionTree r => (r.TrainedTreeEnsemble.Trees.Cast<RegressionTreeBase>().ToList(), r.TrainedTreeEnsemble.TreeWeights, r.TrainedTreeEnsemble.Bias),
            // A forest's score is not its trees' weighted sum as the ensemble publishes it: refused rather than misexplained.
            TreeEnsembleModelParametersBasedOnQuantileRegressionTree => throw new ModelFormatException("ML.NET FastForest models are not explained (only FastTree and LightGBM)"),
            _ => throw new ModelFormatException($"the ML.NET predictor {parameters.GetType().Name} is not a tree ensemble"),
        };

        if (trees.Count > maxTrees)
        {
            throw new ModelFormatException($"the model has more than {maxTrees} trees");
        }

        var converted = new Tree[trees.Count];
        for (var t = 0; t < trees.Count; t++)
        {
            converted[t] = Convert(trees[t], weights[t], names.Count, maxNodes, maxDepth);
        }

        return new TreeEnsemble
        {
            Format = "mlnet-zip",
            Objective = parameters.GetType().Name.Replace("ModelParameters", string.Empty, StringComparison.Ordinal),
            FeatureNames = names,
            Trees = converted,
            BaseMargin = bias,
            Rule = SplitRule.LessOrEqualSingle,
            Transform = transform,
            Scale = scale,
            Offset = offset,
            HasCover = false,
        };
    }

    /// <summary>The archive's model and the input schema it was saved with, through ML.NET's own loader.</summary>
    public static (ITransformer Model, DataViewSchema Input) Load(ReadOnlyMemory<byte> content)
    {
        var context = new MLContext(seed: 0);
        // LightGBM's parameters live in their own assembly, which ML.NET finds only once told of it.
        context.ComponentCatalog.RegisterAssembly(typeof(LightGbmBinaryModelParameters).Assembly);
        try
        {
            using var stream = new MemoryStream(content.ToArray(), writable: false);
            var model = context.Model.Load(stream, out var input);
            return (model, input);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // ML.NET's loader throws what its checks happen to throw (InvalidOperationException, FormatException,
            // InvalidDataException, its own exceptions); any of them means the archive is not a model it can load.
            throw new UnsupportedModelException($"ML.NET cannot load the zip archive ({FirstLine(exception.Message)})");
        }
    }

    // A calibrated binary classifier: its trees' score through Platt's sigmoid, p = 1 / (1 + exp(slope·s + offset)).
    private static (object Parameters, OutputTransform Transform, double Scale, double Offset) Unwrap(object model)
    {
        // CalibratedModelParametersBase<TSub, TCalibrator> is generic in both; its properties are read by name (a derived
        // class redeclares them, hence the first of each name rather than GetProperty's ambiguity).
        var properties = model.GetType().GetProperties();
        if (properties.FirstOrDefault(p => p.Name == "SubModel") is not { } sub || properties.FirstOrDefault(p => p.Name == "Calibrator") is not { } calibratorProperty)
        {
            return (model, OutputTransform.Identity, 1, 0);
        }

        var parameters = sub.GetValue(model)!;
        return calibratorProperty.GetValue(model) switch
        {
            PlattCalibrator platt => (parameters, OutputTransform.Logistic, -platt.Slope, -platt.Offset),
            var other => throw new ModelFormatException(
                $"the ML.NET classifier is calibrated by {other?.GetType().Name}; only Platt's sigmoid is read (train with the default calibrator)"),
        };
    }

    private static List<string> FeatureNames(DataViewSchema schema, string column)
    {
        if (schema.GetColumnOrNull(column) is not { } features || features.Type is not VectorDataViewType { ItemType: NumberDataViewType } vector || !vector.IsKnownSize)
        {
            throw new ModelFormatException($"the predictor's input {column} is not a numeric vector of known size");
        }

        var names = Enumerable.Range(0, vector.Size).Select(i => $"{column}[{i}]").ToList();
        if (features.HasSlotNames())
        {
            var slots = default(VBuffer<ReadOnlyMemory<char>>);
            features.GetSlotNames(ref slots);
            var i = 0;
            foreach (var slot in slots.DenseValues())
            {
                if (!slot.IsEmpty)
                {
                    names[i] = slot.ToString();
                }

                i++;
            }
        }

        if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
        {
            throw new ModelFormatException($"the predictor's input {column} names two slots alike");
        }

        return names;
    }

    private static Tree Convert(RegressionTreeBase source, double weight, int features, int maxNodes, int maxDepth)
    {
        var splits = source.NumberOfNodes;
        var leaves = source.NumberOfLeaves;
        if (splits + leaves > maxNodes)
        {
            throw new ModelFormatException($"a tree has more than {maxNodes} nodes");
        }

        if (splits == 0)
        {
            return Tree.Leaf(weight * source.LeafValues[0], 0);
        }

        if (source.CategoricalSplitFlags.Any(flag => flag))
        {
            throw new ModelFormatException("ML.NET categorical splits are not explained");
        }

        var missing = DefaultValueForMissing(source);
        var nodes = splits + leaves;
        int Node(int child) => child >= 0 ? child : splits + ~child;
        var tree = Tree.Allocate(nodes);
        for (var i = 0; i < splits; i++)
        {
            var threshold = source.NumericalSplitThresholds[i];
            tree.Left[i] = Node(source.LeftChild[i]);
            tree.Right[i] = Node(source.RightChild[i]);
            tree.Feature[i] = source.NumericalSplitFeatureIndexes[i];
            tree.Threshold[i] = threshold;
            tree.Missing[i] = MissingRule.NaN;
            // NaN becomes the node's default value and is compared like any value; without one, NaN ≤ t is false.
            tree.DefaultLeft[i] = missing is not null && missing[i] <= threshold;
        }

        for (var i = 0; i < leaves; i++)
        {
            tree.Left[splits + i] = tree.Right[splits + i] = -1;
            tree.Value[splits + i] = weight * source.LeafValues[i];
        }

        TreeChecks.Check(tree, features, maxDepth);
        return tree;
    }

    // ML.NET keeps each split's value for a missing feature on its internal tree only (RegressionTreeBase._tree, a
    // public field of an internal class); reflection is the one way to it.
    private static float[]? DefaultValueForMissing(RegressionTreeBase tree)
    {
        var inner = typeof(RegressionTreeBase).GetField("_tree", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(tree);
        return inner?.GetType().GetField("DefaultValueForMissing", BindingFlags.Instance | BindingFlags.Public)?.GetValue(inner) as float[];
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}

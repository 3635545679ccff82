using Google.Protobuf;

namespace ModelOps.Testing.Onnx;

/// <summary>
/// A small neural network written as an ONNX model (opset 13: MatMul, Add, Tanh, Sigmoid, Concat) and computed again
/// in double precision by <see cref="Forward"/>, the independent oracle of what ONNX Runtime answers. Hidden = 0 is a
/// linear model.
/// </summary>
/// <param name="Features">Inputs.</param>
/// <param name="Hidden">Hidden units (tanh); 0 for a linear model.</param>
/// <param name="W1">Features × Hidden weights, row-major (Features × 1 for a linear model).</param>
/// <param name="B1">Hidden biases.</param>
/// <param name="W2">Hidden output weights.</param>
/// <param name="B2">The output's bias.</param>
/// <param name="Probability">Whether the output goes through a sigmoid.</param>
public sealed record OnnxNetwork(int Features, int Hidden, float[] W1, float[] B1, float[] W2, float B2, bool Probability)
{
    /// <summary>A network of seeded random weights (uniform in [−1, 1], the first layer scaled by 1/√features).</summary>
    public static OnnxNetwork Random(int features, int hidden, int seed, bool probability = false)
    {
        var random = new Random(seed);
        float Next(double scale) => (float)(((random.NextDouble() * 2) - 1) * scale);
        var inputs = Math.Max(hidden, 1);
        return new OnnxNetwork(features, hidden,
            [.. Enumerable.Range(0, features * inputs).Select(_ => Next(2 / Math.Sqrt(features)))],
            [.. Enumerable.Range(0, hidden).Select(_ => Next(0.5))],
            [.. Enumerable.Range(0, hidden).Select(_ => Next(1.5))],
            Next(0.5), probability);
    }

    /// <summary>A linear model: w·x + b.</summary>
    public static OnnxNetwork Linear(float[] weights, float bias) => new(weights.Length, 0, weights, [], [], bias, false);

    /// <summary>The output in double precision, from the float weights.</summary>
    public double Forward(ReadOnlySpan<double> x)
    {
        double output = B2;
        if (Hidden == 0)
        {
            for (var f = 0; f < Features; f++)
            {
                output += W1[f] * (double)(float)x[f];
            }
        }
        else
        {
            for (var h = 0; h < Hidden; h++)
            {
                double sum = B1[h];
                for (var f = 0; f < Features; f++)
                {
                    sum += W1[(f * Hidden) + h] * (double)(float)x[f];
                }

                output += W2[h] * Math.Tanh(sum);
            }
        }

        return Probability ? 1 / (1 + Math.Exp(-output)) : output;
    }

    /// <summary>
    /// The ONNX model: one input "x" [N, Features], or one input [N, 1] per feature named by <paramref name="names"/>
    /// when <paramref name="perFeature"/>; the output "y" [N, 1], or "probabilities" [N, 2] (1 − p, p) when
    /// <paramref name="twoColumns"/>. <paramref name="metadata"/> becomes the model's metadata_props. Two defects of
    /// real exports: <paramref name="fixedBatch"/> declares a batch of exactly 1, <paramref name="failsOnBatches"/>
    /// declares N but reshapes its input to one row, so ONNX Runtime fails on more.
    /// </summary>
    public byte[] ToOnnx(IReadOnlyList<string>? names = null, bool perFeature = false, bool twoColumns = false, IReadOnlyDictionary<string, string>? metadata = null,
        bool fixedBatch = false, bool failsOnBatches = false)
    {
        var graph = new GraphProto { Name = "network" };
        var batch = fixedBatch ? 1 : 0;
        if (perFeature)
        {
            var inputs = names ?? [.. Enumerable.Range(0, Features).Select(f => $"x{f}")];
            foreach (var name in inputs)
            {
                graph.Input.Add(Value(name, 1, batch));
            }

            graph.Node.Add(Node("Concat", [.. inputs], "x", ("axis", 1)));
        }
        else if (failsOnBatches)
        {
            graph.Input.Add(Value("raw", Features, batch));
            var shape = new TensorProto { Name = "one_row", DataType = (int)TensorProto.Types.DataType.Int64 };
            shape.Dims.Add(2);
            shape.Int64Data.Add([1, Features]);
            graph.Initializer.Add(shape);
            graph.Node.Add(Node("Reshape", ["raw", "one_row"], "x"));
        }
        else
        {
            graph.Input.Add(Value("x", Features, batch));
        }

        if (Hidden > 0)
        {
            graph.Initializer.Add(Tensor("w1", W1, Features, Hidden));
            graph.Initializer.Add(Tensor("b1", B1, Hidden));
            graph.Initializer.Add(Tensor("w2", W2, Hidden, 1));
            graph.Node.Add(Node("MatMul", ["x", "w1"], "h0"));
            graph.Node.Add(Node("Add", ["h0", "b1"], "h1"));
            graph.Node.Add(Node("Tanh", ["h1"], "h2"));
            graph.Node.Add(Node("MatMul", ["h2", "w2"], "o0"));
        }
        else
        {
            graph.Initializer.Add(Tensor("w1", W1, Features, 1));
            graph.Node.Add(Node("MatMul", ["x", "w1"], "o0"));
        }

        graph.Initializer.Add(Tensor("b2", [B2], 1));
        graph.Node.Add(Node("Add", ["o0", "b2"], "o1"));
        var last = "o1";
        if (Probability)
        {
            graph.Node.Add(Node("Sigmoid", [last], "p"));
            last = "p";
        }

        if (twoColumns)
        {
            graph.Initializer.Add(Tensor("one", [1f], 1));
            graph.Node.Add(Node("Sub", ["one", last], "q"));
            graph.Node.Add(Node("Concat", ["q", last], "probabilities", ("axis", 1)));
            graph.Output.Add(Value("probabilities", 2, batch));
        }
        else
        {
            graph.Node.Add(Node("Identity", [last], "y"));
            graph.Output.Add(Value("y", 1, batch));
        }

        var model = new ModelProto { IrVersion = 8, ProducerName = "modelops-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        if (!perFeature && names is not null)
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = "modelops.features", Value = string.Join(',', names) });
        }

        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return model.ToByteArray();
    }

    // A float tensor [N, width]; a batch of 0 declares N dynamic.
    private static ValueInfoProto Value(string name, int width, int batch) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)TensorProto.Types.DataType.Float,
                Shape = new TensorShapeProto
                {
                    Dim =
                    {
                        batch > 0 ? new TensorShapeProto.Types.Dimension { DimValue = batch } : new TensorShapeProto.Types.Dimension { DimParam = "N" },
                        new TensorShapeProto.Types.Dimension { DimValue = width },
                    },
                },
            },
        },
    };

    private static TensorProto Tensor(string name, float[] values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.Add(dims);
        tensor.FloatData.Add(values);
        return tensor;
    }

    private static NodeProto Node(string op, string[] inputs, string output, (string Name, long Value)? attribute = null)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{output}" };
        node.Input.Add(inputs);
        node.Output.Add(output);
        if (attribute is { } a)
        {
            node.Attribute.Add(new AttributeProto { Name = a.Name, Type = AttributeProto.Types.AttributeType.Int, I = a.Value });
        }

        return node;
    }
}

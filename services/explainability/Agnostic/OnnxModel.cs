using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;
using ModelOps.Explainability.Domain;
using ModelOps.Explainability.Trees;

namespace ModelOps.Explainability.Agnostic;

/// <summary>
/// An ONNX model run by ONNX Runtime and explained model-agnostically (<see cref="ShapleyExplainer"/>) in the space of
/// the output it explains. Inputs: one float or double tensor [N, M] (the features named by the metadata entry
/// <c>modelops.features</c>, comma-separated, else f0 … f(M−1)), or one tensor [N] or [N, 1] per feature (named by the
/// inputs). The explained output is the first float or double tensor output, or the one the metadata entry
/// <c>modelops.output</c> names: a single value per row, or column <c>modelops.output_column</c> of a wider output (a
/// two-column output's second column — a binary classifier's positive probability — when unset).
/// </summary>
internal sealed class OnnxModel : IExplainable, IModelFunction, IDisposable
{
    /// <summary>Most features of a model explained model-agnostically.</summary>
    public const int MaxFeatures = 256;

    /// <summary>Metadata entries that name features and the explained output.</summary>
    public const string FeaturesKey = "modelops.features", OutputKey = "modelops.output", OutputColumnKey = "modelops.output_column";

    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly string[] _inputs;
    private readonly bool _double;
    private readonly bool _perFeature;
    private readonly bool _vectors;
    private readonly string _output;
    private readonly int _outputWidth;
    private readonly int _outputColumn;

    private OnnxModel(InferenceSession session, string[] inputs, bool isDouble, bool perFeature, IReadOnlyList<string> features, string output, int width, int column)
    {
        (_session, _inputs, _double, _perFeature, FeatureNames, _output, _outputWidth, _outputColumn) = (session, inputs, isDouble, perFeature, features, output, width, column);
        _vectors = perFeature && session.InputMetadata[inputs[0]].Dimensions.Length == 1;
        Objective = width == 1 ? output : string.Create(CultureInfo.InvariantCulture, $"{output}[:, {column}]");
        DefaultThreshold = width == 2 && column == 1 ? 0.5 : null;
    }

    public string Format => "onnx";

    /// <summary>The explained output: its name, and its column when it has several.</summary>
    public string Objective { get; }

    public IReadOnlyList<string> FeatureNames { get; }

    public int Features => FeatureNames.Count;

    public int TreeCount => 0;

    public string Output => "identity";

    /// <summary>0.5 when the explained output is the second of two columns (a binary classifier's probabilities).</summary>
    public double? DefaultThreshold { get; }

    public bool NeedsBackground => true;

    /// <summary>
    /// Whether the content looks like a serialised ONNX ModelProto: it opens with field 1 (ir_version, a varint) of a
    /// plausible version. ONNX files carry no magic number; ONNX Runtime has the last word.
    /// </summary>
    public static bool Recognises(ReadOnlySpan<byte> content) => content.Length > 2 && content[0] == 0x08 && content[1] is >= 1 and <= 64;

    public static OnnxModel Read(byte[] content)
    {
        InferenceSession session;
        try
        {
            // One thread per run: the explainer runs rows in parallel itself.
            using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
            session = new InferenceSession(content, options);
        }
        catch (OnnxRuntimeException exception)
        {
            throw new UnsupportedModelException($"ONNX Runtime cannot load the file ({TrimOrt(exception.Message)})");
        }

        try
        {
            return Describe(session);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    public double Prediction(double margin) => margin;

    public IExplainer Explainer() => throw new InvalidOperationException("an ONNX model is explained with background rows");

    public IExplainer Explainer(double[] rows, int count) => new ShapleyExplainer(this, rows, count);

    /// <summary>Runs the model on <paramref name="count"/> rows (row-major, NaN passed as NaN) into <paramref name="outputs"/>.</summary>
    public void Evaluate(double[] rows, int count, double[] outputs)
    {
        var features = Features;
        var values = new List<OrtValue>(_inputs.Length);
        try
        {
            if (_perFeature)
            {
                for (var f = 0; f < features; f++)
                {
                    values.Add(Tensor(rows, count, features, f, 1, _vectors ? [count] : [count, 1]));
                }
            }
            else
            {
                values.Add(Tensor(rows, count, features, 0, features, [count, features]));
            }

            using var results = Run(values);
            var result = results[0];
            if (result.GetTensorTypeAndShape().ElementCount < (long)count * _outputWidth)
            {
                throw new ModelRunException(string.Create(CultureInfo.InvariantCulture,
                    $"the ONNX model answered {result.GetTensorTypeAndShape().ElementCount} values of {_output} for {count} rows (expected {count * _outputWidth})"));
            }

            if (result.GetTensorTypeAndShape().ElementDataType == TensorElementType.Double)
            {
                var data = result.GetTensorDataAsSpan<double>();
                for (var r = 0; r < count; r++)
                {
                    outputs[r] = data[(r * _outputWidth) + _outputColumn];
                }
            }
            else
            {
                var data = result.GetTensorDataAsSpan<float>();
                for (var r = 0; r < count; r++)
                {
                    outputs[r] = data[(r * _outputWidth) + _outputColumn];
                }
            }
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    private IDisposableReadOnlyCollection<OrtValue> Run(List<OrtValue> values)
    {
        try
        {
            return _session.Run(_run, _inputs, values, [_output]);
        }
        catch (OnnxRuntimeException exception)
        {
            throw new ModelRunException($"ONNX Runtime failed to run the model ({TrimOrt(exception.Message)})", exception);
        }
    }

    public void Dispose()
    {
        _run.Dispose();
        _session.Dispose();
    }

    // A tensor of columns [first, first + width) of the rows, in the inputs' element type.
    private OrtValue Tensor(double[] rows, int count, int features, int first, int width, long[] shape)
    {
        if (_double)
        {
            var data = new double[count * width];
            for (var r = 0; r < count; r++)
            {
                rows.AsSpan((r * features) + first, width).CopyTo(data.AsSpan(r * width, width));
            }

            return OrtValue.CreateTensorValueFromMemory(data, shape);
        }

        var single = new float[count * width];
        for (var r = 0; r < count; r++)
        {
            for (var c = 0; c < width; c++)
            {
                single[(r * width) + c] = (float)rows[(r * features) + first + c];
            }
        }

        return OrtValue.CreateTensorValueFromMemory(single, shape);
    }

    private static OnnxModel Describe(InferenceSession session)
    {
        var metadata = session.ModelMetadata.CustomMetadataMap;
        var inputs = session.InputMetadata;
        if (inputs.Count == 0)
        {
            throw new UnsupportedModelException("the ONNX model has no inputs");
        }

        var types = inputs.Values.Select(i => i.IsTensor ? i.ElementDataType : TensorElementType.DataTypeMax).Distinct().ToList();
        if (types.Count != 1 || types[0] is not (TensorElementType.Float or TensorElementType.Double))
        {
            throw new UnsupportedModelException("an ONNX model's inputs must all be float or all double tensors");
        }

        // (An output's shape may be inferred through the graph; a wrong one is caught when the model runs.)
        if (inputs.Values.Any(i => i.Dimensions is [> 0, ..]))
        {
            throw new UnsupportedModelException("the ONNX model's inputs must have a dynamic first (batch) dimension; export it with one (dynamic_axes, or None as the batch size)");
        }

        var isDouble = types[0] == TensorElementType.Double;
        string[] names;
        IReadOnlyList<string> features;
        bool perFeature;
        if (inputs.Count == 1 && inputs.Values.Single().Dimensions is [_, > 1 and var width])
        {
            if (width > MaxFeatures)
            {
                throw new UnsupportedModelException($"the ONNX model has {width} features; model-agnostic explanations take at most {MaxFeatures}");
            }

            names = [inputs.Keys.Single()];
            perFeature = false;
            features = metadata.TryGetValue(FeaturesKey, out var listed) ? listed.Split(',', StringSplitOptions.TrimEntries) : [.. Enumerable.Range(0, width).Select(f => $"f{f}")];
            if (features.Count != width || features.Any(f => f.Length is 0 or > 200) || features.Distinct(StringComparer.Ordinal).Count() != width)
            {
                throw new UnsupportedModelException($"the metadata entry {FeaturesKey} must name the input's {width} features, each once");
            }
        }
        else
        {
            if (inputs.Values.Any(i => i.Dimensions is not ([_] or [_, 1])) || inputs.Values.Select(i => i.Dimensions.Length).Distinct().Count() > 1)
            {
                throw new UnsupportedModelException("an ONNX model takes one [N, M] tensor, or one [N] or [N, 1] tensor per feature (all of one shape)");
            }

            if (inputs.Count > MaxFeatures)
            {
                throw new UnsupportedModelException($"the ONNX model has {inputs.Count} features; model-agnostic explanations take at most {MaxFeatures}");
            }

            names = [.. inputs.Keys];
            features = names;
            perFeature = true;
        }

        var candidates = session.OutputMetadata.Where(o => o.Value.IsTensor && o.Value.ElementDataType is TensorElementType.Float or TensorElementType.Double).ToList();
        var chosen = metadata.TryGetValue(OutputKey, out var named) ? candidates.FirstOrDefault(o => o.Key == named) : candidates.FirstOrDefault();
        if (chosen.Key is null)
        {
            throw new UnsupportedModelException(named is null
                ? "the ONNX model has no float or double tensor output"
                : $"the ONNX model has no float or double tensor output named {named} (its metadata entry {OutputKey})");
        }

        var outputWidth = chosen.Value.Dimensions switch
        {
            [_] or [_, 1] => 1,
            [_, > 1 and var w] => w,
            _ => throw new UnsupportedModelException($"the ONNX model's output {chosen.Key} must be [N] or [N, K] with K known"),
        };
        var column = outputWidth switch
        {
            1 => 0,
            _ when metadata.TryGetValue(OutputColumnKey, out var text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c < outputWidth
                ? c
                : throw new UnsupportedModelException($"the metadata entry {OutputColumnKey} must be a column of {chosen.Key} (0 to {outputWidth - 1})"),
            2 => 1,
            _ => throw new UnsupportedModelException($"the ONNX model's output {chosen.Key} has {outputWidth} columns: name the one to explain in the metadata entry {OutputColumnKey}"),
        };
        return new OnnxModel(session, names, isDouble, perFeature, features, chosen.Key, outputWidth, column);
    }

    // ONNX Runtime's messages open with a bracketed status code; the rest says what is wrong.
    private static string TrimOrt(string message)
    {
        var text = message.Contains("] ", StringComparison.Ordinal) ? message[(message.LastIndexOf("] ", StringComparison.Ordinal) + 2)..] : message;
        return text.Length > 200 ? text[..200] + "…" : text;
    }
}

using Microsoft.ML;
using Microsoft.ML.Data;
using ModelOps.Explainability.Domain;
using ModelOps.Explainability.Trees;

namespace ModelOps.Explainability.Agnostic;

/// <summary>
/// An ML.NET model (.zip) that is not a bare tree ensemble — a pipeline that normalises its input, a FastForest, a
/// linear or other trainer, another calibrator — run by ML.NET itself and explained model-agnostically
/// (<see cref="ShapleyExplainer"/>). Its features are the input columns of type Single (a scalar column is a feature, a
/// vector column of known size one feature per slot, named by its slot names or <c>column[i]</c>); the explained output
/// is <c>Probability</c> when the pipeline has one (a binary classifier: threshold 0.5), else <c>Score</c>.
/// </summary>
internal sealed class MlNetPipeline : IExplainable, IModelFunction
{
    private readonly ITransformer _model;
    private readonly DataViewSchema _schema;
    private readonly (int First, int Width, bool Vector)[] _columns;
    private readonly string _output;

    private MlNetPipeline(ITransformer model, DataViewSchema schema, (int, int, bool)[] columns, List<string> features, string output)
    {
        (_model, _schema, _columns, FeatureNames, _output) = (model, schema, columns, features, output);
    }

    public string Format => "mlnet-zip";

    /// <summary>The explained output column.</summary>
    public string Objective => _output;

    public IReadOnlyList<string> FeatureNames { get; }

    public int TreeCount => 0;

    public string Output => "identity";

    public double? DefaultThreshold => _output == "Probability" ? 0.5 : null;

    public bool NeedsBackground => true;

    /// <summary>
    /// The pipeline of an archive ML.NET loads, fed with its Single input columns; <paramref name="whyNotTrees"/> is why
    /// it was not read as a tree ensemble, for a refusal to say both.
    /// </summary>
    public static MlNetPipeline Read(byte[] content, string whyNotTrees)
    {
        var (model, input) = MlNetZipReader.Load(content);

        // Candidate features: the Single input columns. A column the pipeline runs without (a training label kept in
        // the saved schema) is not one of the model's features.
        var candidates = input.Where(c => c.Type == NumberDataViewType.Single
            || (c.Type is VectorDataViewType { IsKnownSize: true } v && v.ItemType == NumberDataViewType.Single)).ToList();
        if (candidates.Count == 0)
        {
            throw new UnsupportedModelException($"{whyNotTrees}, and the pipeline has no Single input columns to explain it by");
        }

        string explained;
        try
        {
            var output = model.GetOutputSchema(Schema(candidates));
            explained = new[] { "Probability", "Score" }.FirstOrDefault(name => output.GetColumnOrNull(name) is { Type: var type } && type == NumberDataViewType.Single)
                ?? throw new UnsupportedModelException($"{whyNotTrees}, and the pipeline has no Single Probability or Score output (a multi-class model?)");
        }
        catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
        {
            // The pipeline needs an input that is not a Single column (text, a category, a key): nothing to vary.
            throw new UnsupportedModelException($"{whyNotTrees}, and the pipeline does not run on its Single input columns alone ({exception.Message.Split('\n')[0]})");
        }

        var used = candidates.Where(c => !RunsWithout(model, candidates, c, explained)).ToList();
        var columns = new List<(int, int, bool)>();
        var features = new List<string>();
        foreach (var column in used)
        {
            if (column.Type is VectorDataViewType vector)
            {
                columns.Add((features.Count, vector.Size, true));
                features.AddRange(SlotNames(column, vector.Size));
            }
            else
            {
                columns.Add((features.Count, 1, false));
                features.Add(column.Name);
            }
        }

        if (features.Count > OnnxModel.MaxFeatures)
        {
            throw new UnsupportedModelException($"the ML.NET pipeline has {features.Count} input features; model-agnostic explanations take at most {OnnxModel.MaxFeatures}");
        }

        if (features.Count == 0 || features.Distinct(StringComparer.Ordinal).Count() != features.Count)
        {
            throw new UnsupportedModelException($"{whyNotTrees}, and the pipeline's Single input columns do not name its features once each");
        }

        var schema = Schema(used);
        return new MlNetPipeline(model, schema, [.. columns], features, explained);
    }

    public double Prediction(double margin) => margin;

    public IExplainer Explainer() => throw new InvalidOperationException("an ML.NET pipeline is explained with background rows");

    public IExplainer Explainer(double[] rows, int count) => new ShapleyExplainer(this, rows, count);

    public void Evaluate(double[] rows, int count, double[] outputs)
    {
        var written = 0;
        try
        {
            var scored = _model.Transform(new RowsView(this, rows, count));
            var column = scored.Schema[_output];
            using var cursor = scored.GetRowCursor([column]);
            var getter = cursor.GetGetter<float>(column);
            var value = 0f;
            for (; written < count && cursor.MoveNext(); written++)
            {
                getter(ref value);
                outputs[written] = value;
            }
        }
        catch (Exception exception) when (exception is InvalidOperationException or ArgumentException or FormatException)
        {
            // What an ML.NET transform throws on rows it refuses.
            throw new ModelRunException($"ML.NET failed to run the pipeline ({exception.Message.Split('\n')[0]})", exception);
        }

        if (written != count)
        {
            throw new ModelRunException($"the ML.NET pipeline answered {written} rows of {count}");
        }
    }

    private static DataViewSchema Schema(IEnumerable<DataViewSchema.Column> columns)
    {
        var builder = new DataViewSchema.Builder();
        foreach (var column in columns)
        {
            builder.AddColumn(column.Name, column.Type);
        }

        return builder.ToSchema();
    }

    // Whether the pipeline still gives its explained output without the column.
    private static bool RunsWithout(ITransformer model, List<DataViewSchema.Column> columns, DataViewSchema.Column left, string explained)
    {
        try
        {
            return model.GetOutputSchema(Schema(columns.Where(c => c.Index != left.Index))).GetColumnOrNull(explained) is not null;
        }
        catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static IEnumerable<string> SlotNames(DataViewSchema.Column column, int size)
    {
        if (column.HasSlotNames())
        {
            var names = default(VBuffer<ReadOnlyMemory<char>>);
            column.GetSlotNames(ref names);
            var dense = names.DenseValues().Select(n => n.ToString()).ToList();
            if (dense.All(n => n.Length > 0))
            {
                return dense;
            }
        }

        return Enumerable.Range(0, size).Select(i => $"{column.Name}[{i}]");
    }

    // The rows as ML.NET reads data: one cursor over them, the Single columns filled from the row-major values.
    // (ML.NET builds views of typed objects; rows whose columns are known only at run time need their own view.)
    private sealed class RowsView(MlNetPipeline pipeline, double[] rows, int count) : IDataView
    {
        public bool CanShuffle => false;

        public DataViewSchema Schema => pipeline._schema;

        private MlNetPipeline Pipeline => pipeline;

        private double[] Rows => rows;

        private int Count => count;

        public long? GetRowCount() => count;

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(this)];

        private sealed class Cursor(RowsView view) : DataViewRowCursor
        {
            private long _position = -1;

            public override DataViewSchema Schema => view.Schema;

            public override long Position => _position;

            public override long Batch => 0;

            public override bool MoveNext()
            {
                if (_position + 1 >= view.Count)
                {
                    _position = view.Count;
                    return false;
                }

                _position++;
                return true;
            }

            public override bool IsColumnActive(DataViewSchema.Column column) => true;

            public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                var (first, width, vector) = view.Pipeline._columns[column.Index];
                var features = view.Pipeline.FeatureNames.Count;
                if (!vector)
                {
                    ValueGetter<float> scalar = (ref float value) => value = (float)view.Rows[(_position * features) + first];
                    return (ValueGetter<TValue>)(Delegate)scalar;
                }

                ValueGetter<VBuffer<float>> slots = (ref VBuffer<float> value) =>
                {
                    var editor = VBufferEditor.Create(ref value, width);
                    for (var i = 0; i < width; i++)
                    {
                        editor.Values[i] = (float)view.Rows[(_position * features) + first + i];
                    }

                    value = editor.Commit();
                };
                return (ValueGetter<TValue>)(Delegate)slots;
            }
        }
    }
}

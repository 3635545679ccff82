using System.Text;
using System.Text.Json;
using ModelOps.Explainability.Agnostic;
using ModelOps.Explainability.Domain;

namespace ModelOps.Explainability.Trees;

/// <summary>Recognises a model file by its content (not its name) and reads it.</summary>
internal static class ModelFiles
{
    /// <summary>Most trees a model may have.</summary>
    public const int MaxTrees = 100_000;

    /// <summary>Most nodes a tree may have.</summary>
    public const int MaxNodes = 1 << 20;

    /// <summary>Deepest path a tree may have (the recursion's depth).</summary>
    public const int MaxDepth = 256;

    /// <summary>The formats read, as a refusal lists them.</summary>
    public const string Supported = "XGBoost JSON (save_model(\"model.json\"), gbtree, one output), LightGBM text (save_model(\"model.txt\"), one output) " +
        "ML.NET .zip (FastTree or LightGBM regression or binary classification after Concatenate only, by TreeSHAP; any other pipeline on Single input columns " +
        "with a Probability or Score output, model-agnostically; both with background rows), " +
        "and ONNX (float or double tensor inputs and output, at most 256 features; explained model-agnostically with background rows)";

    /// <summary>
    /// Reads a model file of any supported format: a tree ensemble; an ONNX model; an ML.NET model that is not a bare
    /// tree ensemble, run by ML.NET (both explained model-agnostically).
    /// </summary>
    public static IExplainable ReadModel(byte[] content)
    {
        if (OnnxModel.Recognises(content))
        {
            return OnnxModel.Read(content);
        }

        try
        {
            return new TreeModel(Read(content));
        }
        catch (ModelFormatException exception) when (content.AsSpan().StartsWith("PK\u0003\u0004"u8))
        {
            return MlNetPipeline.Read(content, exception.Message);
        }
    }

    public static TreeEnsemble Read(ReadOnlyMemory<byte> content)
    {
        var span = content.Span;
        var start = 0;
        while (start < span.Length && span[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or 0xEF or 0xBB or 0xBF)
        {
            start++;
        }

        if (start < span.Length && span[start] == (byte)'{')
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(content[start..], new JsonDocumentOptions { MaxDepth = 16 });
            }
            catch (JsonException exception)
            {
                throw new UnsupportedModelException($"the file is not valid JSON ({exception.Message})");
            }

            using (document)
            {
                if (XGBoostJsonReader.Recognises(document))
                {
                    return XGBoostJsonReader.Read(document, MaxTrees, MaxNodes, MaxDepth);
                }
            }

            throw new UnsupportedModelException("the JSON file is not an XGBoost model (it has no \"learner\")");
        }

        if (span.StartsWith("PK\u0003\u0004"u8))
        {
            return MlNetZipReader.Read(content, MaxTrees, MaxNodes, MaxDepth);
        }

        if (span.StartsWith("tree\n"u8) || span.StartsWith("tree\r\n"u8))
        {
            return LightGbmTextReader.Read(Encoding.UTF8.GetString(span), MaxTrees, MaxNodes, MaxDepth);
        }

        throw new UnsupportedModelException("the file is not a model in any of the formats read");
    }
}

/// <summary>A model file in a format this service does not read.</summary>
internal sealed class UnsupportedModelException(string message) : Exception($"{message}; supported: {ModelFiles.Supported}");

using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core.Export.Targets;
using Distill.Core.Text;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Distill.Core.Export.Onnx;

/// <summary>A language-model ONNX file (<see cref="LmOnnxExporter"/>) loaded in ONNX Runtime (CPU, all graph
/// optimisations on). Its context, vocabulary and tokenizer come from the model card in the file's metadata
/// (<see cref="ModelCard.MetadataKey"/>), so the file alone is enough to generate text.</summary>
public sealed class OnnxLmRunner : ILanguageModelFile
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string _logitsOutput;

    /// <param name="threads">Intra-op threads; 0 lets ONNX Runtime choose.</param>
    /// <param name="optimizedModelPath">When set, ONNX Runtime saves the graph it optimised there.</param>
    /// <param name="logitsOutput">The output holding the logits [batch, sequence, vocab].</param>
    /// <param name="cuda">Run with ONNX Runtime's CUDA execution provider (a teacher of a device: cuda run).</param>
    public OnnxLmRunner(string path, int threads = 1, string? optimizedModelPath = null, string logitsOutput = LmOnnxExporter.OutputName,
        bool cuda = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(logitsOutput);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Path = path;
        _logitsOutput = logitsOutput;
        _session = OnnxRuntimeRunner.OpenSession(path, threads, optimizedModelPath, cuda);
        try
        {
            Card = ReadCard(path, _session);
            (Context, VocabSize, Tokenizer) = FromCard(path, Card);
            if (!_session.InputMetadata.TryGetValue(LmOnnxExporter.InputName, out var input) || input.ElementDataType != TensorElementType.Int64)
            {
                throw new InvalidInputException(
                    $"{path}: not a language-model ONNX file: it must take int64 token ids '{LmOnnxExporter.InputName}' [batch, sequence]; its inputs are {string.Join(", ", _session.InputMetadata.Keys)}");
            }
            if (!_session.OutputMetadata.TryGetValue(logitsOutput, out var output))
            {
                throw new InvalidInputException(
                    $"{path}: has no output '{logitsOutput}' for the logits; its outputs are {string.Join(", ", _session.OutputMetadata.Keys)}");
            }
            if (output.ElementDataType != TensorElementType.Float)
            {
                throw new InvalidInputException($"{path}: output '{logitsOutput}' is {output.ElementDataType}, not float logits");
            }
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public int Context { get; }

    public int VocabSize { get; }

    public ITokenizer Tokenizer { get; }

    /// <summary>The model card stored in the file.</summary>
    public JsonObject Card { get; }

    /// <summary>Logits [batch · sequence · vocab] (row-major [batch, sequence, vocab]) for token ids [batch, sequence].</summary>
    public float[] Logits(long[] tokens, int batch, int sequence)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (batch < 1 || sequence < 1 || sequence > Context || tokens.Length != (long)batch * sequence)
        {
            throw new ArgumentException($"tokens must be [batch, sequence] with 1 ≤ sequence ≤ {Context}; got {tokens.Length} ids for [{batch}, {sequence}]", nameof(tokens));
        }
        using var value = OrtValue.CreateTensorValueFromMemory(tokens, [batch, sequence]);
        using var outputs = _session.Run(_runOptions, [LmOnnxExporter.InputName], [value], [_logitsOutput]);
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        if (logits.Length != (long)batch * sequence * VocabSize)
        {
            throw new InvalidInputException(
                $"{Path}: output '{_logitsOutput}' gave {logits.Length} values for [{batch}, {sequence}] tokens, not logits [batch, sequence, {VocabSize}]");
        }
        return logits;
    }

    public float[] NextTokenLogits(IReadOnlyList<int> window) => PositionLogits(window, 1)[0];

    public float[][] PositionLogits(IReadOnlyList<int> window, int count)
    {
        ArgumentNullException.ThrowIfNull(window);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, window.Count);
        var tokens = new long[window.Count];
        for (int i = 0; i < tokens.Length; i++)
        {
            tokens[i] = window[i];
        }
        var logits = Logits(tokens, 1, tokens.Length);
        return [.. Enumerable.Range(tokens.Length - count, count).Select(position => logits.AsSpan(position * VocabSize, VocabSize).ToArray())];
    }

    public LmFileComparison Compare(TokenWindows windows, ITokenizer tokenizer, int batchSize, TransformerLm? reference = null) =>
        OnnxLmEvaluator.Evaluate(this, windows, tokenizer, batchSize, reference);

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    private static JsonObject ReadCard(string path, InferenceSession session)
    {
        if (!session.ModelMetadata.CustomMetadataMap.TryGetValue(ModelCard.MetadataKey, out var json))
        {
            throw new InvalidInputException(
                $"{path}: no model card in the ONNX metadata ({ModelCard.MetadataKey}); a language model exported by distill export carries its tokenizer and context there");
        }
        var card = TryParse(json) ?? throw new InvalidInputException($"{path}: the model card in the ONNX metadata is not a JSON object");
        if (KindOf(card) != LanguageModelExport.Kind)
        {
            throw new InvalidInputException($"{path}: not a language-model ONNX file (its model card is not of kind '{LanguageModelExport.Kind}')");
        }
        return card;
    }

    private static (int Context, int Vocab, ITokenizer Tokenizer) FromCard(string path, JsonObject card)
    {
        try
        {
            var model = card["model"]!.AsObject();
            int context = model["context"]!.GetValue<int>();
            int vocab = model["vocab_size"]!.GetValue<int>();
            var tokenizer = TokenizerFile.Parse(card["tokenizer"]!.ToJsonString(), $"{path} (model card tokenizer)");
            if (tokenizer.VocabSize != vocab || context < 1)
            {
                throw new InvalidInputException($"{path}: the model card's tokenizer has {tokenizer.VocabSize} tokens, its model a vocabulary of {vocab} and context {context}");
            }
            return (context, vocab, tokenizer);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidInputException($"{path}: the model card lacks model.context, model.vocab_size or tokenizer: {e.Message}", e);
        }
    }

    private static string? KindOf(JsonObject card) =>
        card["kind"] is JsonValue value && value.TryGetValue<string>(out var kind) ? kind : null;

    private static JsonObject? TryParse(string json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

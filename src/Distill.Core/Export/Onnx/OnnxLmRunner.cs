using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Core.Export.Targets;
using Distill.Core.Text;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Distill.Core.Export.Onnx;

/// <summary>A language-model ONNX file (<see cref="LmOnnxExporter"/>) loaded in ONNX Runtime (CPU, all graph
/// optimisations on). Its context, vocabulary and tokenizer come from the model card in the file's metadata
/// (<see cref="ModelCard.MetadataKey"/>), so the file alone is enough to generate text. A KV-cache file (past
/// key/value inputs, <see cref="LmKvCacheLayout"/>) is recognised by its inputs and checked against the layout its model
/// card implies; its full-window methods feed an empty past. <see cref="Open"/> gives such a file a cache
/// (<see cref="OnnxKvCacheLmRunner"/>).</summary>
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
            KvCache = ReadKvLayout(path, _session, Card);
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    /// <summary>Opens <paramref name="path"/>; a KV-cache file comes with its cache.</summary>
    public static ILanguageModelFile Open(string path, int threads)
    {
        var runner = new OnnxLmRunner(path, threads);
        return runner.KvCache is null ? runner : new OnnxKvCacheLmRunner(runner);
    }

    public string Path { get; }

    /// <summary>The past/present layout of a KV-cache file; null for a full-recompute file.</summary>
    public LmKvCacheLayout? KvCache { get; }

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
        using var outputs = Run(tokens, batch, sequence, past: null);
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        if (logits.Length != (long)batch * sequence * VocabSize)
        {
            throw new InvalidInputException(
                $"{Path}: output '{_logitsOutput}' gave {logits.Length} values for [{batch}, {sequence}] tokens, not logits [batch, sequence, {VocabSize}]");
        }
        return logits;
    }

    /// <summary>One run: the logits first, then (KV-cache files) the present keys and values in
    /// <see cref="LmKvCacheLayout.PresentNames"/> order. <paramref name="past"/> null means an empty past.</summary>
    internal IDisposableReadOnlyCollection<OrtValue> Run(long[] tokens, int batch, int sequence, IReadOnlyList<OrtValue>? past)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(tokens, [batch, sequence]);
        if (KvCache is not { } layout)
        {
            return _session.Run(_runOptions, [LmOnnxExporter.InputName], [value], [_logitsOutput]);
        }
        var empty = new List<OrtValue>();
        try
        {
            if (past is null)
            {
                long[] shape = [batch, layout.Heads, 0, layout.HeadDim];
                for (int i = 0; i < layout.PastNames.Count; i++)
                {
                    empty.Add(OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), shape));
                }
            }
            return _session.Run(_runOptions, [LmOnnxExporter.InputName, .. layout.PastNames], [value, .. past ?? empty],
                [_logitsOutput, .. layout.PresentNames]);
        }
        finally
        {
            empty.ForEach(v => v.Dispose());
        }
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

    /// <summary>Null when the file takes only the tokens; otherwise the layout its model card's sizes imply, which its
    /// past inputs and present outputs must match exactly (names, float32, [batch, heads, length, head_dim]).</summary>
    private static LmKvCacheLayout? ReadKvLayout(string path, InferenceSession session, JsonObject card)
    {
        var extraInputs = session.InputMetadata.Keys.Where(k => k != LmOnnxExporter.InputName).ToList();
        var presentOutputs = session.OutputMetadata.Keys.Where(k => k.StartsWith("present", StringComparison.Ordinal)).ToList();
        if (extraInputs.Count == 0 && presentOutputs.Count == 0)
        {
            return null;
        }
        LmKvCacheLayout layout;
        try
        {
            var model = card["model"]!.AsObject();
            int layers = model["layers"]!.GetValue<int>(), heads = model["heads"]!.GetValue<int>(), d = model["d_model"]!.GetValue<int>();
            if (layers < 1 || heads < 1 || d % heads != 0)
                throw new FormatException($"layers {layers}, heads {heads}, d_model {d}");
            layout = new LmKvCacheLayout(layers, heads, d / heads);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidInputException($"{path}: KV-cache layout mismatch: the file has past/present tensors but its model card lacks valid model.layers, heads and d_model: {e.Message}", e);
        }
        string expected = $"[batch, {layout.Heads}, length, {layout.HeadDim}] float32";
        Check("input", extraInputs, layout.PastNames, session.InputMetadata);
        Check("output", presentOutputs, layout.PresentNames, session.OutputMetadata);
        return layout;

        void Check(string what, List<string> actual, IReadOnlyList<string> wanted, IReadOnlyDictionary<string, NodeMetadata> metadata)
        {
            var missing = wanted.Except(actual).ToList();
            var unexpected = actual.Except(wanted).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
            {
                throw new InvalidInputException(
                    $"{path}: KV-cache layout mismatch: the model card's {layout.Layers} layers need {what}s {string.Join(", ", wanted)}" +
                    (missing.Count > 0 ? $"; missing: {string.Join(", ", missing)}" : "") +
                    (unexpected.Count > 0 ? $"; unexpected: {string.Join(", ", unexpected)}" : ""));
            }
            foreach (var name in wanted)
            {
                var m = metadata[name];
                var dims = m.Dimensions;
                if (m.ElementDataType != TensorElementType.Float || dims.Length != 4 || dims[1] != layout.Heads || dims[3] != layout.HeadDim)
                {
                    throw new InvalidInputException(
                        $"{path}: KV-cache layout mismatch: {what} '{name}' is [{string.Join(", ", dims.Select(x => x < 0 ? "?" : x.ToString(System.Globalization.CultureInfo.InvariantCulture)))}] {m.ElementDataType}, expected {expected}");
                }
            }
        }
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

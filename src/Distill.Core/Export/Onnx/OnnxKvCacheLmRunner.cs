using System.Text.Json.Nodes;
using Distill.Core.Text;
using Microsoft.ML.OnnxRuntime;

namespace Distill.Core.Export.Onnx;

/// <summary>A KV-cache language-model file (<see cref="OnnxLmRunner.KvCache"/>) with one cached sequence: each
/// <see cref="Append"/> feeds the previous run's present keys and values back as the past, so a new token costs one
/// position. The present tensors stay in ONNX Runtime's buffers between runs (no copy).</summary>
public sealed class OnnxKvCacheLmRunner : ILanguageModelFile, IKvCacheModel
{
    private readonly OnnxLmRunner _runner;
    private IDisposableReadOnlyCollection<OrtValue>? _last;

    public OnnxKvCacheLmRunner(OnnxLmRunner runner)
    {
        ArgumentNullException.ThrowIfNull(runner);
        if (runner.KvCache is null)
            throw new ArgumentException($"{runner.Path} has no past key/value inputs", nameof(runner));
        _runner = runner;
    }

    public LmKvCacheLayout Layout => _runner.KvCache!;

    public string Path => _runner.Path;

    public ITokenizer Tokenizer => _runner.Tokenizer;

    public JsonObject Card => _runner.Card;

    public int Context => _runner.Context;

    public int VocabSize => _runner.VocabSize;

    public int CachedTokens { get; private set; }

    public void ResetCache()
    {
        _last?.Dispose();
        _last = null;
        CachedTokens = 0;
    }

    public float[] Append(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count < 1 || CachedTokens + tokens.Count > Context)
        {
            throw new ArgumentException(
                $"{tokens.Count} new tokens after {CachedTokens} cached ones: between 1 and {Context - CachedTokens} fit in the context of {Context}", nameof(tokens));
        }
        var ids = new long[tokens.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = tokens[i];
        }
        var outputs = _runner.Run(ids, 1, ids.Length, _last is null ? null : [.. _last.Skip(1)]);
        _last?.Dispose();
        _last = outputs;
        CachedTokens += tokens.Count;
        var logits = outputs[0].GetTensorDataAsSpan<float>();
        if (logits.Length != ids.Length * VocabSize)
        {
            throw new InvalidInputException($"{Path}: the logits output gave {logits.Length} values for {ids.Length} tokens, not [1, {ids.Length}, {VocabSize}]");
        }
        return logits[^VocabSize..].ToArray();
    }

    public float[] NextTokenLogits(IReadOnlyList<int> window) => _runner.NextTokenLogits(window);

    public float[][] PositionLogits(IReadOnlyList<int> window, int count) => _runner.PositionLogits(window, count);

    public LmFileComparison Compare(TokenWindows windows, ITokenizer tokenizer, int batchSize, TransformerLm? reference = null) =>
        _runner.Compare(windows, tokenizer, batchSize, reference);

    public void Dispose()
    {
        ResetCache();
        _runner.Dispose();
    }
}

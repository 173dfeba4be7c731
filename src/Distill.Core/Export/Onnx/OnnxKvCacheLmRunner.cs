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
    // The past of the next run (null: empty) and what owns its buffers: a run's outputs, or copies after Truncate.
    private IReadOnlyList<OrtValue>? _past;
    private IDisposable? _owner;

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

    public object? CacheOwner { get; set; }

    public int CachedTokens { get; private set; }

    public void ResetCache() => Replace(null, null, 0);

    /// <summary>Copies the first <paramref name="tokens"/> positions of every past tensor [1, heads, length, head_dim].</summary>
    public void Truncate(int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tokens, CachedTokens);
        if (tokens == CachedTokens)
        {
            return;
        }
        if (tokens == 0 || _past is null)
        {
            ResetCache();
            return;
        }
        int heads = Layout.Heads, headDim = Layout.HeadDim, length = CachedTokens;
        var copies = new List<OrtValue>(_past.Count);
        foreach (var value in _past)
        {
            var source = value.GetTensorDataAsSpan<float>();
            var kept = new float[heads * tokens * headDim];
            for (int h = 0; h < heads; h++)
            {
                source.Slice(h * length * headDim, tokens * headDim).CopyTo(kept.AsSpan(h * tokens * headDim));
            }
            copies.Add(OrtValue.CreateTensorValueFromMemory(kept, [1, heads, tokens, headDim]));
        }
        Replace(copies, new Values(copies), tokens);
    }

    public float[][] Append(IReadOnlyList<int> tokens, int count)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count < 1 || CachedTokens + tokens.Count > Context)
        {
            throw new ArgumentException(
                $"{tokens.Count} new tokens after {CachedTokens} cached ones: between 1 and {Context - CachedTokens} fit in the context of {Context}", nameof(tokens));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, tokens.Count);
        var ids = new long[tokens.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = tokens[i];
        }
        var outputs = _runner.Run(ids, 1, ids.Length, _past);
        Replace([.. outputs.Skip(1)], outputs, CachedTokens + ids.Length);
        var logits = outputs[0].GetTensorDataAsSpan<float>();
        if (logits.Length != ids.Length * VocabSize)
        {
            throw new InvalidInputException($"{Path}: the logits output gave {logits.Length} values for {ids.Length} tokens, not [1, {ids.Length}, {VocabSize}]");
        }
        var result = new float[count][];
        for (int j = 0; j < count; j++)
        {
            result[j] = logits.Slice((ids.Length - count + j) * VocabSize, VocabSize).ToArray();
        }
        return result;
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

    private void Replace(IReadOnlyList<OrtValue>? past, IDisposable? owner, int tokens)
    {
        _owner?.Dispose();
        _past = past;
        _owner = owner;
        CachedTokens = tokens;
    }

    private sealed class Values(List<OrtValue> values) : IDisposable
    {
        public void Dispose() => values.ForEach(v => v.Dispose());
    }
}

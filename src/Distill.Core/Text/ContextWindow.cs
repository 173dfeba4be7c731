namespace Distill.Core.Text;

/// <summary>What generation does once the text no longer fits in the model's context (learned absolute positions:
/// the model reads at most Context tokens, at positions 0 …).</summary>
public enum ContextOverflow
{
    /// <summary>The window slides by one token per step: every token is predicted from the last Context tokens. Past
    /// the context a KV cache cannot help (every position of the window changes), so each step reruns the window.</summary>
    Slide,

    /// <summary>When the window is full, it restarts from the last half of the context (Context / 2 tokens) and grows
    /// again: tokens are predicted from between Context / 2 and Context tokens, and a KV cache is reused between
    /// restarts (one pass over Context / 2 tokens per Context / 2 new tokens).</summary>
    Restart,
}

/// <summary>The logits of the next token after a growing text, each from the window <see cref="ContextOverflow"/>
/// gives it; with an <see cref="IKvCacheModel"/>, the cache is extended while the window only grows and rebuilt when
/// it moves. The same windows with or without a cache, so a cached file and a full-recompute one give the same
/// tokens.</summary>
public sealed class ContextWindow(INextTokenModel model, ContextOverflow overflow)
{
    private int _start;
    private int _cachedStart = -1;
    private int _cachedEnd;

    /// <summary>Tokens kept when a <see cref="ContextOverflow.Restart"/> window restarts.</summary>
    public static int RestartTokens(int context) => Math.Max(1, context / 2);

    /// <summary>Logits [VocabSize] of the token after <paramref name="tokens"/> (non-empty, growing by appends between
    /// calls).</summary>
    public float[] Next(List<int> tokens)
    {
        int n = tokens.Count;
        int context = model.Context;
        if (n < _start || n - _start > context)
        {
            _start = overflow == ContextOverflow.Slide ? Math.Max(0, n - context) : Math.Max(0, n - RestartTokens(context));
        }
        if (model is not IKvCacheModel cached)
        {
            return model.NextTokenLogits(tokens.GetRange(_start, n - _start));
        }
        bool extends = _cachedStart == _start && cached.CachedTokens == _cachedEnd - _start && _cachedEnd < n;
        if (!extends)
        {
            cached.ResetCache();
            _cachedStart = _start;
            _cachedEnd = _start;
        }
        var logits = cached.Append(tokens.GetRange(_cachedEnd, n - _cachedEnd));
        _cachedEnd = n;
        return logits;
    }
}

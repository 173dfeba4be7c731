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

/// <summary>The next-token logits after a text, each from the window <see cref="ContextOverflow"/> gives it. With an
/// <see cref="IKvCacheModel"/>, the cache keeps the longest run of window tokens it already holds (cut back to where
/// the text differs, e.g. after a rejected draft token) and runs only the rest; it is rebuilt when the window moves.
/// The windows are the same with or without a cache, so a cached file and a full-recompute one give the same tokens.</summary>
public sealed class ContextWindow(INextTokenModel model, ContextOverflow overflow)
{
    private readonly List<int> _cached = [];
    private int _start;
    private int _cachedStart = -1;

    /// <summary>Tokens kept when a <see cref="ContextOverflow.Restart"/> window restarts.</summary>
    public static int RestartTokens(int context) => Math.Max(1, context / 2);

    /// <summary>Logits [VocabSize] of the token after <paramref name="tokens"/> (non-empty). A
    /// <see cref="ContextOverflow.Restart"/> window remembers where it restarted: give it one growing text.</summary>
    public float[] Next(IReadOnlyList<int> tokens) => Logits(tokens, 1)[0];

    /// <summary>In one pass, the logits after each of the last <paramref name="count"/> prefixes of
    /// <paramref name="tokens"/>, shortest first, all read in the window of the whole text (so they are each prefix's
    /// own logits only while that window starts at token 0, i.e. the text fits in the context).</summary>
    public float[][] Logits(IReadOnlyList<int> tokens, int count)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        int n = tokens.Count;
        int context = model.Context;
        if (overflow == ContextOverflow.Slide)
        {
            _start = Math.Max(0, n - context);
        }
        else if (n < _start || n - _start > context)
        {
            _start = Math.Max(0, n - RestartTokens(context));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, n - _start);
        if (model is not IKvCacheModel cached)
        {
            return model.PositionLogits(Range(tokens, _start, n), count);
        }
        int keep = 0;
        if (ReferenceEquals(cached.CacheOwner, this) && _cachedStart == _start && cached.CachedTokens == _cached.Count)
        {
            while (keep < _cached.Count && _start + keep < n && _cached[keep] == tokens[_start + keep])
            {
                keep++;
            }
        }
        // The last count positions must run to give their logits.
        keep = Math.Min(keep, n - _start - count);
        if (keep == 0)
        {
            cached.ResetCache();
        }
        else if (keep < cached.CachedTokens)
        {
            cached.Truncate(keep);
        }
        cached.CacheOwner = this;
        _cachedStart = _start;
        _cached.RemoveRange(keep, _cached.Count - keep);
        var fresh = Range(tokens, _start + keep, n);
        var logits = cached.Append(fresh, count);
        _cached.AddRange(fresh);
        return logits;
    }

    private static List<int> Range(IReadOnlyList<int> tokens, int from, int to)
    {
        var range = new List<int>(to - from);
        for (int i = from; i < to; i++)
        {
            range.Add(tokens[i]);
        }
        return range;
    }
}

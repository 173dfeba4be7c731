namespace Distill.Core.Text;

/// <summary>A language model that keeps the keys and values of the tokens it has seen (a KV cache), so that the next
/// token costs one position instead of a pass over the whole window. The cache holds one sequence whose first token
/// has position 0; <see cref="ContextWindow"/> decides when it is extended, cut back or restarted. Its
/// <see cref="INextTokenModel"/> methods work on an empty cache and leave the cached sequence alone.</summary>
public interface IKvCacheModel : INextTokenModel
{
    /// <summary>Who filled the cache last (a <see cref="ContextWindow"/>): a window that finds another owner there
    /// (two windows on one model, e.g. a model drafting for itself) starts the cache again rather than trust it.</summary>
    object? CacheOwner { get; set; }

    /// <summary>Tokens in the cache (0 after <see cref="ResetCache"/>).</summary>
    int CachedTokens { get; }

    /// <summary>Empties the cache.</summary>
    void ResetCache();

    /// <summary>Keeps the first <paramref name="tokens"/> cached tokens (0 ≤ tokens ≤ CachedTokens) and drops the rest,
    /// e.g. draft tokens the model did not accept.</summary>
    void Truncate(int tokens);

    /// <summary>Runs <paramref name="tokens"/> after the cached ones (positions CachedTokens …), adds them to the cache
    /// and returns the logits [VocabSize] after each of the last <paramref name="count"/> of them, shortest prefix
    /// first (1 ≤ count ≤ tokens). CachedTokens + tokens must not exceed Context.</summary>
    float[][] Append(IReadOnlyList<int> tokens, int count);
}

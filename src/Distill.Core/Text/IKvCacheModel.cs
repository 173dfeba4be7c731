namespace Distill.Core.Text;

/// <summary>A language model that keeps the keys and values of the tokens it has seen (a KV cache), so that the next
/// token costs one position instead of a pass over the whole window. The cache holds one sequence whose first token
/// has position 0; <see cref="TextGenerator"/> restarts it whenever the window it wants does not extend the cached one.
/// Its <see cref="INextTokenModel"/> methods work on an empty cache and leave the cached sequence alone.</summary>
public interface IKvCacheModel : INextTokenModel
{
    /// <summary>Tokens in the cache (0 after <see cref="ResetCache"/>).</summary>
    int CachedTokens { get; }

    /// <summary>Empties the cache.</summary>
    void ResetCache();

    /// <summary>Runs <paramref name="tokens"/> after the cached ones (positions CachedTokens …), adds them to the cache
    /// and returns the logits [VocabSize] after the last of them. CachedTokens + count must not exceed Context.</summary>
    float[] Append(IReadOnlyList<int> tokens);
}

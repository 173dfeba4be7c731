namespace Distill.Core.Text;

/// <summary>Greedy generation speed of a model with a full context window.</summary>
/// <param name="Tokens">Timed new tokens (after the warm-up ones).</param>
/// <param name="Window">Tokens the model sees at every timed step (its context).</param>
public sealed record LmThroughputResult(double TokensPerSecond, int Tokens, int Window, int Threads, string Note);

public static class LmThroughput
{
    /// <summary>Generates <paramref name="warmup"/> untimed then <paramref name="tokens"/> timed greedy tokens after
    /// <paramref name="prompt"/> (at least the model's context long, so every step runs a full window: the steady
    /// state of long generations without past key/values).</summary>
    public static LmThroughputResult Measure(INextTokenModel model, ITokenizer tokenizer, int[] prompt, int tokens, int warmup, int threads)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        var start = prompt.Length > model.Context ? prompt[^model.Context..] : prompt;
        var generator = new TextGenerator(model, tokenizer);
        var (warm, _) = generator.GenerateTokens(start, new GenerationOptions { MaxTokens = warmup, Temperature = 0 });
        int[] context = [.. start, .. warm];
        var (_, elapsed) = generator.GenerateTokens(context[^Math.Min(context.Length, model.Context)..], new GenerationOptions { MaxTokens = tokens, Temperature = 0 });
        double seconds = elapsed.TotalSeconds;
        return new LmThroughputResult(seconds > 0 ? tokens / seconds : 0, tokens, Math.Min(context.Length, model.Context), threads,
            $"greedy decoding, {tokens} tokens after {warmup} warm-up tokens, a {Math.Min(context.Length, model.Context)}-token window per step ({(model is IKvCacheModel ? "KV-cache file, but the window slides past the context, so each step reruns it" : "no past key/values")}), batch 1, {threads} intra-op thread(s)");
    }
}

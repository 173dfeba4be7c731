using System.Diagnostics;

namespace Distill.Core.Text;

/// <summary>How to pick each next token.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 200;

    /// <summary>0 = greedy (argmax); otherwise logits are divided by it before sampling.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Sample only among the K most likely tokens; 0 = all.</summary>
    public int TopK { get; init; }

    /// <summary>Seeds the sampler (System.Random): same model, prompt and options give the same text.</summary>
    public int Seed { get; init; }

    /// <summary>Which window each token is predicted from once the text outgrows the model's context.</summary>
    public ContextOverflow Overflow { get; init; } = ContextOverflow.Slide;
}

/// <param name="TokensPerSecond">New tokens divided by the wall time of the generation loop (model calls and
/// sampling, after the prompt is encoded).</param>
/// <param name="Speculation">With a draft model: what speculative decoding proposed and kept; null without one.</param>
public sealed record GenerationResult(string Text, int[] Tokens, int PromptTokens, TimeSpan Elapsed, double TokensPerSecond,
    SpeculationStats? Speculation = null);

/// <summary>Autoregressive text generation with a <see cref="TransformerLm"/> or any <see cref="INextTokenModel"/>
/// (e.g. an ONNX file in ONNX Runtime). The model sees at most its context: past that, the oldest tokens slide out of
/// the window (<see cref="GenerationOptions.Overflow"/>). A model with a KV cache (<see cref="IKvCacheModel"/>) runs
/// one position per token while the window only grows. With a <see cref="Draft"/>, tokens come from <see cref="SpeculativeDecoding"/>: the same text when
/// greedy, the same distribution when sampling, in fewer passes of the model.</summary>
public sealed class TextGenerator(INextTokenModel model, ITokenizer tokenizer)
{
    /// <summary>A draft model for speculative decoding; it must share the model's vocabulary.</summary>
    public SpeculativeDraft? Draft { get; init; }

    public TextGenerator(TransformerLm model, ITokenizer tokenizer)
        : this(new TorchNextTokenModel(model), tokenizer)
    {
    }

    /// <summary>Generates after <paramref name="prompt"/>; <paramref name="onText"/> receives the new text piece by
    /// piece as it becomes decodable (a byte token that ends inside a UTF-8 character waits for the rest).</summary>
    public GenerationResult Generate(string prompt, GenerationOptions options, Action<string>? onText = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var promptTokens = tokenizer.Encode(prompt, "prompt");
        var generated = new List<int>();
        int emitted = 0;
        var (tokens, elapsed, speculation) = Run(promptTokens, options, token =>
        {
            generated.Add(token);
            if (onText is null)
            {
                return;
            }
            string text = tokenizer.Decode(generated);
            int stable = text.Length;
            if (tokenizer is ByteTokenizer && stable > 0 && text[^1] == '\uFFFD')
            {
                stable--;
            }
            if (stable > emitted)
            {
                onText(text[emitted..stable]);
                emitted = stable;
            }
        });
        string all = tokenizer.Decode(generated);
        if (onText is not null && all.Length > emitted)
        {
            onText(all[emitted..]);
        }
        double seconds = elapsed.TotalSeconds;
        return new GenerationResult(all, tokens, promptTokens.Length, elapsed, seconds > 0 ? generated.Count / seconds : 0, speculation);
    }

    /// <summary>The new tokens after <paramref name="prompt"/> and the time the loop took.</summary>
    public (int[] Tokens, TimeSpan Elapsed) GenerateTokens(int[] prompt, GenerationOptions options, Action<int>? onToken = null)
    {
        var (tokens, elapsed, _) = Run(prompt, options, onToken);
        return (tokens, elapsed);
    }

    private (int[] Tokens, TimeSpan Elapsed, SpeculationStats? Speculation) Run(int[] prompt, GenerationOptions options, Action<int>? onToken)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        Validate(prompt, options);
        var random = new Random(options.Seed);
        if (Draft is { } draft)
        {
            var clock = Stopwatch.StartNew();
            var (speculated, stats) = new SpeculativeDecoding(model, draft).Generate(prompt, options, random, onToken);
            clock.Stop();
            return (speculated, clock.Elapsed, stats);
        }
        var context = new List<int>(prompt);
        var generated = new int[options.MaxTokens];
        var windows = new ContextWindow(model, options.Overflow);
        var watch = Stopwatch.StartNew();
        for (int step = 0; step < options.MaxTokens; step++)
        {
            var last = windows.Next(context);
            int next = Pick(last, options, random);
            generated[step] = next;
            context.Add(next);
            onToken?.Invoke(next);
        }
        watch.Stop();
        return (generated, watch.Elapsed, null);
    }

    /// <summary>Argmax when the temperature is 0 (first index on ties); otherwise a draw from
    /// softmax(logits / T) restricted to the top K.</summary>
    internal static int Pick(float[] logits, GenerationOptions options, Random random)
    {
        if (options.Temperature == 0)
        {
            return Argmax(logits);
        }
        var chosen = Candidates(logits, options.TopK);
        double max = chosen.Max(i => (double)logits[i]);
        var weights = chosen.Select(i => Math.Exp((logits[i] - max) / options.Temperature)).ToArray();
        double u = random.NextDouble() * weights.Sum();
        for (int j = 0; j < chosen.Length; j++)
        {
            u -= weights[j];
            if (u < 0)
            {
                return chosen[j];
            }
        }
        return chosen[^1];
    }

    /// <summary>The tokens sampling draws from: all in index order, or the top K by logit (ties by index).</summary>
    internal static int[] Candidates(float[] logits, int topK)
    {
        var candidates = Enumerable.Range(0, logits.Length);
        if (topK > 0 && topK < logits.Length)
        {
            candidates = candidates.OrderByDescending(i => logits[i]).ThenBy(i => i).Take(topK);
        }
        return [.. candidates];
    }

    /// <summary>First index of the largest logit.</summary>
    internal static int Argmax(float[] logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }
        return best;
    }

    private void Validate(int[] prompt, GenerationOptions options)
    {
        if (prompt.Length == 0)
        {
            throw new InvalidInputException("prompt: the prompt is empty; give at least one character.");
        }
        if (prompt.Length > model.Context)
        {
            throw new InvalidInputException(
                $"prompt: {prompt.Length} tokens is longer than the model's context of {model.Context} tokens.");
        }
        if (options.MaxTokens < 0)
        {
            throw new InvalidInputException($"max tokens must not be negative, got {options.MaxTokens}.");
        }
        if (options.Temperature < 0 || double.IsNaN(options.Temperature))
        {
            throw new InvalidInputException($"temperature must be 0 (greedy) or positive, got {options.Temperature}.");
        }
        if (options.TopK < 0)
        {
            throw new InvalidInputException($"top-k must be 0 (all tokens) or positive, got {options.TopK}.");
        }
        if (prompt.Any(t => t < 0 || t >= model.VocabSize))
        {
            throw new InvalidInputException($"prompt: a token is outside the model's vocabulary of {model.VocabSize}.");
        }
        if (Draft is { } draft)
        {
            if (options.Overflow != ContextOverflow.Slide)
            {
                throw new InvalidInputException(
                    $"speculative decoding (a draft) slides the window past the context; overflow {options.Overflow.ToString().ToLowerInvariant()} is for plain generation.");
            }
            if (draft.Tokens < 1)
            {
                throw new InvalidInputException($"draft tokens must be at least 1, got {draft.Tokens}.");
            }
            if (draft.Model.VocabSize != model.VocabSize)
            {
                throw new InvalidInputException(
                    $"draft: its vocabulary has {draft.Model.VocabSize} tokens and the model's {model.VocabSize}: a draft must share the model's tokenizer.");
            }
            if (prompt.Length > draft.Model.Context)
            {
                throw new InvalidInputException(
                    $"prompt: {prompt.Length} tokens is longer than the draft's context of {draft.Model.Context} tokens.");
            }
        }
    }
}

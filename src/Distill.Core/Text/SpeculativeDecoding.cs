namespace Distill.Core.Text;

/// <summary>A small draft model that proposes <see cref="Tokens"/> tokens per step for a larger target model to check.</summary>
public sealed record SpeculativeDraft(INextTokenModel Model, int Tokens);

/// <summary>What speculation did: draft tokens proposed and accepted, and the calls each model made.</summary>
public sealed record SpeculationStats(int Proposed, int Accepted, int TargetCalls, int DraftCalls)
{
    /// <summary>Accepted draft tokens per proposed one (0 when nothing was proposed).</summary>
    public double AcceptanceRate => Proposed > 0 ? (double)Accepted / Proposed : 0;
}

/// <summary>
/// Speculative decoding (Leviathan et al., 2023; Chen et al., 2023): each step the draft proposes up to K tokens one
/// by one, the target scores all of them in one forward pass, the longest agreeing prefix is kept and the target's own
/// token follows it, so every step yields between 1 and K + 1 tokens.
/// <para>Greedy (temperature 0): a draft token is kept while it is the target's argmax, so the text is token for token
/// the target's own greedy text. Sampling: a draft token x drawn from the draft's distribution q is kept with
/// probability min(1, p(x)/q(x)) under the target's distribution p; at the first rejection the next token is drawn from
/// max(0, p − q) renormalised, after K acceptances from p — which makes every token distributed as the target's (both
/// distributions after the same temperature and top-k).</para>
/// <para>The target sees at most its context, as in plain generation: while the text and the draft fit in it, one pass
/// scores the whole draft; past it, each position is scored in its own sliding window (exact, but no faster).</para>
/// <para>Both models read their windows through <see cref="ContextWindow"/>, so a KV-cache file (either one) keeps
/// its cache across steps: the draft runs one position per proposed token, and after a rejection both caches are cut
/// back to the accepted text instead of rerun.</para>
/// </summary>
internal sealed class SpeculativeDecoding(INextTokenModel target, SpeculativeDraft draft)
{
    private readonly ContextWindow _targetWindow = new(target, ContextOverflow.Slide);
    private readonly ContextWindow _draftWindow = new(draft.Model, ContextOverflow.Slide);

    public (int[] Tokens, SpeculationStats Stats) Generate(int[] prompt, GenerationOptions options, Random random, Action<int>? onToken)
    {
        var context = new List<int>(prompt);
        var generated = new List<int>(options.MaxTokens);
        int proposed = 0, accepted = 0, targetCalls = 0, draftCalls = 0;
        bool greedy = options.Temperature == 0;
        void Emit(int token)
        {
            generated.Add(token);
            context.Add(token);
            onToken?.Invoke(token);
        }
        while (generated.Count < options.MaxTokens)
        {
            // At most remaining − 1 draft tokens, so that the target's token after them still fits.
            int k = Math.Min(draft.Tokens, options.MaxTokens - generated.Count - 1);
            var proposal = new int[k];
            var draftDistributions = new double[k][];
            var drafted = new List<int>(context);
            for (int j = 0; j < k; j++)
            {
                var logits = _draftWindow.Next(drafted);
                draftCalls++;
                if (greedy)
                {
                    proposal[j] = TextGenerator.Argmax(logits);
                }
                else
                {
                    draftDistributions[j] = Distribution(logits, options);
                    proposal[j] = Sample(draftDistributions[j], random);
                }
                drafted.Add(proposal[j]);
            }
            var scored = TargetLogits(drafted, context.Count, k + 1, ref targetCalls);
            int kept = 0;
            int next = -1;
            while (kept < k)
            {
                if (greedy)
                {
                    int best = TextGenerator.Argmax(scored[kept]);
                    if (best != proposal[kept])
                    {
                        next = best;
                        break;
                    }
                }
                else
                {
                    var p = Distribution(scored[kept], options);
                    var q = draftDistributions[kept];
                    int x = proposal[kept];
                    if (random.NextDouble() * q[x] >= p[x])
                    {
                        next = Sample(Residual(p, q), random);
                        break;
                    }
                }
                kept++;
            }
            proposed += k;
            accepted += kept;
            for (int j = 0; j < kept; j++)
            {
                Emit(proposal[j]);
            }
            if (next < 0)
            {
                next = greedy ? TextGenerator.Argmax(scored[k]) : Sample(Distribution(scored[k], options), random);
            }
            Emit(next);
        }
        return ([.. generated], new SpeculationStats(proposed, accepted, targetCalls, draftCalls));
    }

    /// <summary>The target's logits after each of the last <paramref name="count"/> prefixes of
    /// <paramref name="tokens"/> (the prefix of length <paramref name="start"/> and the longer ones), each computed on
    /// the window plain generation would give it.</summary>
    private float[][] TargetLogits(List<int> tokens, int start, int count, ref int calls)
    {
        if (tokens.Count <= target.Context)
        {
            calls++;
            return _targetWindow.Logits(tokens, count);
        }
        var logits = new float[count][];
        for (int j = 0; j < count; j++)
        {
            logits[j] = target.NextTokenLogits(Window(tokens, start + j, target.Context));
            calls++;
        }
        return logits;
    }

    /// <summary>The last at most <paramref name="context"/> tokens of the first <paramref name="length"/>.</summary>
    private static List<int> Window(List<int> tokens, int length, int context)
    {
        int size = Math.Min(length, context);
        return tokens.GetRange(length - size, size);
    }

    /// <summary>softmax(logits / T) over the top K tokens (the same tokens <see cref="TextGenerator.Pick"/> samples
    /// among), zero elsewhere.</summary>
    internal static double[] Distribution(float[] logits, GenerationOptions options)
    {
        var indices = TextGenerator.Candidates(logits, options.TopK);
        double max = indices.Max(i => (double)logits[i]);
        var probabilities = new double[logits.Length];
        double sum = 0;
        foreach (int i in indices)
        {
            probabilities[i] = Math.Exp((logits[i] - max) / options.Temperature);
            sum += probabilities[i];
        }
        foreach (int i in indices)
        {
            probabilities[i] /= sum;
        }
        return probabilities;
    }

    /// <summary>max(0, p − q), unnormalised (<see cref="Sample"/> normalises); p itself if that is all zero, which
    /// exact arithmetic rules out after a rejection but rounding might not.</summary>
    private static double[] Residual(double[] p, double[] q)
    {
        var residual = new double[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            residual[i] = Math.Max(0, p[i] - q[i]);
        }
        return residual.Sum() > 0 ? residual : p;
    }

    private static int Sample(double[] weights, Random random)
    {
        double u = random.NextDouble() * weights.Sum();
        int last = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0)
            {
                continue;
            }
            last = i;
            u -= weights[i];
            if (u < 0)
            {
                return i;
            }
        }
        return last;
    }
}

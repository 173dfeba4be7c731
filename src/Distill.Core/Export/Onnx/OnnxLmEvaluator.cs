using Distill.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Export.Onnx;

/// <summary>An ONNX language model's figures on a set of windows, and how far its logits are from a TorchSharp
/// reference over the same windows (when one is given).</summary>
/// <param name="Evaluation">Cross-entropy, bits per byte and perplexity computed from the ONNX logits.</param>
/// <param name="MaxAbsLogitDiff">Largest |ONNX − reference| over every logit; NaN without a reference.</param>
/// <param name="MeanAbsLogitDiff">Mean |ONNX − reference| over every logit; NaN without a reference.</param>
/// <param name="NextTokenAgreement">Fraction of positions whose argmax (greedy next token) is the reference's.</param>
/// <param name="Positions">Positions compared (windows × context).</param>
public sealed record LmFileComparison(LmEvaluation Evaluation, double MaxAbsLogitDiff, double MeanAbsLogitDiff, double NextTokenAgreement, long Positions);

public static class OnnxLmEvaluator
{
    /// <summary>Runs every window through <paramref name="runner"/> (batches of <paramref name="batchSize"/>) and, when
    /// <paramref name="reference"/> is given, through it in eval mode under no_grad (its mode is restored).</summary>
    public static LmFileComparison Evaluate(OnnxLmRunner runner, TokenWindows windows, ITokenizer tokenizer, int batchSize, TransformerLm? reference = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (windows.Count == 0)
        {
            throw new ArgumentException("Cannot evaluate on no windows.", nameof(windows));
        }
        if (tokenizer.VocabSize != runner.VocabSize || windows.Context > runner.Context)
        {
            throw new InvalidInputException(
                $"{runner.Path}: takes {runner.Context} tokens of a {runner.VocabSize}-token vocabulary; the data has windows of {windows.Context} tokens of {tokenizer.VocabSize}");
        }
        bool wasTraining = reference?.training ?? false;
        reference?.eval();
        try
        {
            using var noGrad = no_grad();
            int vocab = runner.VocabSize, context = windows.Context;
            double nats = 0, maxDiff = 0, sumDiff = 0;
            long tokens = 0, bytes = 0, agree = 0;
            for (long start = 0; start < windows.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int length = (int)Math.Min(batchSize, windows.Count - start);
                var (input, target) = windows.Slice(start, length);
                long[] ids = input.contiguous().data<long>().ToArray();
                long[] targets = target.contiguous().data<long>().ToArray();
                float[] logits = runner.Logits(ids, length, context);
                float[]? expected = reference is null
                    ? null
                    : reference.forward(input).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
                for (int p = 0; p < targets.Length; p++)
                {
                    var row = logits.AsSpan(p * vocab, vocab);
                    nats += LogSumExp(row) - row[(int)targets[p]];
                    bytes += tokenizer.ByteLength((int)targets[p]);
                    if (expected is not null)
                    {
                        var want = expected.AsSpan(p * vocab, vocab);
                        for (int v = 0; v < vocab; v++)
                        {
                            double diff = Math.Abs(row[v] - want[v]);
                            maxDiff = Math.Max(maxDiff, diff);
                            sumDiff += diff;
                        }
                        agree += ArgMax(row) == ArgMax(want) ? 1 : 0;
                    }
                }
                tokens += targets.Length;
            }
            double ce = nats / tokens;
            var evaluation = new LmEvaluation(ce, nats / (Math.Log(2) * bytes), Math.Exp(ce), tokens, bytes);
            return reference is null
                ? new LmFileComparison(evaluation, double.NaN, double.NaN, double.NaN, tokens)
                : new LmFileComparison(evaluation, maxDiff, sumDiff / ((double)tokens * vocab), (double)agree / tokens, tokens);
        }
        finally
        {
            if (wasTraining)
            {
                reference!.train();
            }
        }
    }

    /// <summary>First index of the largest value, as greedy decoding picks it.</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    private static double LogSumExp(ReadOnlySpan<float> row)
    {
        double max = double.NegativeInfinity;
        foreach (float v in row)
        {
            max = Math.Max(max, v);
        }
        double sum = 0;
        foreach (float v in row)
        {
            sum += Math.Exp(v - max);
        }
        return max + Math.Log(sum);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Text;

/// <summary>Validation figures of a language model over a set of windows.</summary>
/// <param name="CrossEntropy">Mean next-token cross-entropy, nats per token.</param>
/// <param name="BitsPerByte">Total cross-entropy in bits divided by the UTF-8 bytes the target tokens stand for
/// (byte tokens: CrossEntropy / ln 2; uniform over 256 bytes = 8).</param>
/// <param name="Perplexity">exp(CrossEntropy), per token.</param>
public sealed record LmEvaluation(double CrossEntropy, double BitsPerByte, double Perplexity, long Tokens, long Bytes);

public static class LmEvaluator
{
    /// <summary>Runs <paramref name="model"/> forward only (<see cref="ILmLogitSource.Logits"/>: eval mode, no_grad)
    /// over every window, in batches of <paramref name="batchSize"/>, on the model's device (a TorchSharp model's; an
    /// ONNX file's are fed from CPU memory).</summary>
    /// <param name="cancel">Checked before every batch.</param>
    public static LmEvaluation Evaluate(ILmLogitSource model, TokenWindows windows, ITokenizer tokenizer, int batchSize,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (windows.Count == 0)
        {
            throw new ArgumentException("Cannot evaluate on no windows.", nameof(windows));
        }
        if (tokenizer.VocabSize != model.VocabSize)
        {
            throw new InvalidInputException(
                $"The tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary has {model.VocabSize}.");
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = model is nn.Module module ? ComputeDevice.Of(module) : CPU;
        var byteLengths = tensor(Enumerable.Range(0, tokenizer.VocabSize).Select(t => (long)tokenizer.ByteLength(t)).ToArray(), device: device);
        double nats = 0;
        long tokens = 0, bytes = 0;
        for (long start = 0; start < windows.Count; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            using var batchScope = NewDisposeScope();
            long length = Math.Min(batchSize, windows.Count - start);
            var (input, target) = windows.Slice(start, length);
            input = ComputeDevice.Move(input, device);
            target = ComputeDevice.Move(target, device);
            var logits = model.Logits(input);
            var flatTarget = target.reshape(-1);
            nats += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), flatTarget, reduction: nn.Reduction.Sum)
                .to_type(ScalarType.Float64).item<double>();
            tokens += flatTarget.shape[0];
            bytes += byteLengths.index_select(0, flatTarget).sum().item<long>();
        }
        double ce = nats / tokens;
        return new LmEvaluation(ce, nats / (Math.Log(2) * bytes), Math.Exp(ce), tokens, bytes);
    }
}

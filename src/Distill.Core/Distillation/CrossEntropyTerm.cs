using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Distillation;

/// <summary>Options of the hard-label cross-entropy.</summary>
public sealed record CrossEntropyOptions : ILossTermOptions
{
    /// <summary>ε: the target is (1 − ε) on the label plus ε/C on every class.</summary>
    public double LabelSmoothing { get; init; }

    public void Validate() => CrossEntropyTerm.Entry.Key("label_smoothing").Check("label_smoothing", LabelSmoothing);
}

/// <summary>
/// CE = −Σ_c q_c log softmax(s)_c, averaged over the samples (a classifier's batch) or the B·T next-token positions (a
/// language model's logits [B, T, V] against targets [B, T]), with q the label (or a mixed batch's class probabilities)
/// smoothed by ε. The first term of every
/// loss: the total starts as CE.
/// </summary>
public sealed class CrossEntropyTerm(CrossEntropyOptions options) : ILossTerm
{
    private static readonly CrossEntropyOptions Defaults = new();

    public static LossTermEntry Entry { get; } = LossTermEntry.For<CrossEntropyOptions>(
        "cross_entropy", "hard-label cross-entropy with label_smoothing (transformer-lm: next-token, over all positions)",
        LossNeeds.None,
        [
            LossKey.Option(new("label_smoothing", OptionKind.Number, Defaults.LabelSmoothing, "Label smoothing of the hard-label cross-entropy")
            {
                Range = new(0, Max: 1, MaxExclusive: true),
            }),
        ],
        loss => new CrossEntropyOptions { LabelSmoothing = loss.Number("label_smoothing") },
        (o, _, _) => new CrossEntropyTerm(o));

    public Tensor Compute(LossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var logits = inputs.Student.Logits;
        long classes = logits.shape[^1];
        // Mixed batches (mixup, CutMix) bring class probabilities shaped like the logits; labels have one dimension less.
        var targets = inputs.Targets.is_floating_point() ? inputs.Targets.reshape(-1, classes) : inputs.Targets.reshape(-1);
        return nn.functional.cross_entropy(logits.reshape(-1, classes), targets, label_smoothing: options.LabelSmoothing);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Data;

/// <summary>Mixes the samples of a training batch with those of a random permutation of it, and their labels
/// alike: mixup (Zhang et al., ICLR 2018) blends whole images, x = λ·x_i + (1 − λ)·x_π(i); CutMix (Yun et al.,
/// ICCV 2019) pastes a box of x_π(i) into x_i, with λ then the share of x_i's pixels left. One λ ~ Beta(α, α) per
/// batch; with both on, each batch uses one of them, chosen with probability ½. The targets are class
/// probabilities λ·onehot(y_i) + (1 − λ)·onehot(y_π(i)), which cross-entropy takes as they are; a teacher sees the
/// same mixed images, so distillation matches the teacher's function on them (Beyer et al., CVPR 2022).</summary>
public static class BatchMixer
{
    /// <summary>The mixed batch (images [N,C,H,W], or rows [N, features] for mixup alone) and its targets [N, classes] (float). All draws come from
    /// <paramref name="generator"/>. Results belong to the caller's dispose scope.</summary>
    public static (Tensor Images, Tensor Targets) Mix(Tensor images, Tensor labels, int classes, AugmentOptions options, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!options.Mixes)
            throw new ArgumentException("the options mix nothing (neither mixup nor cutmix)", nameof(options));
        using var scope = NewDisposeScope();
        long n = images.shape[0];
        var permutation = randperm(n, generator: generator);
        var partner = images.index_select(0, permutation);
        bool cutmix = options.CutMixAlpha is not null
            && (options.MixupAlpha is null || rand(1, generator: generator).item<float>() < 0.5f);
        if (cutmix && images.dim() != 4)
            throw new ArgumentException($"CutMix needs images [N,C,H,W], got [{string.Join(",", images.shape)}]", nameof(images));
        double lambda = Beta(cutmix ? options.CutMixAlpha!.Value : options.MixupAlpha!.Value, generator);
        Tensor mixed;
        if (cutmix)
        {
            (mixed, lambda) = PasteBox(images, partner, lambda, generator);
        }
        else
        {
            mixed = images.Times(lambda).Plus(partner.Times(1 - lambda));
        }
        var own = nn.functional.one_hot(labels, classes).to(ScalarType.Float32);
        var other = own.index_select(0, permutation);
        var targets = own.Times(lambda).Plus(other.Times(1 - lambda));
        return (mixed.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope());
    }

    /// <summary>CutMix's box: side ratio √(1 − λ) of each image side, centred at a uniform pixel and clipped to the
    /// image; returns the images with the partner's box pasted in and λ = 1 − (box area / image area), the share
    /// actually kept after clipping.</summary>
    private static (Tensor Mixed, double Lambda) PasteBox(Tensor images, Tensor partner, double lambda, Generator generator)
    {
        long h = images.shape[2], w = images.shape[3];
        double ratio = Math.Sqrt(1 - lambda);
        long boxH = (long)(h * ratio), boxW = (long)(w * ratio);
        long cy = randint(0, h, [1], generator: generator).item<long>();
        long cx = randint(0, w, [1], generator: generator).item<long>();
        long top = Math.Clamp(cy - boxH / 2, 0, h), bottom = Math.Clamp(cy + boxH / 2, 0, h);
        long left = Math.Clamp(cx - boxW / 2, 0, w), right = Math.Clamp(cx + boxW / 2, 0, w);
        var mixed = images.clone();
        if (bottom > top && right > left)
        {
            var rows = TensorIndex.Slice(top, bottom);
            var cols = TensorIndex.Slice(left, right);
            mixed[TensorIndex.Colon, TensorIndex.Colon, rows, cols] = partner[TensorIndex.Colon, TensorIndex.Colon, rows, cols];
        }
        return (mixed, 1 - (double)((bottom - top) * (right - left)) / (h * w));
    }

    /// <summary>One draw of Beta(α, α) from the generator.</summary>
    private static double Beta(double alpha, Generator generator)
    {
        var concentration = tensor(alpha, ScalarType.Float64);
        using var beta = distributions.Beta(concentration, concentration, generator);
        return beta.sample().item<double>();
    }
}

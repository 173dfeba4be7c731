using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Quantization;

/// <summary>Folds an inference-mode batch norm into the convolution before it:
/// BN(conv(x)) = γ·(W∗x + b − μ)/√(σ² + ε) + β = W'∗x + b' with
/// W' = W·γ/√(σ² + ε) (per output channel) and b' = (b − μ)·γ/√(σ² + ε) + β.</summary>
/// <remarks>Works for any conv whose weight has the output channels first: plain, pointwise and
/// depthwise ([C, 1, k, k], one output channel per group). Differentiable in W, b, γ and β (the running
/// statistics are buffers), so QAT can train through the folded weight.</remarks>
public static class BnFolding
{
    /// <summary>Per-output-channel factor γ/√(σ² + ε), from the running statistics.</summary>
    public static Tensor Factor(BatchNorm2d bn)
    {
        ArgumentNullException.ThrowIfNull(bn);
        var variance = RunningStatistics(bn).Variance;
        var std = variance.Plus(bn.eps).sqrt();
        return bn.weight is null ? std.reciprocal() : bn.weight / std;
    }

    /// <summary>The folded weight and bias. Results belong to the caller's dispose scope.</summary>
    public static (Tensor Weight, Tensor Bias) Fold(Tensor convWeight, Tensor? convBias, BatchNorm2d bn)
    {
        ArgumentNullException.ThrowIfNull(convWeight);
        ArgumentNullException.ThrowIfNull(bn);
        if (convWeight.shape[0] != bn.num_features)
        {
            throw new ArgumentException($"the conv has {convWeight.shape[0]} output channels but the batch norm has {bn.num_features} features");
        }
        using var scope = NewDisposeScope();
        var (mean, _) = RunningStatistics(bn);
        var factor = Factor(bn);
        var shape = Enumerable.Repeat(1L, (int)convWeight.dim()).ToArray();
        shape[0] = -1;
        var weight = convWeight * factor.reshape(shape);
        var bias = ((convBias ?? zeros_like(mean)) - mean) * factor;
        if (bn.bias is not null)
        {
            bias = bias.Plus(bn.bias);
        }
        return (weight.MoveToOuterDisposeScope(), bias.MoveToOuterDisposeScope());
    }

    /// <summary>The folded weight and bias of a conv module followed by a batch norm.</summary>
    public static (Tensor Weight, Tensor Bias) Fold(Conv2d conv, BatchNorm2d bn)
    {
        ArgumentNullException.ThrowIfNull(conv);
        return Fold(conv.weight!, conv.bias, bn);
    }

    private static (Tensor Mean, Tensor Variance) RunningStatistics(BatchNorm2d bn) =>
        bn.running_mean is null || bn.running_var is null
            ? throw new ArgumentException("batch norm folding needs running statistics (track_running_stats)")
            : (bn.running_mean, bn.running_var);
}

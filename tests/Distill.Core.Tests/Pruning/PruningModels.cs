using Distill.Core.Models;
using Distill.Core.Tests.Models;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Pruning;

/// <summary>Models and real inputs (optical digits as 1x8x8 images) for the pruning tests.</summary>
internal static class PruningModels
{
    /// <summary>Plain block, depthwise-separable block, plain block without pooling, one hidden head layer.</summary>
    public static readonly ModelSpec Cnn = new()
    {
        Arch = ModelArch.Cnn,
        Channels = [8, 16, 12],
        Depthwise = [false, true, false],
        Pool = [true, true, false],
        Hidden = [20],
    };

    public static readonly ModelSpec Mlp = new() { Arch = ModelArch.Mlp, Hidden = [32, 32] };

    private static readonly Lazy<(float[] Features, long[] Labels)> Digits = new(DigitsData.Load);

    /// <summary>The first <paramref name="count"/> digits, standardised, as [count, 1, 8, 8] (or [count, 64]).</summary>
    public static (Tensor X, Tensor Y) Batch(int count, bool image)
    {
        var (features, labels) = Digits.Value;
        var x = tensor(features.AsSpan(0, count * 64).ToArray(), image ? [count, 1, 8, 8] : [count, 64]);
        x = x.sub(x.mean()).div(x.std());
        return (x, tensor(labels.AsSpan(0, count).ToArray()));
    }

    public static ZooModel BuildCnn(int seed)
    {
        manual_seed(seed);
        var model = ModelZoo.Build(Cnn, [1, 8, 8], 10);
        RandomizeBatchNorm(model);
        return model;
    }

    /// <summary>Fresh batch-norm layers are the identity in eval mode; random statistics make the
    /// shrink-equivalence test see them.</summary>
    private static void RandomizeBatchNorm(ZooModel model)
    {
        using var noGrad = no_grad();
        foreach (var (name, buffer) in model.named_buffers())
        {
            if (name.EndsWith("running_mean", StringComparison.Ordinal))
                buffer.copy_(randn_like(buffer).mul(0.3));
            else if (name.EndsWith("running_var", StringComparison.Ordinal))
                buffer.copy_(rand_like(buffer).add(0.5));
        }
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.Contains("bn.", StringComparison.Ordinal))
                parameter.copy_(randn_like(parameter).mul(0.5).add(name.EndsWith("weight", StringComparison.Ordinal) ? 1 : 0));
        }
    }

    public static Tensor Parameter(ZooModel model, string name) =>
        model.named_parameters().Single(p => p.name == name).parameter;
}

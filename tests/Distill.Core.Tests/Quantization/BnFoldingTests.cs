using Distill.Core.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Quantization;

public class BnFoldingTests
{
    [Theory]
    [InlineData(3, 8, 3, 1, true)]
    [InlineData(3, 8, 3, 1, false)]
    [InlineData(6, 6, 3, 6, false)]
    [InlineData(5, 5, 5, 5, true)]
    [InlineData(6, 12, 1, 1, false)]
    public void FoldedConvEqualsConvThenBatchNormWithin1e5(long inChannels, long outChannels, int kernel, long groups, bool bias)
    {
        torch.manual_seed(31 + (int)groups + kernel);
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(inChannels, outChannels, kernel, padding: kernel / 2, groups: groups, bias: bias);
        using var bn = nn.BatchNorm2d(outChannels);
        RandomiseStatistics(bn);
        bn.eval();
        var x = randn(4, inChannels, 9, 9);

        using var noGrad = no_grad();
        var expected = bn.call(conv.call(x));
        var (weight, foldedBias) = BnFolding.Fold(conv, bn);
        var actual = nn.functional.conv2d(x, weight, foldedBias, conv.stride, conv.padding, conv.dilation, groups);

        Assert.Equal(conv.weight!.shape, weight.shape);
        Assert.Equal([outChannels], foldedBias.shape);
        float maxError = (actual - expected).abs().max().item<float>();
        Assert.True(maxError < 1e-5f, $"max |folded − conv+bn| = {maxError}");
        Assert.True(expected.abs().max().item<float>() > 1f, "the check needs outputs of a meaningful size");
    }

    [Fact]
    public void FoldingIsDifferentiableInWeightsAndAffineParameters()
    {
        torch.manual_seed(37);
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(2, 4, 3, bias: false);
        using var bn = nn.BatchNorm2d(4);
        RandomiseStatistics(bn);
        var x = randn(2, 2, 5, 5);
        var (weight, bias) = BnFolding.Fold(conv, bn);
        nn.functional.conv2d(x, weight, bias).sum().backward();
        Assert.NotNull(conv.weight!.grad);
        Assert.NotNull(bn.weight!.grad);
        Assert.NotNull(bn.bias!.grad);
        Assert.True(conv.weight.grad!.abs().sum().item<float>() > 0);
        Assert.Null(bn.running_mean!.grad);
    }

    [Fact]
    public void MismatchedChannelsAreRejected()
    {
        using var conv = nn.Conv2d(2, 4, 3);
        using var bn = nn.BatchNorm2d(5);
        Assert.Throws<ArgumentException>(() => BnFolding.Fold(conv, bn));
    }

    internal static void RandomiseStatistics(BatchNorm2d bn)
    {
        using var noGrad = no_grad();
        long c = bn.num_features;
        bn.running_mean!.copy_(randn(c) * 0.5f);
        bn.running_var!.copy_(rand(c) * 2f + 0.1f);
        bn.weight!.copy_(randn(c));
        bn.bias!.copy_(randn(c));
    }
}

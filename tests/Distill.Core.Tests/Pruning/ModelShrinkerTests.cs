using Distill.Core.Models;
using Distill.Core.Pruning;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Pruning;

public class ModelShrinkerTests
{
    private static readonly PruneOptions HalfTheChannels = new()
    {
        Method = PruneMethod.Channel,
        Sparsity = 0.5,
        Ranking = PruneRanking.Layer,
        KeepFirstLastDense = false,
    };

    private static MaskSet PruneChannels(ZooModel model, PruneOptions options)
    {
        var masks = new MaskSet();
        new Pruner(model, options, "channels").Update(model, masks, s => s);
        return masks;
    }

    [Fact]
    public void ChannelPruningZeroesWholeChannelsWithTheirBatchNormAndTheNextDepthwiseFilter()
    {
        using var scope = NewDisposeScope();
        using var model = PruningModels.BuildCnn(31);
        using var masks = PruneChannels(model, HalfTheChannels with { Norm = ChannelNorm.L2 });
        var convMask = masks.Get("block0.conv.weight")!;
        var pruned = Enumerable.Range(0, 8).Where(c => convMask[c].sum().item<float>() == 0).ToArray();
        Assert.Equal(4, pruned.Length);
        foreach (var name in new[] { "block0.bn.weight", "block0.bn.bias", "block1.depthwise.weight", "block1.depthwise_bn.weight", "block1.depthwise_bn.bias" })
        {
            var parameter = PruningModels.Parameter(model, name);
            Assert.All(pruned, c => Assert.Equal(0f, parameter[c].abs().sum().item<float>()));
        }

        // The block's output channel is exactly zero, in training mode (batch statistics) and in eval mode
        // (running statistics), and so is the depthwise channel of the next block that reads it.
        var (x, _) = PruningModels.Batch(64, image: true);
        foreach (bool training in new[] { true, false })
        {
            model.train(training);
            var (_, taps) = model.ForwardWithTaps(x, ["block0"]);
            Assert.All(pruned, c => Assert.Equal(0f, taps["block0"][.., c].abs().sum().item<float>()));
            var depthwise = ((nn.Module<Tensor, Tensor>)model.Graph["block1.depthwise"].Module!).call(taps["block0"]);
            var normalised = nn.functional.relu(((nn.Module<Tensor, Tensor>)model.Graph["block1.depthwise_bn"].Module!).call(depthwise));
            Assert.All(pruned, c => Assert.Equal(0f, normalised[.., c].abs().sum().item<float>()));
        }
    }

    [Fact]
    public void ShrunkModelComputesTheSameOutputsWithFewerParameters()
    {
        using var scope = NewDisposeScope();
        using var model = PruningModels.BuildCnn(32);
        using var masks = PruneChannels(model, HalfTheChannels);
        var (x, _) = PruningModels.Batch(200, image: true);
        model.eval();
        var before = model.call(x);

        var (small, smallMasks) = ModelShrinker.Shrink(model, masks);
        using (small)
        using (smallMasks)
        {
            small.eval();
            var after = small.call(x);
            Assert.Equal([4, 8, 6], small.Spec.Channels);
            Assert.Equal([10], small.Spec.Hidden);
            float difference = before.sub(after).abs().max().item<float>();
            Assert.True(difference <= 1e-5f, $"outputs differ by {difference}");

            // Hand count for channels [4, 8, 6], hidden [10] on 1x8x8 (8 → 4 → 2 → 2, features 6·2·2 = 24):
            // block0 conv 1·4·9 + bn 8 = 44; block1 depthwise 4·9 + bn 8, pointwise 4·8 + bn 16 = 92;
            // block2 conv 8·6·9 + bn 12 = 444; head.fc0 24·10 + 10 = 250; head.out 10·10 + 10 = 110.
            Assert.Equal(44 + 92 + 444 + 250 + 110, small.ParameterCount);
            Assert.True(small.ParameterCount < model.ParameterCount / 2.0, $"{small.ParameterCount} of {model.ParameterCount}");
            Assert.DoesNotContain(SparsityReport.Rows(small, smallMasks), r => r.Zeros > 0);
        }
    }

    [Fact]
    public void ShrinkCarriesEarlierUnstructuredZerosIntoTheSmallerModel()
    {
        using var scope = NewDisposeScope();
        using var model = PruningModels.BuildCnn(33);
        using var masks = new MaskSet();
        new Pruner(model, new PruneOptions { Sparsity = 0.6, Layers = [new("head.fc0.weight")] }, "magnitude").Update(model, masks, s => s);
        new Pruner(model, HalfTheChannels, "channels").Update(model, masks, s => s);
        var (x, _) = PruningModels.Batch(100, image: true);
        model.eval();
        var before = model.call(x);
        var (small, smallMasks) = ModelShrinker.Shrink(model, masks);
        using (small)
        using (smallMasks)
        {
            small.eval();
            Assert.True(before.sub(small.call(x)).abs().max().item<float>() <= 1e-5f);
            var weight = PruningModels.Parameter(small, "head.fc0.weight");
            var mask = smallMasks.Get("head.fc0.weight")!;
            Assert.Equal(weight.shape, mask.shape);
            Assert.Equal(0, weight.masked_select(mask.eq(0)).count_nonzero().item<long>());
            Assert.True(mask.eq(0).sum().item<long>() > 0);
        }
    }

    [Fact]
    public void HiddenUnitsOfAnMlpShrinkToo()
    {
        using var scope = NewDisposeScope();
        manual_seed(34);
        using var model = ModelZoo.Build(PruningModels.Mlp, [64], 10);
        using var masks = PruneChannels(model, HalfTheChannels with { Sparsity = 0.25 });
        var (x, _) = PruningModels.Batch(100, image: false);
        model.eval();
        var before = model.call(x);
        var (small, smallMasks) = ModelShrinker.Shrink(model, masks);
        using (small)
        using (smallMasks)
        {
            small.eval();
            Assert.Equal([24, 24], small.Spec.Hidden);
            Assert.Equal(64 * 24 + 24 + 24 * 24 + 24 + 24 * 10 + 10, small.ParameterCount);
            Assert.True(before.sub(small.call(x)).abs().max().item<float>() <= 1e-5f);
        }
    }
}

using Distill.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Distill.Core.Tests.Models;

public class ZooModelTests
{
    private static readonly ModelSpec SmallCnn = new()
    {
        Arch = ModelArch.Cnn,
        Channels = [8, 16],
        Hidden = [32],
        KernelSize = 3,
        BatchNorm = true,
    };

    [Fact]
    public void CnnParameterCountMatchesHandCount()
    {
        using var model = ModelZoo.Build(SmallCnn, [1, 28, 28], 10);
        // block0: conv 1·8·3·3 = 72 (no bias with batch norm) + bn 2·8 = 16                 → 88
        // block1: conv 8·16·3·3 = 1152 + bn 2·16 = 32                                       → 1184
        // 28 → pool → 14 → pool → 7, features = 16·7·7 = 784
        // head.fc0: 784·32 + 32 = 25120; head.out: 32·10 + 10 = 330
        long expected = 88 + 1184 + 25120 + 330;
        Assert.Equal(26722, expected);
        Assert.Equal(expected, model.ParameterCount);
    }

    [Fact]
    public void MlpParameterCountMatchesHandCount()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [32, 16] }, [64], 10);
        // fc0: 64·32 + 32 = 2080; fc1: 32·16 + 16 = 528; out: 16·10 + 10 = 170
        Assert.Equal(2080 + 528 + 170, model.ParameterCount);
    }

    [Fact]
    public void MlpFlattensImageInput()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [20] }, [1, 8, 8], 10);
        Assert.Equal(64 * 20 + 20 + 20 * 10 + 10, model.ParameterCount);
        using var scope = NewDisposeScope();
        var logits = model.forward(randn(5, 1, 8, 8));
        Assert.Equal(new long[] { 5, 10 }, logits.shape);
    }

    [Fact]
    public void DepthwiseSeparableBlockHasFewerParametersThanPlain()
    {
        var depthwiseSpec = SmallCnn with { Depthwise = [false, true] };
        using var plain = ModelZoo.Build(SmallCnn, [1, 28, 28], 10);
        using var separable = ModelZoo.Build(depthwiseSpec, [1, 28, 28], 10);
        // block1 separable: depthwise 8·1·3·3 = 72 + bn 16 + pointwise 8·16·1·1 = 128 + bn 32 = 248 (plain: 1184)
        Assert.Equal(plain.ParameterCount - 1184 + 248, separable.ParameterCount);
        Assert.True(separable.ParameterCount < plain.ParameterCount);
        Assert.Equal(LayerKind.Depthwise, separable.Graph["block1.depthwise"].Kind);
        Assert.Equal(8, separable.Graph["block1.depthwise"].Weight.shape[0]);
    }

    [Fact]
    public void SubmodulesAreRegisteredUnderDescriptiveNames()
    {
        using var model = ModelZoo.Build(SmallCnn with { Depthwise = [false, true], Dropout = 0.25 }, [1, 28, 28], 10);
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        string[] expected =
        [
            "block0.conv.weight", "block0.bn.weight", "block0.bn.bias",
            "block1.depthwise.weight", "block1.depthwise_bn.weight", "block1.depthwise_bn.bias",
            "block1.conv.weight", "block1.bn.weight", "block1.bn.bias",
            "head.fc0.weight", "head.fc0.bias", "head.out.weight", "head.out.bias",
        ];
        Assert.Equal(expected.Order(), names.Order());
        var modules = model.named_modules().Select(m => m.name).ToHashSet();
        Assert.Contains("block0.pool", modules);
        Assert.Contains("head.dropout_in", modules);
        Assert.Contains("block0.bn.running_mean", model.named_buffers().Select(b => b.name));
    }

    [Fact]
    public void OutputAndTapShapesMatchTapShape()
    {
        var spec = SmallCnn with { Channels = [4, 6, 8], Pool = [true, false, true], Hidden = [] };
        using var model = ModelZoo.Build(spec, [3, 20, 20], 5);
        Assert.Equal(["block0", "block1", "block2", "features", "logits"], model.TapNames);
        Assert.Equal(new long[] { 4, 10, 10 }, model.TapShape("block0"));
        Assert.Equal(new long[] { 6, 10, 10 }, model.TapShape("block1"));
        Assert.Equal(new long[] { 8, 5, 5 }, model.TapShape("block2"));
        Assert.Equal(new long[] { 200 }, model.TapShape("features"));

        using var scope = NewDisposeScope();
        var x = randn(7, 3, 20, 20);
        var (logits, taps) = model.ForwardWithTaps(x, model.TapNames.ToArray());
        Assert.Equal(new long[] { 7, 5 }, logits.shape);
        foreach (var tap in model.TapNames)
        {
            Assert.Equal(new long[] { 7 }.Concat(model.TapShape(tap)), taps[tap].shape);
        }
        model.eval();
        var a = model.forward(x);
        var (b, _) = model.ForwardWithTaps(x, ["block1"]);
        Assert.Equal(0.0, (a - b).abs().max().item<float>());
    }

    [Fact]
    public void MlpTapsAreHiddenActivations()
    {
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Mlp, Hidden = [12, 6], Dropout = 0.5 }, [64], 3);
        Assert.Equal(["hidden0", "hidden1", "logits"], model.TapNames);
        using var scope = NewDisposeScope();
        var (logits, taps) = model.ForwardWithTaps(randn(4, 64), ["hidden1", "logits"]);
        Assert.Equal(new long[] { 4, 6 }, taps["hidden1"].shape);
        Assert.True(taps["hidden1"].min().item<float>() >= 0, "hidden taps are taken after the ReLU");
        Assert.Same(logits, taps["logits"]);
        Assert.False(taps.ContainsKey("hidden0"));
    }

    [Fact]
    public void UnknownTapListsValidNames()
    {
        using var model = ModelZoo.Build(SmallCnn, [1, 28, 28], 10);
        var error = Assert.Throws<InvalidInputException>(() => model.TapShape("block7"));
        Assert.Contains("block7", error.Message);
        Assert.Contains("block0, block1, features, logits", error.Message);
        using var scope = NewDisposeScope();
        Assert.Throws<InvalidInputException>(() => model.ForwardWithTaps(randn(1, 1, 28, 28), ["hidden0"]));
    }

    [Fact]
    public void UnbuildableSpecsAreRejected()
    {
        var flat = Assert.Throws<InvalidInputException>(() => ModelZoo.Build(SmallCnn, [64], 10));
        Assert.Contains("[64]", flat.Message);
        // 8 → 4 → 2 → 1 → nothing left to pool in the fourth block
        var tooSmall = Assert.Throws<InvalidInputException>(() => ModelZoo.Build(SmallCnn with { Channels = [4, 4, 4, 4] }, [1, 8, 8], 10));
        Assert.Contains("block 3", tooSmall.Message);
        Assert.Throws<InvalidInputException>(() => ModelZoo.Build(SmallCnn with { Depthwise = [true, false] }, [1, 28, 28], 10));
        Assert.Throws<InvalidInputException>(() => ModelZoo.Build(SmallCnn with { Pool = [true] }, [1, 28, 28], 10));
        Assert.Throws<InvalidInputException>(() => ModelZoo.Build(SmallCnn, [1, 28, 28], 1));
    }

    [Fact]
    public void InitialisationIsDeterministicUnderManualSeed()
    {
        torch.manual_seed(123);
        using var first = ModelZoo.Build(SmallCnn, [1, 28, 28], 10);
        torch.manual_seed(123);
        using var second = ModelZoo.Build(SmallCnn, [1, 28, 28], 10);
        using var scope = NewDisposeScope();
        foreach (var ((name, a), (_, b)) in first.named_parameters().Zip(second.named_parameters()))
        {
            Assert.True(a.data<float>().SequenceEqual(b.data<float>()), $"{name} differs between two builds with the same seed");
        }
    }

    [Fact]
    public void WithoutBatchNormConvsHaveBias()
    {
        using var model = ModelZoo.Build(SmallCnn with { BatchNorm = false, Hidden = [] }, [1, 28, 28], 10);
        // block0: 72 + 8 bias; block1: 1152 + 16 bias; out: 784·10 + 10
        Assert.Equal(80 + 1168 + 7850, model.ParameterCount);
    }
}

public sealed class ZooModelStateDictTests
{
    [Fact]
    public void State_dict_holds_each_tensor_once_under_its_registered_name()
    {
        TorchSharp.torch.manual_seed(1);
        using var model = ModelZoo.Build(new ModelSpec { Arch = ModelArch.Cnn, Channels = [4, 6], Depthwise = [false, true], Hidden = [5], Dropout = 0.1 }, [1, 12, 12], 3);
        var keys = model.state_dict().Keys.Order(StringComparer.Ordinal).ToList();
        Assert.DoesNotContain(keys, k => k.Contains("BackingField", StringComparison.Ordinal));
        Assert.Equal(
            [
                "block0.bn.bias", "block0.bn.num_batches_tracked", "block0.bn.running_mean", "block0.bn.running_var", "block0.bn.weight",
                "block0.conv.weight",
                "block1.bn.bias", "block1.bn.num_batches_tracked", "block1.bn.running_mean", "block1.bn.running_var", "block1.bn.weight",
                "block1.conv.weight",
                "block1.depthwise.weight",
                "block1.depthwise_bn.bias", "block1.depthwise_bn.num_batches_tracked", "block1.depthwise_bn.running_mean", "block1.depthwise_bn.running_var", "block1.depthwise_bn.weight",
                "head.fc0.bias", "head.fc0.weight", "head.out.bias", "head.out.weight",
            ],
            keys);
        Assert.Equal(model.ParameterCount, model.parameters().Sum(p => p.numel()));
    }
}
